// Tests for daemon/live_hub.h without sockets: the key table, its bound, the per-key history and
// live feed, and the grade scan.
#include "daemon/live_hub.h"

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace osprey::daemon {
namespace {

std::shared_ptr<const operators::Schema> Schema(std::vector<std::string> names) {
  auto schema = std::make_shared<operators::Schema>();
  schema->value_names = std::move(names);
  return schema;
}

LiveHub::PipelineInfo Info(std::string name) {
  return {std::move(name), "metrics", {{"detector", "rcf"}}};
}

// Records one result with values {v, 2v}.
void Record(LiveHub::Pipeline& p, const std::string& key, int64_t t, double v,
            std::optional<double> score = std::nullopt, std::optional<double> grade = std::nullopt,
            bool alert = false) {
  static const auto kSchema = Schema({"cpu", "mem"});
  const double values[] = {v, 2 * v};
  p.Record({key, t, values, score, grade, alert}, kSchema);
}

// prefix + idx (appended: `Name("k", idx)` trips a GCC 12 -Wrestrict false positive).
std::string Name(std::string prefix, int idx) {
  prefix += std::to_string(idx);
  return prefix;
}

struct Collected {
  std::vector<std::string> messages;
  LiveHub::Callback Callback() {
    return [this](const std::shared_ptr<const std::string>& json) { messages.push_back(*json); };
  }
};

TEST(LiveHubTest, RendersPipelinesWithTheirKeysSortedAndLastResult) {
  LiveHub hub;
  LiveHub::Pipeline& p = hub.AddPipeline(Info("p1"));
  hub.AddPipeline({"p2", "other", {}});
  Record(p, "web-2", 1000, 1.5, 0.25, std::nullopt);
  Record(p, "web-1", 1001, 3, 4.5, 0.75, true);
  Record(p, "web-2", 1002, 2, 0.5);

  EXPECT_EQ(
      hub.RenderPipelinesJson(),
      R"({"pipelines":[{"name":"p1","source":"metrics","operators":[{"name":"detector",)"
      R"("type":"rcf"}],"keys":[)"
      R"({"key":"web-1","count":1,"alerts":1,"watchers":0,"event_time":1001,"values":{"cpu":3,"mem":6},)"
      R"("score":4.5,"grade":0.75,"alert":true},)"
      R"({"key":"web-2","count":2,"alerts":0,"watchers":0,"event_time":1002,"values":{"cpu":2,"mem":4},)"
      R"("score":0.5,"grade":null,"alert":false}],"keys_forgotten":0},)"
      R"({"name":"p2","source":"other","operators":[],"keys":[],"keys_forgotten":0}]})");
  EXPECT_EQ(hub.Find("p1"), &p);
  EXPECT_EQ(hub.Find("nope"), nullptr);
}

TEST(LiveHubTest, KeyTableStaysBoundedAndForgetsTheLeastRecentlyUpdated) {
  LiveHubOptions options;
  options.max_keys_per_pipeline = 10;
  LiveHub hub(options);
  LiveHub::Pipeline& p = hub.AddPipeline(Info("p"));
  for (int idx = 0; idx < 10; ++idx) Record(p, Name("k", idx), idx, idx);
  Record(p, "k0", 100, 0);  // k0 is now the most recent
  Record(p, "new", 101, 1);
  EXPECT_LE(p.key_count(), 10u);
  EXPECT_GE(p.key_count(), 5u);
  const std::string json = hub.RenderPipelinesJson();
  EXPECT_NE(json.find(R"("key":"k0")"), std::string::npos) << json;  // recently updated: kept
  EXPECT_NE(json.find(R"("key":"new")"), std::string::npos) << json;
  EXPECT_EQ(json.find(R"("key":"k1")"), std::string::npos) << json;  // oldest: forgotten
  for (int idx = 0; idx < 10000; ++idx) Record(p, Name("many", idx), idx, 1);
  EXPECT_LE(p.key_count(), 10u);
}

TEST(LiveHubTest, WatcherGetsHistoryThenEachNewResultOfItsKeyOnly) {
  LiveHubOptions options;
  options.history_points = 3;
  LiveHub hub(options);
  LiveHub::Pipeline& p = hub.AddPipeline(Info("p"));
  for (int t = 1; t <= 5; ++t) Record(p, "a", t, t, 0.5 * t);  // only the last 3 are kept
  Record(p, "b", 9, 9);

  Collected got;
  LiveHub::Watch watch = p.WatchKey("a", got.Callback());
  ASSERT_EQ(got.messages.size(), 1u);
  EXPECT_EQ(
      got.messages[0],
      R"({"type":"history","pipeline":"p","key":"a","points":[)"
      R"({"event_time":3,"values":{"cpu":3,"mem":6},"score":1.5,"grade":null,"alert":false},)"
      R"({"event_time":4,"values":{"cpu":4,"mem":8},"score":2,"grade":null,"alert":false},)"
      R"({"event_time":5,"values":{"cpu":5,"mem":10},"score":2.5,"grade":null,"alert":false}]})");
  EXPECT_EQ(p.watch_count(), 1u);

  Record(p, "b", 10, 1);  // another key: nothing
  Record(p, "a", 6, 7, 3.5, 0.9, true);
  ASSERT_EQ(got.messages.size(), 2u);
  EXPECT_EQ(got.messages[1],
            R"({"type":"result","event_time":6,"values":{"cpu":7,"mem":14},"score":3.5,)"
            R"("grade":0.9,"alert":true})");

  watch.Reset();
  EXPECT_EQ(p.watch_count(), 0u);
  Record(p, "a", 7, 1);
  EXPECT_EQ(got.messages.size(), 2u);  // no more after Reset
}

TEST(LiveHubTest, KeyWatchedBeforeItsFirstResultGetsAnEmptyHistoryThenResults) {
  LiveHub hub;
  LiveHub::Pipeline& p = hub.AddPipeline(Info("p"));
  Collected got;
  LiveHub::Watch watch = p.WatchKey("later", got.Callback());
  ASSERT_EQ(got.messages.size(), 1u);
  EXPECT_EQ(got.messages[0], R"({"type":"history","pipeline":"p","key":"later","points":[]})");
  Record(p, "later", 1, 1);
  EXPECT_EQ(got.messages.size(), 2u);
}

TEST(LiveHubTest, WatchedKeysAreNeverForgottenAndTwoWatchersBothGetResults) {
  LiveHubOptions options;
  options.max_keys_per_pipeline = 4;
  LiveHub hub(options);
  LiveHub::Pipeline& p = hub.AddPipeline(Info("p"));
  Collected first;
  Collected second;
  LiveHub::Watch w1 = p.WatchKey("pinned", first.Callback());
  LiveHub::Watch w2 = p.WatchKey("pinned", second.Callback());
  for (int idx = 0; idx < 100; ++idx) Record(p, Name("churn", idx), idx, 1);
  Record(p, "pinned", 1000, 1);
  EXPECT_EQ(first.messages.size(), 2u);
  EXPECT_EQ(second.messages.size(), 2u);
  EXPECT_NE(hub.RenderPipelinesJson().find(R"("key":"pinned","count":1,"alerts":0,"watchers":2)"),
            std::string::npos);
  LiveHub::Watch moved = std::move(w1);
  EXPECT_EQ(p.watch_count(), 2u);
  moved.Reset();
  w2.Reset();
  EXPECT_EQ(p.watch_count(), 0u);
}

TEST(LiveHubTest, AChangeInTheNumberOfValuesStartsTheHistoryOver) {
  LiveHub hub;
  LiveHub::Pipeline& p = hub.AddPipeline(Info("p"));
  Record(p, "k", 1, 1);
  const double one[] = {42};
  p.Record({"k", 2, one, 1.0, std::nullopt, false}, Schema({"only"}));
  Collected got;
  LiveHub::Watch watch = p.WatchKey("k", got.Callback());
  EXPECT_EQ(got.messages[0],
            R"({"type":"history","pipeline":"p","key":"k","points":[)"
            R"({"event_time":2,"values":{"only":42},"score":1,"grade":null,"alert":false}]})");
}

TEST(LiveHubTest, MissingValueNamesRenderAsQuestionMarks) {
  LiveHub hub;
  LiveHub::Pipeline& p = hub.AddPipeline(Info("p"));
  const double values[] = {1};
  p.Record({"k", 1, values, std::nullopt, std::nullopt, false}, nullptr);
  EXPECT_NE(hub.RenderPipelinesJson().find(R"("values":{"?":1},"score":null)"), std::string::npos);
}

TEST(GradeFromAnnotationsTest, FindsTheTopLevelGradeOnly) {
  EXPECT_EQ(GradeFromAnnotations(R"("grade":0.25,"confidence":0.9)"), 0.25);
  EXPECT_EQ(GradeFromAnnotations(R"("anomaly_score":1.5,"grade":1,"threshold":2)"), 1.0);
  EXPECT_EQ(GradeFromAnnotations(R"("z":[1.5,0.2])"), std::nullopt);
  EXPECT_EQ(GradeFromAnnotations(""), std::nullopt);
  EXPECT_EQ(GradeFromAnnotations(R"("x":{"grade":0.5})"), std::nullopt);  // nested
  EXPECT_EQ(GradeFromAnnotations(R"("grade":null)"), std::nullopt);
}

}  // namespace
}  // namespace osprey::daemon
