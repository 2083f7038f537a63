// Checkpoints in the RocksDB state store: a daemon restarted on the same state directory resumes
// from the stored offsets (not Kafka's committed ones) with the operator state it had, so the
// results of two runs equal those of one uninterrupted run.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "config/base/json_writer.h"
#include "config/loader.h"
#include "daemon/daemon.h"
#include "daemon/kafka/embedded_broker.h"
#include "models/baseline.h"
#include "tests/integration/harness.h"
#include "tests/integration/kafka_test_util.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/http_client.h"

namespace osprey {
namespace {

using testing::KafkaRecord;

constexpr int kPartitions = 2;

std::string Yaml(const std::string& bootstrap, const std::string& state_dir,
                 const std::string& group) {
  return R"(
kafka:
  bootstrap_servers: ")" + bootstrap + R"("
  group_id: )" + group + R"(
  consumer_properties: {session.timeout.ms: "6000", heartbeat.interval.ms: "500"}
sources:
  m:
    topics: [in]
    timestamp: {field: ts, format: epoch_ms}
    key_field: host
    value_fields: [v]
    dead_letter: dlq
sinks:
  out: {topic: out}
  dlq: {topic: dlq}
pipelines:
  p:
    source: m
    operators: [{type: baseline, half_life_events: 20, warmup_events: 5}]
    sinks: [out]
http: {listen: "127.0.0.1:0"}
state: {dir: ")" + state_dir + R"(", checkpoint_interval_ms: 100}
)";
}

struct Input {
  std::string host;
  double v;
};

Input InputAt(int i) {
  // host-k always lands on partition k % 2: each key's order is the partition's order.
  int host = i % 10;
  double v = 100.0 * host + (i * 7919 % 101) / 10.0;
  return {"host-" + std::to_string(host), v};
}

std::vector<KafkaRecord> Records(int from, int to) {
  std::vector<KafkaRecord> out;
  for (int i = from; i < to; ++i) {
    Input in = InputAt(i);
    KafkaRecord r;
    r.topic = "in";
    r.partition = i % kPartitions;
    r.value = R"({"ts":)" + std::to_string(1000 + i) + R"(,"host":")" + in.host + R"(","v":)" +
              std::to_string(in.v) + "}";
    out.push_back(std::move(r));
  }
  return out;
}

// "score":X of a result, as rendered.
std::string ScoreText(const std::string& json) {
  auto pos = json.find("\"score\":");
  if (pos == std::string::npos) return "";
  auto end = json.find(',', pos);
  return json.substr(pos + 8, end - pos - 8);
}

int64_t OffsetOf(const std::string& json) {
  auto pos = json.find("\"offset\":", json.find("\"source\":"));
  return std::stoll(json.substr(pos + 9));
}

int32_t PartitionOf(const std::string& json) {
  auto pos = json.find("\"partition\":", json.find("\"source\":"));
  return std::stoi(json.substr(pos + 12));
}

TEST(CheckpointTest, RestartResumesFromStoredOffsetsWithOperatorState) {
  auto broker = testing::StartBroker({{"in", kPartitions}, {"out", 1}, {"dlq", 1}});
  ASSERT_NE(broker, nullptr);
  const std::string bootstrap = broker->bootstrap_servers();
  testing::TempDir dir;

  ASSERT_TRUE(testing::ProduceAll(bootstrap, Records(0, 1000)));
  {
    auto d = testing::StartDaemon(Yaml(bootstrap, dir.path(), "ckpt"), "ckpt.yaml");
    ASSERT_NE(d, nullptr);
    auto first = testing::ReadTopics(bootstrap, {"out"}, 1000, std::chrono::seconds(60),
                                     std::chrono::milliseconds(300));
    ASSERT_EQ(first.size(), 1000u);
    auto metrics = testing::HttpGet(d->http_port(), "/metrics").body;
    EXPECT_NE(metrics.find("osprey_checkpoints_total{source=\"m\"}"), std::string::npos);
    EXPECT_NE(metrics.find("osprey_operator_keys{source=\"m\",pipeline=\"p\",operator=\"baseline\"} 10"),
              std::string::npos)
        << metrics;
    ASSERT_TRUE(d->Shutdown().ok());
  }
  // The second run joins a new consumer group, which has no committed offsets and would start
  // from the beginning: the store's offsets must win.
  ASSERT_TRUE(testing::ProduceAll(bootstrap, Records(1000, 1600)));
  auto d = testing::StartDaemon(Yaml(bootstrap, dir.path(), "ckpt-2"), "ckpt.yaml");
  ASSERT_NE(d, nullptr);
  auto all = testing::ReadTopics(bootstrap, {"out"}, 1600, std::chrono::seconds(60),
                                 std::chrono::milliseconds(1000));
  ASSERT_EQ(all.size(), 1600u) << "records were reprocessed or lost";

  // Every score equals that of one uninterrupted detector per key.
  config::BaselineDetectorOptions options;
  options.half_life_events = 20;
  options.warmup_events = 5;
  std::map<std::string, models::EwmaBaseline> reference;
  std::map<std::pair<int32_t, int64_t>, std::string> expected;  // (partition, offset) -> score
  for (int i = 0; i < 1600; ++i) {
    Input in = InputAt(i);
    auto it = reference.try_emplace(in.host, options).first;
    double value = std::stod(std::to_string(in.v));
    std::vector<double> values{value};
    std::string text;
    JsonWriter(&text).Double(it->second.ScoreAndUpdate(values));
    expected[{i % kPartitions, i / kPartitions}] = text;
  }
  for (const auto& r : all) {
    auto key = std::make_pair(PartitionOf(r.value), OffsetOf(r.value));
    ASSERT_TRUE(expected.count(key)) << r.value;
    EXPECT_EQ(ScoreText(r.value), expected[key]) << r.value;
  }
  ASSERT_TRUE(d->Shutdown().ok());
}

}  // namespace
}  // namespace osprey
