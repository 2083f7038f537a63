#include "operators/baseline_operator.h"
#include "tests/operators/operator_test_util.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace osprey::operators {
namespace {

using test_util::Collect;
using test_util::Dirty;

Event MakeEvent(const std::string& key, double v) {
  Event e;
  e.key = key;
  e.values = {v};
  return e;
}

config::OperatorOptions Options() {
  config::OperatorOptions options;
  options.name = "z";
  options.baseline.warmup_events = 5;
  options.baseline.alert_threshold = 4;
  return options;
}

TEST(BaselineOperatorTest, ScoresPerKeyAndFlagsTheSpike) {
  BaselineOperator op(Options());
  Collect out;
  for (int i = 0; i < 50; ++i) {
    op.Process(MakeEvent("a", 10 + (i % 3)), out);
    op.Process(MakeEvent("b", 1000 + (i % 3)), out);
  }
  op.Process(MakeEvent("a", 100), out);
  ASSERT_EQ(out.events.size(), 101u);
  for (size_t i = 0; i < 100; ++i) EXPECT_FALSE(out.events[i].alert) << i;
  EXPECT_TRUE(out.events.back().alert);
  EXPECT_GT(*out.events.back().score, 20);
  EXPECT_NE(out.events.back().annotations.find("\"z\":["), std::string::npos);
  EXPECT_EQ(op.key_count(), 2u);
}

TEST(BaselineOperatorTest, SnapshotsOnlyWhatChangedAndRestoresExactly) {
  BaselineOperator op(Options());
  Collect out;
  for (int i = 0; i < 20; ++i) op.Process(MakeEvent(i % 2 ? "a" : "b", i * 0.7), out);
  auto first = Dirty(op);
  EXPECT_EQ(first.size(), 2u);
  EXPECT_TRUE(Dirty(op).empty()) << "nothing changed since";
  op.Process(MakeEvent("a", 3), out);
  auto second = Dirty(op);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second.begin()->first, "a");

  BaselineOperator restored(Options());
  ASSERT_TRUE(restored.Restore("a", second.at("a")).ok());
  ASSERT_TRUE(restored.Restore("b", first.at("b")).ok());
  Collect a, b;
  for (int i = 0; i < 10; ++i) {
    op.Process(MakeEvent("a", i * 1.3), a);
    restored.Process(MakeEvent("a", i * 1.3), b);
  }
  for (size_t i = 0; i < a.events.size(); ++i) {
    EXPECT_EQ(*a.events[i].score, *b.events[i].score) << i;
  }
}

TEST(BaselineOperatorTest, CorruptSnapshotNamesTheKey) {
  BaselineOperator op(Options());
  Status st = op.Restore("host-7", "\x09garbage");
  EXPECT_EQ(st.code(), Status::Code::kCorruption);
  EXPECT_NE(st.message().find("'host-7'"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("'z'"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace osprey::operators
