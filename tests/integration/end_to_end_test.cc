// End to end on real sockets: an embedded broker owned by the test, a real producer writing
// 10 000 records of which 1 % are malformed, the daemon consuming them in its consumer group,
// and the test reading the output and dead-letter topics and the HTTP endpoints.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "config/loader.h"
#include "daemon/daemon.h"
#include "daemon/kafka/embedded_broker.h"
#include "tests/integration/harness.h"
#include "tests/integration/kafka_test_util.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/http_client.h"

namespace osprey {
namespace {

using testing::KafkaRecord;

constexpr int kRecords = 10000;
constexpr int kPartitions = 4;

std::string ConfigYaml(const std::string& bootstrap, const std::string& state_dir) {
  return R"(
kafka:
  bootstrap_servers: ")" + bootstrap + R"("
  group_id: e2e
  commit_interval_ms: 200
  consumer_properties: {session.timeout.ms: "6000", heartbeat.interval.ms: "500"}
sources:
  metrics:
    topics: [in]
    format: json
    timestamp: {field: ts, format: epoch_ms}
    key_field: host
    value_fields: [cpu, mem]
    dead_letter: dlq
sinks:
  results: {kind: kafka, topic: out}
  alerts: {kind: kafka, topic: alerts, select: alerts}
  dlq: {kind: kafka, topic: dlq}
pipelines:
  detect:
    source: metrics
    operators:
      - {type: baseline, half_life_events: 50, warmup_events: 20, alert_threshold: 6}
    sinks: [results, alerts]
http: {listen: "127.0.0.1:0"}
state: {dir: ")" + state_dir + R"("}
)";
}

// Which malformation record i carries, or nullptr for a valid record.
const char* MalformedReason(int i) {
  if (i % 100 != 37) return nullptr;
  static const char* kReasons[] = {"malformed", "missing_field", "bad_type", "malformed",
                                   "bad_value"};
  return kReasons[(i / 100) % 5];
}

std::string Payload(int i) {
  std::string host = "host-" + std::to_string(i % 10);
  std::string ts = std::to_string(1'700'000'000'000LL + i * 1000LL);
  double cpu = 50 + (i % 7);
  if (i == 5000) cpu = 5000;  // one planted spike on host-0
  if (const char* reason = MalformedReason(i)) {
    switch ((i / 100) % 5) {
      case 0: return R"({"ts":)" + ts + R"(,"host":")" + host + R"(","cpu":)";  // truncated
      case 1: return R"({"ts":)" + ts + R"(,"host":")" + host + R"(","mem":1})";  // no cpu
      case 2: return R"({"ts":)" + ts + R"(,"host":")" + host + R"(","cpu":"high","mem":1})";
      case 3: return R"({"ts":)" + ts + ",\"host\":\"\xff\xfe\",\"cpu\":1,\"mem\":1}";
      case 4: return R"({"ts":)" + ts + R"(,"host":")" + host + R"(","cpu":1e400,"mem":1})";
    }
    (void)reason;
  }
  return R"({"ts":)" + ts + R"(,"host":")" + host + R"(","cpu":)" + std::to_string(cpu) +
         R"(,"mem":)" + std::to_string(i % 13) + "}";
}

std::string HeaderOr(const KafkaRecord& r, const std::string& name) {
  auto it = r.headers.find(name);
  return it == r.headers.end() ? "<absent>" : it->second;
}

// Extracts an integer member `"name":N` that follows `after` in a JSON text.
int64_t IntAfter(const std::string& json, const std::string& after, const std::string& name) {
  size_t pos = json.find(after);
  if (pos == std::string::npos) return -1;
  pos = json.find("\"" + name + "\":", pos);
  if (pos == std::string::npos) return -1;
  return std::stoll(json.substr(pos + name.size() + 3));
}

TEST(EndToEndTest, ResultsAndDeadLettersOverRealKafka) {
  auto broker = testing::StartBroker(
      {{"in", kPartitions}, {"out", kPartitions}, {"alerts", 1}, {"dlq", 1}});
  ASSERT_NE(broker, nullptr);
  const std::string bootstrap = broker->bootstrap_servers();

  std::vector<KafkaRecord> input;
  input.reserve(kRecords);
  for (int i = 0; i < kRecords; ++i) {
    KafkaRecord r;
    r.topic = "in";
    r.partition = i % kPartitions;
    r.key = "k" + std::to_string(i);
    r.value = Payload(i);
    if (MalformedReason(i) != nullptr) r.headers["trace-id"] = "t" + std::to_string(i);
    input.push_back(std::move(r));
  }
  ASSERT_TRUE(testing::ProduceAll(bootstrap, input));

  testing::TempDir state_dir;
  auto d = testing::StartDaemon(ConfigYaml(bootstrap, state_dir.path()), "e2e.yaml");
  ASSERT_NE(d, nullptr);
  const uint16_t port = d->http_port();
  ASSERT_NE(port, 0);

  auto results = testing::ReadTopics(bootstrap, {"out"}, kRecords - 100, std::chrono::seconds(60));
  auto dead = testing::ReadTopics(bootstrap, {"dlq"}, 100, std::chrono::seconds(30));
  auto alerts = testing::ReadTopics(bootstrap, {"alerts"}, 1, std::chrono::seconds(10));

  // Every valid record produced exactly one result, carrying its source position.
  ASSERT_EQ(results.size(), static_cast<size_t>(kRecords - 100));
  std::set<std::pair<int64_t, int64_t>> seen;
  for (const auto& r : results) {
    int64_t partition = IntAfter(r.value, "\"source\":", "partition");
    int64_t offset = IntAfter(r.value, "\"source\":", "offset");
    int i = static_cast<int>(offset * kPartitions + partition);
    ASSERT_TRUE(i >= 0 && i < kRecords) << r.value;
    EXPECT_EQ(MalformedReason(i), nullptr) << "record " << i << " is malformed: " << r.value;
    EXPECT_TRUE(seen.insert({partition, offset}).second) << "duplicate " << r.value;
    EXPECT_EQ(r.key, "host-" + std::to_string(i % 10));
    EXPECT_NE(r.value.find("\"pipeline\":\"detect\""), std::string::npos);
    EXPECT_EQ(IntAfter(r.value, "{", "event_time"), 1'700'000'000'000LL + i * 1000LL);
  }

  // Every malformed record is dead-lettered with its bytes, headers, reason and position.
  ASSERT_EQ(dead.size(), 100u);
  std::set<int> dead_seen;
  for (const auto& r : dead) {
    int partition = std::stoi(HeaderOr(r, "osprey.source.partition"));
    int offset = std::stoi(HeaderOr(r, "osprey.source.offset"));
    int i = offset * kPartitions + partition;
    ASSERT_NE(MalformedReason(i), nullptr) << "record " << i << " was valid";
    EXPECT_TRUE(dead_seen.insert(i).second);
    EXPECT_EQ(HeaderOr(r, "osprey.error.reason"), MalformedReason(i)) << "record " << i;
    EXPECT_NE(HeaderOr(r, "osprey.error.detail"), "<absent>");
    EXPECT_EQ(HeaderOr(r, "osprey.source.topic"), "in");
    EXPECT_EQ(HeaderOr(r, "trace-id"), "t" + std::to_string(i)) << "original headers kept";
    EXPECT_EQ(r.value, Payload(i)) << "original bytes kept";
    EXPECT_EQ(r.key, "k" + std::to_string(i));
  }

  // The planted spike raised an alert.
  bool spike_alerted = false;
  for (const auto& r : alerts) {
    if (IntAfter(r.value, "\"source\":", "offset") == 5000 / kPartitions &&
        IntAfter(r.value, "\"source\":", "partition") == 5000 % kPartitions) {
      spike_alerted = true;
    }
  }
  EXPECT_TRUE(spike_alerted) << alerts.size() << " alerts";

  // HTTP: health, readiness, info, metrics, unknown route.
  EXPECT_EQ(testing::HttpGet(port, "/healthz").status, 200);
  auto ready = testing::HttpGet(port, "/readyz");
  EXPECT_EQ(ready.status, 200) << ready.body;
  auto info = testing::HttpGet(port, "/v1/info");
  EXPECT_EQ(info.status, 200);
  EXPECT_NE(info.body.find("\"config_digest\":\"" + d->config().digest + "\""),
            std::string::npos)
      << info.body;
  auto metrics = testing::HttpGet(port, "/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("osprey_events_in_total{source=\"metrics\",topic=\"in\"} 10000"),
            std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find("osprey_dead_lettered_total{source=\"metrics\"} 100"),
            std::string::npos);
  EXPECT_NE(metrics.body.find("osprey_results_out_total{sink=\"results\",topic=\"out\"} 9900"),
            std::string::npos);
  EXPECT_NE(metrics.body.find("osprey_decode_errors_total{source=\"metrics\",reason=\"bad_type\"} 20"),
            std::string::npos);
  EXPECT_NE(metrics.body.find("osprey_consumer_lag{topic=\"in\",partition=\"0\"} 0"),
            std::string::npos);
  EXPECT_NE(metrics.body.find("osprey_processing_latency_seconds_count{pipeline=\"detect\"} 9900"),
            std::string::npos);
  auto missing = testing::HttpGet(port, "/nope");
  EXPECT_EQ(missing.status, 404);
  EXPECT_NE(missing.body.find("\"error\""), std::string::npos);

  // Graceful shutdown commits the offset after the last record of every partition.
  ASSERT_TRUE(d->Shutdown().ok());
  auto committed = testing::CommittedOffsets(bootstrap, "e2e", "in", kPartitions);
  for (int p = 0; p < kPartitions; ++p) {
    EXPECT_EQ(committed[p], kRecords / kPartitions) << "partition " << p;
  }
}

}  // namespace
}  // namespace osprey
