#include "models/sketch/running_stats.h"

#include <random>
#include <vector>

#include <gtest/gtest.h>

namespace osprey::models {
namespace {

TEST(RunningStatsTest, StableVarianceWithLargeOffset) {
  std::mt19937_64 rng(301);
  std::normal_distribution<double> dist(0, 1);
  RunningStats stats;
  std::vector<double> data;
  for (int idx = 0; idx < 10000; ++idx) {
    data.push_back(1e9 + dist(rng));
    stats.Add(data.back(), idx, idx);
  }
  // Two-pass reference in long double.
  long double mean = 0;
  for (double v : data) mean += v;
  mean /= data.size();
  long double m2 = 0;
  for (double v : data) m2 += (v - mean) * (v - mean);
  EXPECT_NEAR(stats.mean(), static_cast<double>(mean), 1e-5);  // 1e-14 relative
  EXPECT_NEAR(stats.variance(), static_cast<double>(m2 / data.size()), 1e-6);
  EXPECT_NEAR(stats.sum(), static_cast<double>(mean * data.size()), 1e-3);
}

TEST(RunningStatsTest, ChanMergeEqualsSequential) {
  std::mt19937_64 rng(17);
  std::uniform_real_distribution<double> dist(-50, 50);
  RunningStats all, a, b;
  for (int idx = 0; idx < 1000; ++idx) {
    double v = dist(rng);
    int64_t t = static_cast<int64_t>(rng() % 100);
    all.Add(v, t, idx);
    (idx % 3 == 0 ? a : b).Add(v, t, idx);
  }
  RunningStats merged = b;
  merged.Merge(a);
  EXPECT_EQ(merged.count(), all.count());
  EXPECT_NEAR(merged.mean(), all.mean(), 1e-12);
  EXPECT_NEAR(merged.variance(), all.variance(), 1e-9);
  EXPECT_NEAR(merged.sum(), all.sum(), 1e-9);
  EXPECT_EQ(merged.min(), all.min());
  EXPECT_EQ(merged.max(), all.max());
  EXPECT_EQ(merged.first(), all.first());
  EXPECT_EQ(merged.last(), all.last());
}

TEST(RunningStatsTest, FirstLastByEventTimeThenArrival) {
  RunningStats s;
  s.Add(1, 10, 1);
  s.Add(2, 5, 2);
  s.Add(3, 5, 3);
  s.Add(4, 10, 4);
  EXPECT_EQ(s.first(), 2);  // earliest time, earliest arrival
  EXPECT_EQ(s.last(), 4);   // latest time, latest arrival
  EXPECT_TRUE(std::isnan(RunningStats().mean()));
}

}  // namespace
}  // namespace osprey::models
