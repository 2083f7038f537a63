// History for the trainer: a running daemon keeps the configured fields of every consumed event,
// and `osprey history export` reads them from the live store (a RocksDB secondary instance)
// while the daemon keeps running: one row per consumed record, in event-time order, with the
// record's position, key and field values.
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "config/base/json_writer.h"
#include "daemon/daemon.h"
#include "tests/integration/harness.h"
#include "tests/integration/kafka_test_util.h"
#include "tests/integration/subprocess.h"
#include "tests/testing/fake_clock.h"

namespace osprey {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::KafkaRecord;

constexpr int kPartitions = 2;

std::string Yaml(const std::string& bootstrap, const std::string& state_dir) {
  return R"(
kafka:
  bootstrap_servers: ")" +
         bootstrap + R"("
  group_id: hist
  consumer_properties: {session.timeout.ms: "6000", heartbeat.interval.ms: "500"}
sources:
  m:
    topics: [in]
    timestamp: {field: ts, format: epoch_ms}
    key_field: host
    value_fields: [v, w]
    dead_letter: dlq
sinks:
  out: {topic: out}
  dlq: {topic: dlq}
pipelines:
  p:
    source: m
    operators: [{type: baseline, half_life_events: 20, warmup_events: 5}]
    sinks: [out]
    history: {fields: [w, v], retention: {max_age_ms: 86400000, max_bytes: 1073741824}}
  q:
    source: m
    operators: [{type: baseline}]
    sinks: [out]
  short:
    source: m
    operators: [{type: baseline}]
    sinks: [out]
    history: {fields: [v], retention: {max_age_ms: 1000}}
http: {listen: "127.0.0.1:0"}
state: {dir: ")" +
         state_dir + R"(", checkpoint_interval_ms: 100, history_retention_interval_ms: 100}
)";
}

struct Input {
  int64_t ts;
  std::string host;
  double v, w;
};

Input InputAt(int i) {
  int host = i % 6;
  return {1'700'000'000'000 + 10 * i, "h," + std::to_string(host),
          std::stod(std::to_string(host * 10 + (i * 7919 % 101) / 10.0)),
          static_cast<double>(i % 13)};
}

std::vector<KafkaRecord> Records(int from, int to) {
  std::vector<KafkaRecord> out;
  for (int i = from; i < to; ++i) {
    Input in = InputAt(i);
    KafkaRecord r;
    r.topic = "in";
    r.partition = i % kPartitions;
    r.value = R"({"ts":)" + std::to_string(in.ts) + R"(,"host":")" + in.host + R"(","v":)" +
              std::to_string(in.v) + R"(,"w":)" + std::to_string(in.w) + "}";
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<std::string> Lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

int64_t Committed(const std::string& bootstrap) {
  int64_t sum = 0;
  for (const auto& [p, o] : testing::CommittedOffsets(bootstrap, "hist", "in", kPartitions)) {
    sum += std::max<int64_t>(o, 0);
  }
  return sum;
}

TEST(HistoryExportTest, ExportFromALiveDaemonHasOneRowPerConsumedEvent) {
  auto broker = testing::StartBroker({{"in", kPartitions}, {"out", 1}, {"dlq", 1}});
  ASSERT_NE(broker, nullptr);
  const std::string bootstrap = broker->bootstrap_servers();
  testing::TempDir dir;
  const std::string config_path = dir.path() + "/hist.yaml";
  std::ofstream(config_path) << Yaml(bootstrap, dir.path() + "/state");
  std::ostringstream yaml;
  yaml << std::ifstream(config_path).rdbuf();

  ASSERT_TRUE(testing::ProduceAll(bootstrap, Records(0, 500)));
  auto d = testing::StartDaemon(yaml.str(), config_path);
  ASSERT_NE(d, nullptr);
  auto deadline = std::chrono::steady_clock::now() + seconds(60);
  while (Committed(bootstrap) < 500) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline);
    std::this_thread::sleep_for(milliseconds(50));
  }
  const std::string osprey = std::string(OSPREY_BIN_DIR) + "/osprey";
  const std::string csv = dir.path() + "/p.csv";
  auto [code, output] = testing::RunCommand(osprey + " history export --config " + config_path +
                                            " --pipeline p --format csv --output " + csv + " 2>&1");
  ASSERT_EQ(code, 0) << output;
  EXPECT_NE(output.find("500 rows"), std::string::npos) << output;
  auto lines = Lines(csv);
  ASSERT_EQ(lines.size(), 501u);
  EXPECT_EQ(lines[0], "event_time_ms,topic,partition,offset,key,w,v");
  for (int i = 0; i < 500; ++i) {
    Input in = InputAt(i);  // event times grow with i: rows come back in input order
    std::istringstream row(lines[i + 1]);
    std::string ts, topic, partition, offset, key_a, key_b, w, v;
    std::getline(row, ts, ',');
    std::getline(row, topic, ',');
    std::getline(row, partition, ',');
    std::getline(row, offset, ',');
    std::getline(row, key_a, ',');  // the key holds a comma: quoted, split in two here
    std::getline(row, key_b, ',');
    std::getline(row, w, ',');
    std::getline(row, v, ',');
    ASSERT_EQ(ts, std::to_string(in.ts)) << lines[i + 1];
    EXPECT_EQ(topic, "in");
    EXPECT_EQ(partition, std::to_string(i % kPartitions));
    EXPECT_EQ(offset, std::to_string(i / kPartitions));
    EXPECT_EQ(key_a + "," + key_b, "\"" + in.host + "\"");
    EXPECT_EQ(std::stod(w), in.w) << lines[i + 1];
    EXPECT_EQ(std::stod(v), in.v) << lines[i + 1];
  }

  // The daemon runs on; a later export sees the new events. JSON Lines, an event-time range.
  ASSERT_TRUE(testing::ProduceAll(bootstrap, Records(500, 600)));
  deadline = std::chrono::steady_clock::now() + seconds(60);
  while (Committed(bootstrap) < 600) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline);
    std::this_thread::sleep_for(milliseconds(50));
  }
  const std::string jsonl = dir.path() + "/p.jsonl";
  const int64_t since = InputAt(450).ts, until = InputAt(560).ts;
  std::tie(code, output) =
      testing::RunCommand(osprey + " history export --config " + config_path +
                          " --pipeline p --format jsonl" + " --since " + std::to_string(since) +
                          " --until " + std::to_string(until) + " --output " + jsonl + " 2>&1");
  ASSERT_EQ(code, 0) << output;
  lines = Lines(jsonl);
  ASSERT_EQ(lines.size(), 110u);
  Input first = InputAt(450);
  EXPECT_EQ(
      lines[0], "{\"event_time_ms\":" + std::to_string(first.ts) +
                    ",\"topic\":\"in\",\"partition\":0,\"offset\":225,\"key\":\"" + first.host +
                    "\",\"fields\":{\"w\":" + std::to_string(450 % 13) + ",\"v\":" +
                    [&] {
                      std::string s;
                      JsonWriter(&s).Double(first.v);
                      return s;
                    }() +
                    "}}");
  EXPECT_NE(lines.back().find("\"event_time_ms\":" + std::to_string(InputAt(559).ts)),
            std::string::npos);

  // Retention runs in the daemon: pipeline "short" keeps 1 s of event time before its newest row
  // (records 499..599, 10 ms apart).
  const std::string short_csv = dir.path() + "/short.csv";
  deadline = std::chrono::steady_clock::now() + seconds(20);
  do {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << output;
    std::this_thread::sleep_for(milliseconds(100));
    std::tie(code, output) =
        testing::RunCommand(osprey + " history export --config " + config_path +
                            " --pipeline short --output " + short_csv + " 2>&1");
    ASSERT_EQ(code, 0) << output;
  } while (Lines(short_csv).size() != 1 + 101);
  EXPECT_EQ(Lines(short_csv)[1].substr(0, Lines(short_csv)[1].find(',')),
            std::to_string(InputAt(499).ts));

  // A savepoint holds the history too, readable with --store.
  auto manifest = d->Savepoint(dir.path() + "/sp");
  ASSERT_TRUE(manifest.ok()) << manifest.status().ToString();
  std::tie(code, output) = testing::RunCommand(osprey + " history export --config " + config_path +
                                               " --pipeline p --store " + dir.path() + "/sp" +
                                               " --output " + csv + " 2>&1");
  ASSERT_EQ(code, 0) << output;
  EXPECT_EQ(Lines(csv).size(), 601u);

  // A pipeline without history is a clear error, not an empty file.
  std::tie(code, output) = testing::RunCommand(osprey + " history export --config " + config_path +
                                               " --pipeline q 2>&1");
  EXPECT_EQ(code, 1);
  EXPECT_NE(output.find("pipeline 'q' keeps no history"), std::string::npos) << output;
  EXPECT_TRUE(d->health().ok()) << d->health().ToString();
  ASSERT_TRUE(d->Shutdown().ok());
}

}  // namespace
}  // namespace osprey
