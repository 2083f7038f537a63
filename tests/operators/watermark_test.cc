#include "operators/watermark.h"

#include <gtest/gtest.h>

#include "tests/testing/fake_clock.h"

namespace osprey::operators {
namespace {

TEST(WatermarkTrackerTest, MinimumOverPartitionsMinusBound) {
  testing::FakeClock clock;
  WatermarkTracker tracker(5, 0, clock);
  EXPECT_EQ(tracker.Advance(), WatermarkTracker::kNoWatermark);
  tracker.Observe(0, 100);
  EXPECT_EQ(tracker.Advance(), 95);
  tracker.Observe(1, 50);
  EXPECT_EQ(tracker.Advance(), 95);  // never backwards, although partition 1 trails
  tracker.Observe(1, 120);
  tracker.Observe(0, 110);
  EXPECT_EQ(tracker.Advance(), 105);
  tracker.Observe(0, 90);  // out of order: max stays 110
  EXPECT_EQ(tracker.Advance(), 105);
  tracker.AdvanceTo(80);
  EXPECT_EQ(tracker.current(), 105);
  tracker.AdvanceTo(200);
  EXPECT_EQ(tracker.current(), 200);
}

TEST(WatermarkTrackerTest, IdlePartitionStopsHoldingBack) {
  testing::FakeClock clock;
  WatermarkTracker tracker(0, 1000, clock);
  tracker.Observe(0, 10);
  tracker.Observe(1, 10);
  EXPECT_EQ(tracker.Advance(), 10);
  clock.AdvanceMillis(600);
  tracker.Observe(0, 500);
  EXPECT_EQ(tracker.Advance(), 10);  // partition 1 still active
  clock.AdvanceMillis(400);
  EXPECT_EQ(tracker.Advance(), 500);  // partition 1 idle for 1000 ms
  EXPECT_EQ(tracker.active_partitions(), 1u);
  tracker.Observe(1, 20);  // back, but behind: the watermark does not go back
  EXPECT_EQ(tracker.Advance(), 500);
  clock.AdvanceMillis(5000);  // everyone idle: holds
  EXPECT_EQ(tracker.Advance(), 500);
}

TEST(WatermarkTrackerTest, SnapshotRoundTrip) {
  testing::FakeClock clock;
  WatermarkTracker tracker(5, 0, clock);
  tracker.Observe(3, 1000);
  tracker.Observe(4, 900);
  tracker.Advance();
  std::string blob;
  tracker.Save(&blob);
  WatermarkTracker restored(5, 0, clock);
  ASSERT_TRUE(restored.Restore(blob).ok());
  EXPECT_EQ(restored.current(), 895);
  EXPECT_EQ(restored.Advance(), 895);
  EXPECT_EQ(restored.partitions(), 2u);
  EXPECT_EQ(restored.Restore(blob.substr(0, 5)).code(), Status::Code::kCorruption);
}

}  // namespace
}  // namespace osprey::operators
