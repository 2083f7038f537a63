#include "models/rcf/thresholded.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "config/base/bytes.h"
#include "models/rcf/rng.h"

namespace osprey::models::rcf {
namespace {

double Gaussian(Rng& rng) {
  return std::sqrt(-2 * std::log(rng.NextOpenDouble())) *
         std::cos(6.283185307179586 * rng.NextDouble());
}

ThresholdedOptions Options(int shingle, TransformMethod transform = TransformMethod::kNone) {
  ThresholdedOptions o;
  o.forest.shingle_size = shingle;
  o.forest.number_of_trees = 30;
  o.forest.sample_size = 128;
  o.forest.random_seed = 5;
  o.transform = transform;
  return o;
}

std::unique_ptr<ThresholdedForest> Make(const ThresholdedOptions& o) {
  auto r = ThresholdedForest::Create(o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return std::move(r).value();
}

AnomalyDescriptor Feed(ThresholdedForest& m, double v) {
  auto r = m.Process(std::vector<double>{v});
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : AnomalyDescriptor{};
}

TEST(ThresholdedOptionsTest, Validate) {
  ThresholdedOptions o;
  EXPECT_TRUE(o.Validate().ok());
  o.z_factor = 0.5;
  EXPECT_NE(o.Validate().message().find("z_factor"), std::string::npos);
  o = ThresholdedOptions();
  o.forest.sample_size = 1;
  EXPECT_NE(o.Validate().message().find("sample_size"), std::string::npos);
  o = ThresholdedOptions();
  o.ignore_near_expected_relative = -1;
  EXPECT_FALSE(ThresholdedForest::Create(o).ok());
}

// Noise with a +8 sigma spike every 400 points: every spike after warm-up is graded, its echoes
// in the following shingles are not, and pure noise is graded in well under 1% of points.
TEST(ThresholdedForestTest, PlantedSpikesGradedNoiseMostlyZero) {
  auto m = Make(Options(4));
  Rng rng(77);
  int spikes = 0, spikes_found = 0, noise = 0, noise_flagged = 0, echoes_flagged = 0;
  for (int idx = 0; idx < 4000; ++idx) {
    bool spike = idx >= 600 && idx % 400 == 0;
    AnomalyDescriptor d = Feed(*m, 10 + Gaussian(rng) + (spike ? 8 : 0));
    EXPECT_GE(d.grade, 0.0);
    EXPECT_LE(d.grade, 1.0);
    if (spike) {
      ++spikes;
      if (d.grade > 0) {
        ++spikes_found;
        EXPECT_EQ(d.relative_index, 0);
        EXPECT_EQ(d.anomalous_column, 0);
        ASSERT_EQ(d.expected_values.size(), 1u);
        EXPECT_NEAR(d.expected_values[0], 10, 3.0);
        EXPECT_NEAR(d.actual_values[0], 18, 4.0);
      }
    } else if (idx >= 600 && idx % 400 < 4) {
      echoes_flagged += d.grade > 0 ? 1 : 0;
    } else if (idx >= 300) {
      ++noise;
      noise_flagged += d.grade > 0 ? 1 : 0;
    }
  }
  EXPECT_EQ(spikes_found, spikes);
  EXPECT_EQ(echoes_flagged, 0);
  EXPECT_LT(noise_flagged, noise / 100) << noise_flagged << " of " << noise;
}

TEST(ThresholdedForestTest, SecondAnomalyRightAfterFirstIsFound) {
  auto m = Make(Options(4));
  Rng rng(78);
  for (int idx = 0; idx < 1500; ++idx) Feed(*m, 10 + Gaussian(rng));
  AnomalyDescriptor first = Feed(*m, 22);
  AnomalyDescriptor echo = Feed(*m, 10 + Gaussian(rng));
  AnomalyDescriptor second = Feed(*m, -3);
  EXPECT_GT(first.grade, 0);
  EXPECT_EQ(echo.grade, 0);
  EXPECT_GT(second.grade, 0);
  EXPECT_EQ(second.relative_index, 0);
  EXPECT_EQ(second.actual_values[0], -3);
}

TEST(ThresholdedForestTest, ConstantStreamIgnoresTinyChangesButNotRealOnes) {
  for (TransformMethod t : {TransformMethod::kNone, TransformMethod::kNormalize}) {
    auto m = Make(Options(4, t));
    int flagged = 0;
    for (int idx = 0; idx < 1500; ++idx) {
      double v = 100.0 + (idx > 500 && idx % 37 == 0 ? 1e-6 : 0.0);
      flagged += Feed(*m, v).grade > 0 ? 1 : 0;
    }
    EXPECT_EQ(flagged, 0) << static_cast<int>(t);
    AnomalyDescriptor d = Feed(*m, 130.0);
    EXPECT_GT(d.grade, 0) << static_cast<int>(t);
    ASSERT_EQ(d.expected_values.size(), 1u);
    EXPECT_NEAR(d.expected_values[0], 100.0, 1e-3);
  }
}

TEST(ThresholdedForestTest, DifferenceTransformFindsSpikeOnTrend) {
  auto m = Make(Options(4, TransformMethod::kNormalizeDifference));
  Rng rng(79);
  int found = 0, flagged = 0;
  for (int idx = 0; idx < 2500; ++idx) {
    bool spike = idx == 2000;
    AnomalyDescriptor d = Feed(*m, 0.5 * idx + 0.2 * Gaussian(rng) + (spike ? 20 : 0));
    if (spike) found = d.grade > 0;
    if (idx == 2001) {
      EXPECT_EQ(d.grade, 0) << "return to the trend after the spike";
    }
    if (!spike && idx > 500 && idx < 2000) flagged += d.grade > 0 ? 1 : 0;
    if (spike && d.grade > 0) {
      EXPECT_NEAR(d.expected_values[0], 1000, 3);
    }
  }
  EXPECT_TRUE(found);
  EXPECT_LT(flagged, 20);  // ~1% of 1500 noisy points
}

TEST(ThresholdedForestTest, SaveRestoreContinuesIdentically) {
  auto a = Make(Options(3, TransformMethod::kNormalize));
  Rng rng(80);
  for (int idx = 0; idx < 800; ++idx) Feed(*a, 5 + Gaussian(rng) + (idx % 250 == 0 ? 9 : 0));
  auto loaded = ThresholdedForest::Load(a->Save());
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  auto& b = *loaded;
  for (int idx = 0; idx < 800; ++idx) {
    double v = 5 + Gaussian(rng) + (idx % 250 == 0 ? 9 : 0);
    AnomalyDescriptor da = Feed(*a, v), db = Feed(*b, v);
    ASSERT_EQ(da.score, db.score) << idx;
    ASSERT_EQ(da.grade, db.grade) << idx;
    ASSERT_EQ(da.threshold, db.threshold) << idx;
    ASSERT_EQ(da.expected_values, db.expected_values) << idx;
    ASSERT_EQ(da.anomaly_score, db.anomaly_score) << idx;
    ASSERT_EQ(da.spatial, db.spatial) << idx;
  }
  EXPECT_TRUE(a->Save() == b->Save());
  std::string bad = a->Save();
  bad[bad.size() / 2] ^= 1;
  EXPECT_EQ(ThresholdedForest::Load(bad).status().code(), Status::Code::kCorruption);
}

TEST(ThresholdedForestTest, AnomalyScoreReportsFirstOfEpisodeThenHolds) {
  auto m = Make(Options(4));
  Rng rng(78);
  int positive = 0;
  for (int idx = 0; idx < 1500; ++idx) {
    AnomalyDescriptor d = Feed(*m, 10 + Gaussian(rng));
    EXPECT_GE(d.anomaly_score, 0);
    EXPECT_LE(d.anomaly_score, 1);
    if (idx > 300) positive += d.anomaly_score > 0 ? 1 : 0;
  }
  EXPECT_LT(positive, 30);
  // Wait out any hold left by the noise.
  for (int idx = 0; idx < ThresholdedForest::kAlarmHoldInputs + 1; ++idx) Feed(*m, 10);
  AnomalyDescriptor first = Feed(*m, 30);  // far outside the seen range
  EXPECT_TRUE(first.spatial);
  EXPECT_EQ(first.anomaly_score, 1);
  Feed(*m, 10);
  AnomalyDescriptor second = Feed(*m, -15);  // graded and out of range, but the same episode
  EXPECT_GT(second.grade, 0);
  EXPECT_TRUE(second.spatial);
  EXPECT_EQ(second.anomaly_score, 0);
  for (int idx = 0; idx < ThresholdedForest::kAlarmHoldInputs; ++idx) {
    EXPECT_EQ(Feed(*m, 10 + Gaussian(rng)).anomaly_score, 0) << idx;
  }
  AnomalyDescriptor later = Feed(*m, 60);  // after the hold: a new report
  EXPECT_TRUE(later.spatial);
  EXPECT_EQ(later.anomaly_score, 1);
}

TEST(ThresholdedForestTest, AnomalyScoreIsGradeOrSpatialAndHolds) {
  auto m = Make(Options(4));
  Rng rng(82);
  int64_t last_report = -1000;
  int reports = 0;
  for (int idx = 0; idx < 3000; ++idx) {
    double v = 10 + Gaussian(rng) + (idx % 400 == 399 ? 8 : 0);
    AnomalyDescriptor d = Feed(*m, v);
    if (d.anomaly_score == 0) continue;
    ++reports;
    EXPECT_GT(idx - last_report, ThresholdedForest::kAlarmHoldInputs) << idx;
    EXPECT_EQ(d.anomaly_score, d.spatial ? 1.0 : d.grade) << idx;
    last_report = idx;
  }
  EXPECT_GT(reports, 3);  // the planted spikes
}

TEST(ThresholdedForestTest, LoadsVersion1Snapshot) {
  auto a = Make(Options(3));
  Rng rng(83);
  for (int idx = 0; idx < 600; ++idx) Feed(*a, 5 + Gaussian(rng));
  // A version 1 snapshot: the version 2 payload without its last fields (range vectors of one
  // value each, varint length 1 + 8 bytes, and the int64 last alarm).
  std::string v2 = a->Save();
  ByteReader r(v2);
  uint32_t magic = 0;
  uint8_t version = 0;
  std::string payload;
  uint64_t checksum = 0;
  ASSERT_TRUE(r.Get(&magic) && r.Get(&version) && r.GetString(&payload) && r.Get(&checksum));
  ASSERT_EQ(version, ThresholdedForest::kFormatVersion);
  payload.resize(payload.size() - (9 + 9 + 8));
  uint64_t h = 0xCBF29CE484222325ULL;
  for (char c : payload) {
    h ^= static_cast<uint8_t>(c);
    h *= 0x100000001B3ULL;
  }
  std::string v1;
  ByteWriter w(&v1);
  w.Put<uint32_t>(magic);
  w.Put<uint8_t>(1);
  w.PutString(payload);
  w.Put<uint64_t>(h);
  auto b = ThresholdedForest::Load(v1);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  // Same forest and thresholds; the range is rebuilt from the recent history.
  for (int idx = 0; idx < 50; ++idx) {
    double v = 5 + Gaussian(rng);
    AnomalyDescriptor da = Feed(*a, v), db = Feed(**b, v);
    ASSERT_EQ(da.score, db.score) << idx;
    ASSERT_EQ(da.grade, db.grade) << idx;
  }
  AnomalyDescriptor far = Feed(**b, 100);
  EXPECT_TRUE(far.spatial);
  // An unknown future version is a clear Corruption.
  std::string v9 = v2;
  v9[4] = 9;
  auto bad = ThresholdedForest::Load(v9);
  EXPECT_EQ(bad.status().code(), Status::Code::kCorruption);
  EXPECT_NE(bad.status().message().find("format version 9"), std::string::npos)
      << bad.status().message();
}

TEST(ThresholdedForestTest, MultiColumnNamesTheColumn) {
  ThresholdedOptions o = Options(2);
  o.forest.input_dim = 3;
  auto m = Make(o);
  Rng rng(81);
  for (int idx = 0; idx < 1500; ++idx) {
    ASSERT_TRUE(
        m->Process(std::vector<double>{Gaussian(rng), 5 + Gaussian(rng), Gaussian(rng)}).ok());
  }
  auto r = m->Process(std::vector<double>{0.1, 5.2, -9.0});
  ASSERT_TRUE(r.ok());
  EXPECT_GT(r->grade, 0);
  EXPECT_EQ(r->anomalous_column, 2);
  EXPECT_EQ(r->relative_index, 0);
  EXPECT_EQ(m->Process(std::vector<double>{1.0}).status().code(), Status::Code::kInvalidArgument);
}

// --- Forecast in original units -----------------------------------------------------------

double Ramp(int t) { return 3 + 0.5 * t; }
double Wave(int t) { return 20 + 5 * std::sin(6.283185307179586 * t / 16); }

// Feeds inputs 0..n-1 of `signal` and forecasts `horizon` steps; returns the largest
// |forecast - truth| over the horizon and checks lower <= value <= upper on every step.
template <typename Signal>
double ForecastError(ThresholdedForest& m, Signal signal, int n, int horizon) {
  for (int t = 0; t < n; ++t) Feed(m, signal(t));
  auto r = m.Forecast(horizon);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return 1e300;
  EXPECT_EQ(r->horizon, horizon);
  EXPECT_EQ(r->input_dim, 1);
  EXPECT_EQ(r->values.size(), static_cast<size_t>(horizon));
  EXPECT_EQ(r->lower.size(), static_cast<size_t>(horizon));
  EXPECT_EQ(r->upper.size(), static_cast<size_t>(horizon));
  double worst = 0;
  for (int step = 0; step < horizon && step < static_cast<int>(r->values.size()); ++step) {
    EXPECT_LE(r->lower[step], r->values[step]) << "step " << step;
    EXPECT_LE(r->values[step], r->upper[step]) << "step " << step;
    worst = std::max(worst, std::abs(r->values[step] - signal(n + step)));
  }
  return worst;
}

// A noiseless ramp is exact under differencing: the forest sees a constant difference.
TEST(ThresholdedForecastTest, RampRecoveredWithDifferencing) {
  for (TransformMethod t : {TransformMethod::kDifference, TransformMethod::kNormalizeDifference}) {
    auto m = Make(Options(4, t));
    EXPECT_LT(ForecastError(*m, Ramp, 600, 10), 1e-3) << static_cast<int>(t);
  }
}

// Without differencing the forest can only impute levels it has seen, so a trend is forecast
// near its last level, never beyond the largest value seen (documented limitation).
TEST(ThresholdedForecastTest, RampWithoutDifferencingStaysInSeenRange) {
  auto m = Make(Options(4, TransformMethod::kNone));
  for (int t = 0; t < 600; ++t) Feed(*m, Ramp(t));
  auto r = m->Forecast(5);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  for (double v : r->upper) EXPECT_LE(v, Ramp(599) + 1e-3);
}

// A sine (period 16, amplitude 5 around 20) is forecast 8 steps ahead in original units under
// each transform. The forest has seen every shingle of this signal, so none and difference are
// exact up to float rounding (measured ~1e-6); normalize is off by the drift of the discounted
// mean and deviation between when the points were stored and now (measured 0.025, 0.5% of
// the amplitude).
TEST(ThresholdedForecastTest, SineRecoveredUnderEachTransform) {
  const struct {
    TransformMethod transform;
    double tolerance;
  } cases[] = {{TransformMethod::kNone, 1e-3},
               {TransformMethod::kNormalize, 0.1},
               {TransformMethod::kDifference, 1e-3}};
  for (const auto& c : cases) {
    ThresholdedOptions o = Options(8, c.transform);
    auto m = Make(o);
    EXPECT_LT(ForecastError(*m, Wave, 2000, 8), c.tolerance)
        << "transform " << static_cast<int>(c.transform);
  }
}

// Two columns moving in opposite directions keep their order in the row-major result.
TEST(ThresholdedForecastTest, MultipleColumnsRowMajor) {
  ThresholdedOptions o = Options(4, TransformMethod::kDifference);
  o.forest.input_dim = 2;
  auto m = Make(o);
  int n = 600;
  for (int t = 0; t < n; ++t) ASSERT_TRUE(m->Process(std::vector<double>{Ramp(t), -2.0 * t}).ok());
  auto r = m->Forecast(3);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->input_dim, 2);
  ASSERT_EQ(r->values.size(), 6u);
  for (int step = 0; step < 3; ++step) {
    EXPECT_NEAR(r->values[step * 2], Ramp(n + step), 1e-3);
    EXPECT_NEAR(r->values[step * 2 + 1], -2.0 * (n + step), 1e-3);
  }
}

// Forecast is read-only and deterministic: the snapshot is unchanged, repeated calls, a twin
// model and a reloaded model give bit-identical results.
TEST(ThresholdedForecastTest, DeterministicAndDoesNotChangeTheModel) {
  for (TransformMethod t : {TransformMethod::kNone, TransformMethod::kNormalizeDifference}) {
    auto m = Make(Options(8, t));
    auto twin = Make(Options(8, t));
    for (int i = 0; i < 500; ++i) {
      Feed(*m, Wave(i));
      Feed(*twin, Wave(i));
    }
    const std::string before = m->Save();
    auto a = m->Forecast(12);
    auto b = m->Forecast(12);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(m->Save(), before);
    auto c = twin->Forecast(12);
    auto loaded = ThresholdedForest::Load(before);
    ASSERT_TRUE(c.ok() && loaded.ok());
    auto d = (*loaded)->Forecast(12);
    ASSERT_TRUE(d.ok());
    for (const auto* other : {&*b, &*c, &*d}) {
      EXPECT_EQ(a->values, other->values);
      EXPECT_EQ(a->lower, other->lower);
      EXPECT_EQ(a->upper, other->upper);
    }
    // The model continues exactly as its twin that never forecast.
    AnomalyDescriptor x = Feed(*m, 40), y = Feed(*twin, 40);
    EXPECT_EQ(x.score, y.score);
    EXPECT_EQ(m->Save(), twin->Save());
  }
}

TEST(ThresholdedForecastTest, ClearErrors) {
  auto one = Make(Options(1, TransformMethod::kDifference));
  for (int t = 0; t < 300; ++t) Feed(*one, Ramp(t));
  auto r1 = one->Forecast(3);
  EXPECT_EQ(r1.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(r1.status().message().find("shingle_size"), std::string::npos);

  auto m = Make(Options(4, TransformMethod::kNormalize));
  auto early = m->Forecast(3);
  EXPECT_EQ(early.status().code(), Status::Code::kUnavailable);
  EXPECT_NE(early.status().message().find("not ready"), std::string::npos);
  for (int t = 0; t < 300; ++t) Feed(*m, Wave(t));
  for (int bad : {0, -1, RandomCutForest::kMaxForecastHorizon + 1}) {
    auto r = m->Forecast(bad);
    EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find("horizon"), std::string::npos);
  }
  EXPECT_TRUE(m->Forecast(RandomCutForest::kMaxForecastHorizon).ok());
}

}  // namespace
}  // namespace osprey::models::rcf
