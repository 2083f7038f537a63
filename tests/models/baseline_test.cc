#include "models/baseline.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace osprey::models {
namespace {

config::BaselineDetectorOptions Options() {
  config::BaselineDetectorOptions o;
  o.half_life_events = 20;
  o.warmup_events = 10;
  return o;
}

TEST(EwmaBaselineTest, ConstantStreamScoresZeroAfterWarmup) {
  EwmaBaseline b(Options());
  for (int idx = 0; idx < 100; ++idx) {
    std::vector<double> v{5.0, -2.0};
    EXPECT_EQ(b.ScoreAndUpdate(v), 0.0) << "at " << idx;
  }
  EXPECT_EQ(b.count(), 100);
}

TEST(EwmaBaselineTest, SpikeScoresHigh) {
  EwmaBaseline b(Options());
  for (int idx = 0; idx < 200; ++idx) {
    std::vector<double> v{10.0 + (idx % 2 == 0 ? 0.5 : -0.5)};
    b.ScoreAndUpdate(v);
  }
  std::vector<double> spike{20.0};
  std::vector<double> z;
  EXPECT_GT(b.ScoreAndUpdate(spike, &z), 10.0);
  ASSERT_EQ(z.size(), 1u);
  EXPECT_GT(z[0], 10.0);
}

TEST(EwmaBaselineTest, SaveRestoreContinuesIdentically) {
  EwmaBaseline a(Options());
  for (int idx = 0; idx < 50; ++idx) {
    std::vector<double> v{static_cast<double>(idx % 7), static_cast<double>(idx % 3)};
    a.ScoreAndUpdate(v);
  }
  std::string snap;
  a.Save(&snap);
  EwmaBaseline b(Options());
  ASSERT_TRUE(b.Restore(snap).ok());
  for (int idx = 0; idx < 50; ++idx) {
    std::vector<double> v{static_cast<double>(idx % 5), static_cast<double>(idx % 11)};
    EXPECT_EQ(a.ScoreAndUpdate(v), b.ScoreAndUpdate(v));
  }
  EXPECT_EQ(a.mean(), b.mean());
}

TEST(EwmaBaselineTest, CorruptSnapshotIsCorruption) {
  EwmaBaseline a(Options());
  std::vector<double> v{1.0};
  a.ScoreAndUpdate(v);
  std::string snap;
  a.Save(&snap);
  EwmaBaseline b(Options());
  EXPECT_EQ(b.Restore("").code(), Status::Code::kCorruption);
  EXPECT_EQ(b.Restore(snap.substr(0, snap.size() - 3)).code(), Status::Code::kCorruption);
  std::string bad_version = snap;
  bad_version[0] = 99;
  EXPECT_EQ(b.Restore(bad_version).code(), Status::Code::kCorruption);
}

}  // namespace
}  // namespace osprey::models
