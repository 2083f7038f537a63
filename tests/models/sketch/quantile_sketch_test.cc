#include "models/sketch/quantile_sketch.h"

#include <algorithm>
#include <cmath>
#include <random>

#include <gtest/gtest.h>

namespace osprey::models {
namespace {

// Largest |true rank − target rank| / n over a grid of quantiles.
double MaxRankError(const QuantileSketch& sketch, std::vector<double> data) {
  std::sort(data.begin(), data.end());
  const auto n = static_cast<double>(data.size());
  double worst = 0;
  for (int step = 1; step < 100; ++step) {
    double q = step / 100.0;
    double x = sketch.Quantile(q);
    double rank_hi = static_cast<double>(std::upper_bound(data.begin(), data.end(), x) - data.begin());
    double rank_lo = static_cast<double>(std::lower_bound(data.begin(), data.end(), x) - data.begin());
    double target = q * n;
    double err = target < rank_lo ? rank_lo - target : (target > rank_hi ? target - rank_hi : 0);
    worst = std::max(worst, err / n);
  }
  return worst;
}

TEST(QuantileSketchTest, ExactWhileSmall) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> dist(10, 3);
  QuantileSketch sketch(200);
  std::vector<double> data;
  for (int idx = 0; idx < 150; ++idx) {
    data.push_back(dist(rng));
    sketch.Add(data.back());
  }
  ASSERT_TRUE(sketch.is_exact());
  std::sort(data.begin(), data.end());
  for (double q : {0.01, 0.1, 0.25, 0.5, 0.9, 0.99}) {
    EXPECT_EQ(sketch.Quantile(q),
              data[static_cast<size_t>(QuantileSketch::TargetRank(q, 150) - 1)]);
  }
  EXPECT_EQ(sketch.Quantile(0), data.front());
  EXPECT_EQ(sketch.Quantile(1), data.back());
  EXPECT_TRUE(std::isnan(QuantileSketch().Quantile(0.5)));
}

TEST(QuantileSketchTest, RankErrorWithinBound) {
  const int n = 100'000;
  for (int kind = 0; kind < 4; ++kind) {
    const uint64_t seed = 1000 + kind;
    std::mt19937_64 rng(seed);
    std::vector<double> data(n);
    std::uniform_real_distribution<double> uni(0, 1);
    std::lognormal_distribution<double> logn(0, 2);
    for (int idx = 0; idx < n; ++idx) {
      switch (kind) {
        case 0: data[idx] = uni(rng); break;
        case 1: data[idx] = logn(rng); break;
        case 2: data[idx] = idx; break;       // sorted
        default: data[idx] = n - idx; break;  // reversed
      }
    }
    QuantileSketch sketch(200, seed);
    for (double v : data) sketch.Add(v);
    EXPECT_LE(sketch.stored_items(), 700u);
    EXPECT_LE(MaxRankError(sketch, data), QuantileSketch::RankErrorBound(200))
        << "kind=" << kind << " seed=" << seed;
  }
}

TEST(QuantileSketchTest, MergedSketchesKeepTheBound) {
  std::mt19937_64 rng(99);
  std::exponential_distribution<double> dist(1.0);
  QuantileSketch total(200, 1);
  std::vector<double> data;
  for (int part = 0; part < 10; ++part) {
    QuantileSketch piece(200, 100 + part);
    for (int idx = 0; idx < 10'000; ++idx) {
      data.push_back(dist(rng));
      piece.Add(data.back());
    }
    ASSERT_TRUE(total.Merge(piece).ok());
  }
  EXPECT_EQ(total.count(), 100'000);
  EXPECT_LE(MaxRankError(total, data), QuantileSketch::RankErrorBound(200));
  QuantileSketch other_k(100);
  EXPECT_EQ(total.Merge(other_k).code(), Status::Code::kInvalidArgument);
}

TEST(QuantileSketchTest, SaveLoadRoundTrip) {
  QuantileSketch sketch(64, 5);
  for (int idx = 0; idx < 5000; ++idx) sketch.Add(std::sin(idx) * 100);
  std::string blob;
  ByteWriter w(&blob);
  sketch.Save(w);
  ByteReader r(blob);
  auto loaded = QuantileSketch::Load(r);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  for (double q : {0.05, 0.5, 0.95}) EXPECT_EQ(loaded->Quantile(q), sketch.Quantile(q));
  // Same coin flips afterwards.
  for (int idx = 0; idx < 5000; ++idx) {
    sketch.Add(idx);
    loaded->Add(idx);
  }
  EXPECT_EQ(loaded->Quantile(0.3), sketch.Quantile(0.3));
  blob[blob.size() - 3] ^= 0x40;  // still parses, but a truncation must not
  ByteReader truncated(std::string_view(blob).substr(0, 30));
  EXPECT_EQ(QuantileSketch::Load(truncated).status().code(), Status::Code::kCorruption);
}

}  // namespace
}  // namespace osprey::models
