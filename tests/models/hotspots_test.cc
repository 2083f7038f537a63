#include "models/hotspots.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>

#include <gtest/gtest.h>

namespace osprey::models {
namespace {

struct WindowView {
  std::vector<std::vector<double>> points;
  std::vector<bool> core;
  std::vector<int> label;
  std::vector<bool> in_hotspot;
};

WindowView View(HotspotDetector& detector) {
  WindowView v;
  detector.ForEachPoint([&](std::span<const double> p, bool core, int label, bool in_hotspot) {
    v.points.emplace_back(p.begin(), p.end());
    v.core.push_back(core);
    v.label.push_back(label);
    v.in_hotspot.push_back(in_hotspot);
  });
  return v;
}

double Dist2(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t d = 0; d < a.size(); ++d) s += (a[d] - b[d]) * (a[d] - b[d]);
  return s;
}

// Exhaustive DBSCAN over the window: checks the detector's core flags, core partition, border
// attachment and reported hot spots.
void CheckAgainstBruteForce(HotspotDetector& detector, const config::HotspotOptions& options,
                            const std::string& context) {
  const std::vector<Hotspot> reported = detector.Evaluate();
  WindowView v = View(detector);
  const size_t n = v.points.size();
  const double r2 = options.scan_radius * options.scan_radius;
  std::vector<std::vector<size_t>> nbrs(n);
  for (size_t a = 0; a < n; ++a) {
    for (size_t b = 0; b < n; ++b) {
      if (a != b && Dist2(v.points[a], v.points[b]) <= r2) nbrs[a].push_back(b);
    }
  }
  std::vector<bool> core(n);
  for (size_t a = 0; a < n; ++a) {
    core[a] = static_cast<int>(nbrs[a].size()) >= options.min_points - 1;
    ASSERT_EQ(core[a], v.core[a]) << context << " point " << a;
  }
  // Core components by flood fill.
  std::vector<int> comp(n, -1);
  int comps = 0;
  for (size_t a = 0; a < n; ++a) {
    if (!core[a] || comp[a] >= 0) continue;
    std::vector<size_t> stack{a};
    comp[a] = comps;
    while (!stack.empty()) {
      size_t p = stack.back();
      stack.pop_back();
      for (size_t q : nbrs[p]) {
        if (core[q] && comp[q] < 0) {
          comp[q] = comps;
          stack.push_back(q);
        }
      }
    }
    ++comps;
  }
  // Same partition of cores (labels may be renumbered).
  std::map<int, int> mine_to_ref, ref_to_mine;
  for (size_t a = 0; a < n; ++a) {
    if (!core[a]) continue;
    ASSERT_GE(v.label[a], 0) << context;
    auto [it1, new1] = mine_to_ref.emplace(v.label[a], comp[a]);
    auto [it2, new2] = ref_to_mine.emplace(comp[a], v.label[a]);
    ASSERT_EQ(it1->second, comp[a]) << context << " core partition differs at " << a;
    ASSERT_EQ(it2->second, v.label[a]) << context << " core partition differs at " << a;
  }
  // Borders: labelled iff within ε of a core, and then of a core of their component.
  for (size_t a = 0; a < n; ++a) {
    if (core[a]) continue;
    bool near_core = false, near_own = false;
    for (size_t q : nbrs[a]) {
      near_core = near_core || core[q];
      near_own = near_own || (core[q] && v.label[q] == v.label[a]);
    }
    ASSERT_EQ(near_core, v.label[a] >= 0) << context << " border " << a;
    if (near_core) ASSERT_TRUE(near_own) << context << " border " << a;
  }
  // Hot spots from the labels.
  std::map<int, Hotspot> by_label;
  for (size_t a = 0; a < n; ++a) {
    if (v.label[a] < 0) continue;
    Hotspot& h = by_label[v.label[a]];
    if (h.count == 0) {
      h.min_values = h.max_values = v.points[a];
    }
    ++h.count;
    for (size_t d = 0; d < v.points[a].size(); ++d) {
      h.min_values[d] = std::min(h.min_values[d], v.points[a][d]);
      h.max_values[d] = std::max(h.max_values[d], v.points[a][d]);
    }
  }
  std::vector<Hotspot> expected;
  for (auto& [label, h] : by_label) {
    if (h.count < options.min_points) continue;
    double volume = 1;
    for (size_t d = 0; d < h.min_values.size(); ++d) {
      volume *= std::max(h.max_values[d] - h.min_values[d], options.scan_radius);
    }
    h.density = h.count / volume;
    expected.push_back(h);
  }
  ASSERT_EQ(expected.size(), reported.size()) << context;
  auto order = [](const Hotspot& a, const Hotspot& b) {
    return std::tie(a.count, a.min_values) < std::tie(b.count, b.min_values);
  };
  std::sort(expected.begin(), expected.end(), order);
  std::vector<Hotspot> got = reported;
  for (size_t idx = 1; idx < got.size(); ++idx) ASSERT_GE(got[idx - 1].density, got[idx].density);
  std::sort(got.begin(), got.end(), order);
  for (size_t idx = 0; idx < got.size(); ++idx) {
    EXPECT_EQ(got[idx].count, expected[idx].count) << context;
    EXPECT_EQ(got[idx].min_values, expected[idx].min_values) << context;
    EXPECT_EQ(got[idx].max_values, expected[idx].max_values) << context;
    EXPECT_DOUBLE_EQ(got[idx].density, expected[idx].density) << context;
  }
}

TEST(HotspotDetectorTest, MatchesBruteForceOnRandomStreams) {
  for (int dims = 1; dims <= 4; ++dims) {
    const uint64_t seed = 4242 + dims;
    std::mt19937_64 rng(seed);
    config::HotspotOptions options;
    options.window_size = 120;
    options.scan_radius = 1.0;
    options.min_points = 4;
    HotspotDetector detector(options, dims);
    // Clumpy data: a few moving centres plus noise, so cores appear and vanish.
    std::uniform_real_distribution<double> noise(0, 8);
    std::normal_distribution<double> clump(0, 0.6);
    std::vector<double> p(dims);
    for (int step = 0; step < 600; ++step) {
      int centre = static_cast<int>(rng() % 3);
      bool is_noise = rng() % 3 == 0;
      for (int d = 0; d < dims; ++d) {
        p[d] = is_noise ? noise(rng) : 2.0 + 2.0 * centre + (step / 200) + clump(rng);
      }
      detector.Add(p);
      if (step % 7 == 0 || step > 580) {
        CheckAgainstBruteForce(detector, options,
                               "dims=" + std::to_string(dims) + " seed=" + std::to_string(seed) +
                                   " step=" + std::to_string(step));
        if (::testing::Test::HasFatalFailure()) return;
      }
    }
  }
}

// Every step, over parameters where cores appear, vanish, merge and split all the time (small
// min_points, drifting clumps, a window of several clumps): the incremental components must equal
// exhaustive DBSCAN, alerts must follow the previous evaluation's hot spots, and a detector
// restored from a snapshot must report the same hot spots (the clustering depends only on the
// window).
TEST(HotspotDetectorTest, MatchesBruteForceEveryStep) {
  int64_t splits = 0;
  for (int dims = 1; dims <= 4; ++dims) {
    for (int min_points : {2, 3, 6}) {
      const uint64_t seed = 99 * dims + min_points;
      std::mt19937_64 rng(seed);
      config::HotspotOptions options;
      options.window_size = 150;
      options.scan_radius = 1.0;
      options.min_points = min_points;
      options.alert_density = 0.8;
      HotspotDetector detector(options, dims);
      std::uniform_real_distribution<double> noise(0, 10);
      std::normal_distribution<double> clump(0, 0.7);
      std::vector<double> p(dims);
      // Reference alert state: whether the point of each step was in an above-threshold hot
      // spot at the previous evaluation.
      std::vector<bool> alerting;
      for (int step = 0; step < 700; ++step) {
        const int centre = static_cast<int>(rng() % 4);
        const bool is_noise = rng() % 4 == 0;
        for (int d = 0; d < dims; ++d) {
          p[d] = is_noise ? noise(rng) : 2.0 * centre + 0.01 * step * (d + 1) + clump(rng);
        }
        detector.Add(p);
        alerting.push_back(false);
        const std::string context = "dims=" + std::to_string(dims) + " min_points=" +
                                    std::to_string(min_points) + " step=" + std::to_string(step);
        const std::vector<Hotspot> reported = detector.Evaluate();
        const bool new_alert = detector.new_alert();
        CheckAgainstBruteForce(detector, options, context);
        if (::testing::Test::HasFatalFailure()) return;

        // Alerts, from the detector's (checked) labels.
        WindowView v = View(detector);
        const size_t first = alerting.size() - v.points.size();
        std::map<int, int64_t> count;
        std::map<int, bool> any_alerting;
        std::map<int, std::vector<double>> lo, hi;
        for (size_t a = 0; a < v.points.size(); ++a) {
          if (v.label[a] < 0) continue;
          const int l = v.label[a];
          if (count[l]++ == 0) lo[l] = hi[l] = v.points[a];
          for (int d = 0; d < dims; ++d) {
            lo[l][d] = std::min(lo[l][d], v.points[a][d]);
            hi[l][d] = std::max(hi[l][d], v.points[a][d]);
          }
          any_alerting[l] = any_alerting[l] || alerting[first + a];
        }
        std::map<int, bool> above;
        bool expect_alert = false;
        for (const auto& [l, n] : count) {
          if (n < min_points) continue;
          double volume = 1;
          for (int d = 0; d < dims; ++d) volume *= std::max(hi[l][d] - lo[l][d], 1.0);
          above[l] = n / volume > options.alert_density;
          const bool is_new = above[l] && !any_alerting[l];
          expect_alert = expect_alert || is_new;
          bool found = false;
          for (const Hotspot& h : reported) {
            if (h.count == n && h.min_values == lo[l] && h.max_values == hi[l]) {
              EXPECT_EQ(h.new_above_threshold, is_new) << context;
              found = true;
            }
          }
          EXPECT_TRUE(found) << context;
        }
        ASSERT_EQ(new_alert, expect_alert) << context;
        for (size_t a = 0; a < v.points.size(); ++a) {
          alerting[first + a] = v.label[a] >= 0 && above[v.label[a]];
        }

        if (step % 50 == 49) {
          std::string blob;
          detector.Save(&blob);
          auto restored = HotspotDetector::Load(options, blob);
          ASSERT_TRUE(restored.ok()) << context;
          const std::vector<Hotspot>& again = restored->Evaluate();
          ASSERT_EQ(again.size(), reported.size()) << context;
          for (size_t idx = 0; idx < again.size(); ++idx) {
            EXPECT_EQ(again[idx].count, reported[idx].count) << context;
            EXPECT_EQ(again[idx].min_values, reported[idx].min_values) << context;
            EXPECT_EQ(again[idx].max_values, reported[idx].max_values) << context;
            EXPECT_FALSE(again[idx].new_above_threshold) << context;
          }
        }
      }
      splits += detector.rebuilds();
    }
  }
  EXPECT_GT(splits, 0);  // the split path was exercised
}

TEST(HotspotDetectorTest, FindsPlantedRegions) {
  for (int dims = 1; dims <= 4; ++dims) {
    for (int regions = 1; regions <= 5; ++regions) {
      const uint64_t seed = 1000 * dims + regions;
      std::mt19937_64 rng(seed);
      // Noise stays sparse (well below one neighbour, so it rarely chains a region's box more
      // than ε outward) and regions dense in every dimension.
      const double extent = dims == 1 ? 10000 : (dims == 2 ? 300 : 100);
      const double spacing = dims == 1 ? 200 : 22;
      const double radius = dims == 1 ? 1.0 : (dims == 2 ? 1.5 : (dims == 3 ? 3.0 : 4.0));
      const double side = 2.5 * radius;
      config::HotspotOptions options;
      options.window_size = 1000;
      options.scan_radius = radius;
      options.min_points = 8;
      HotspotDetector detector(options, dims);
      // Region boxes on a coarse lattice so they stay apart by more than 2ε.
      std::vector<std::vector<double>> lo(regions, std::vector<double>(dims));
      std::set<std::vector<int>> used;
      for (int g = 0; g < regions; ++g) {
        std::vector<int> cell(dims);
        do {
          for (int d = 0; d < dims; ++d) cell[d] = static_cast<int>(rng() % 5);
        } while (!used.insert(cell).second);
        for (int d = 0; d < dims; ++d) lo[g][d] = 10 + cell[d] * spacing;
      }
      std::uniform_real_distribution<double> unit(0, 1);
      std::vector<int> truth;  // region of each generated point, -1 = noise
      std::vector<double> p(dims);
      const double planted_fraction = 0.6;
      for (int step = 0; step < 2000; ++step) {
        int region = unit(rng) < planted_fraction ? static_cast<int>(rng() % regions) : -1;
        for (int d = 0; d < dims; ++d) {
          p[d] = region < 0 ? unit(rng) * extent : lo[region][d] + unit(rng) * side;
        }
        truth.push_back(region);
        detector.Add(p);
      }
      std::string context = "dims=" + std::to_string(dims) + " regions=" +
                            std::to_string(regions) + " seed=" + std::to_string(seed);
      const std::vector<Hotspot> hotspots = detector.Evaluate();
      WindowView v = View(detector);
      const size_t offset = truth.size() - v.points.size();
      int tp = 0, fp = 0, fn = 0;
      for (size_t idx = 0; idx < v.points.size(); ++idx) {
        bool planted = truth[offset + idx] >= 0;
        tp += planted && v.in_hotspot[idx];
        fp += !planted && v.in_hotspot[idx];
        fn += planted && !v.in_hotspot[idx];
      }
      double f1 = 2.0 * tp / (2.0 * tp + fp + fn);
      EXPECT_GE(f1, 0.95) << context << " tp=" << tp << " fp=" << fp << " fn=" << fn;
      ASSERT_EQ(hotspots.size(), static_cast<size_t>(regions)) << context;
      for (int g = 0; g < regions; ++g) {
        bool matched = false;
        for (const Hotspot& h : hotspots) {
          bool ok = true;
          for (int d = 0; d < dims; ++d) {
            ok = ok && std::abs(h.min_values[d] - lo[g][d]) <= radius &&
                 std::abs(h.max_values[d] - (lo[g][d] + side)) <= radius;
          }
          matched = matched || ok;
        }
        std::string boxes;
        for (const Hotspot& h : hotspots) {
          boxes += " [" + std::to_string(h.min_values[0]) + "," + std::to_string(h.max_values[0]) + "]";
        }
        EXPECT_TRUE(matched) << context << " region " << g << " lo=" << lo[g][0] << " got" << boxes;
      }
    }
  }
}

TEST(HotspotDetectorTest, NoiseDoesNotTriggerRecomputation) {
  config::HotspotOptions options;
  options.window_size = 100;
  options.scan_radius = 0.01;
  options.min_points = 5;
  HotspotDetector detector(options, 2);
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> unit(0, 1000);
  for (int step = 0; step < 1000; ++step) {
    double p[2] = {unit(rng), unit(rng)};
    detector.Add(p);
    EXPECT_TRUE(detector.Evaluate().empty());
  }
  EXPECT_EQ(detector.rebuilds(), 0);
}

TEST(HotspotDetectorTest, AlertsOnceWhenADenseHotspotAppears) {
  config::HotspotOptions options;
  options.window_size = 100;
  options.scan_radius = 1;
  options.min_points = 5;
  options.alert_density = 2;
  HotspotDetector detector(options, 2);
  int alerts = 0;
  for (int step = 0; step < 50; ++step) {
    double p[2] = {step * 10.0, 0};  // sparse: no hot spot
    detector.Add(p);
    detector.Evaluate();
    alerts += detector.new_alert();
  }
  EXPECT_EQ(alerts, 0);
  for (int step = 0; step < 20; ++step) {
    double p[2] = {1000 + 0.01 * step, 1000};
    detector.Add(p);
    detector.Evaluate();
    alerts += detector.new_alert();
  }
  EXPECT_EQ(alerts, 1);  // appeared once, then only grew
}

TEST(HotspotDetectorTest, SnapshotRoundTrip) {
  config::HotspotOptions options;
  options.window_size = 200;
  options.scan_radius = 0.5;
  options.min_points = 4;
  HotspotDetector detector(options, 3);
  std::mt19937_64 rng(77);
  std::normal_distribution<double> dist(0, 1);
  auto next = [&] { return std::vector<double>{dist(rng), dist(rng), dist(rng)}; };
  for (int step = 0; step < 500; ++step) detector.Add(next());
  std::string blob;
  detector.Save(&blob);
  auto restored = HotspotDetector::Load(options, blob);
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  for (int step = 0; step < 50; ++step) {
    auto p = next();
    detector.Add(p);
    restored->Add(p);
    const auto& a = detector.Evaluate();
    const auto& b = restored->Evaluate();
    ASSERT_EQ(a.size(), b.size());
    for (size_t idx = 0; idx < a.size(); ++idx) {
      EXPECT_EQ(a[idx].count, b[idx].count);
      EXPECT_EQ(a[idx].min_values, b[idx].min_values);
    }
  }
  EXPECT_EQ(HotspotDetector::Load(options, blob.substr(0, 10)).status().code(),
            Status::Code::kCorruption);
}

}  // namespace
}  // namespace osprey::models
