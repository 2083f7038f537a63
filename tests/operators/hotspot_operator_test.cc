#include "operators/hotspot_operator.h"

#include <map>
#include <random>

#include <gtest/gtest.h>

namespace osprey::operators {
namespace {

class Collector final : public Emitter {
 public:
  void Emit(Event event) override { events.push_back(std::move(event)); }
  std::vector<Event> events;
};

Event Point(const std::string& key, double x, double y) {
  Event e;
  e.key = key;
  e.values = {x, y};
  return e;
}

config::HotspotOptions Options() {
  config::HotspotOptions o;
  o.window_size = 100;
  o.scan_radius = 1;
  o.min_points = 5;
  o.alert_density = 1;
  return o;
}

TEST(HotspotOperatorTest, AnnotatesEveryEventAndAlertsWhenAHotspotAppears) {
  auto op = HotspotOperator::Create("hs", Options());
  ASSERT_TRUE(op.ok());
  Collector out;
  for (int idx = 0; idx < 10; ++idx) (*op)->Process(Point("a", idx * 10.0, 0), out);
  EXPECT_EQ(out.events.back().annotations, "\"hotspots\":[]");
  for (int idx = 0; idx < 5; ++idx) (*op)->Process(Point("a", 500 + 0.5 * (idx % 2), 500), out);
  const Event& last = out.events.back();
  EXPECT_EQ(last.annotations,
            "\"hotspots\":[{\"density\":5,\"minValues\":[500,500],\"maxValues\":[500.5,500],"
            "\"count\":5}]");
  int alerts = 0;
  for (const Event& e : out.events) alerts += e.alert;
  EXPECT_EQ(alerts, 1);
  EXPECT_TRUE(last.alert);
  (*op)->Process(Point("a", 500, 500), out);
  EXPECT_FALSE(out.events.back().alert);  // same hot spot, not new
  EXPECT_EQ((*op)->key_count(), 1u);
}

TEST(HotspotOperatorTest, PerKeyDetectorsAreIndependent) {
  config::HotspotOptions o = Options();
  o.per_key = true;
  auto op = HotspotOperator::Create("hs", o);
  ASSERT_TRUE(op.ok());
  Collector out;
  for (int idx = 0; idx < 5; ++idx) {
    (*op)->Process(Point(idx % 2 == 0 ? "a" : "b", 0, 0), out);
  }
  EXPECT_EQ(out.events.back().annotations, "\"hotspots\":[]");  // 3 + 2 points
  EXPECT_EQ((*op)->key_count(), 2u);
  Event bad = Point("a", 1, 2);
  bad.values.push_back(3);  // dimension mismatch: passes through unannotated
  (*op)->Process(std::move(bad), out);
  EXPECT_EQ(out.events.back().annotations, "");
  EXPECT_EQ((*op)->skipped(), 1);
}

TEST(HotspotOperatorTest, SnapshotRestoreContinuesIdentically) {
  auto a = HotspotOperator::Create("hs", Options());
  auto b = HotspotOperator::Create("hs", Options());
  ASSERT_TRUE(a.ok() && b.ok());
  std::mt19937_64 rng(3);
  std::normal_distribution<double> dist(0, 2);
  Collector out_a, out_b;
  for (int idx = 0; idx < 300; ++idx) (*a)->Process(Point("k", dist(rng), dist(rng)), out_a);
  std::map<std::string, std::string> store;
  (*a)->SnapshotDirty([&](std::string_view key, std::string s) { store[std::string(key)] = s; });
  ASSERT_EQ(store.size(), 1u);
  for (const auto& [key, s] : store) ASSERT_TRUE((*b)->Restore(key, s).ok());
  out_a.events.clear();
  for (int idx = 0; idx < 50; ++idx) {
    Event e = Point("k", dist(rng), dist(rng));
    (*a)->Process(e, out_a);
    (*b)->Process(e, out_b);
  }
  for (size_t idx = 0; idx < out_a.events.size(); ++idx) {
    EXPECT_EQ(out_a.events[idx].annotations, out_b.events[idx].annotations);
    EXPECT_EQ(out_a.events[idx].alert, out_b.events[idx].alert);
  }
  EXPECT_EQ((*b)->Restore("k", "\x01garbage").code(), Status::Code::kCorruption);
}

TEST(HotspotOperatorTest, RejectsInvalidOptions) {
  config::HotspotOptions o = Options();
  o.window_size = 50;
  EXPECT_FALSE(HotspotOperator::Create("hs", o).ok());
  o = Options();
  o.scan_radius = 0;
  EXPECT_EQ(o.Validate().message().rfind("scan_radius:", 0), 0u);
}

}  // namespace
}  // namespace osprey::operators
