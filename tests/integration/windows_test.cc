// Windows and hot spots inside the daemon, end to end: records go in through a real broker, a
// tumbling-window pipeline and a hot-spot pipeline run in the source runner, and the test reads
// a closed window's aggregates and a hot-spot alert from the output topics.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "config/loader.h"
#include "daemon/daemon.h"
#include "daemon/kafka/embedded_broker.h"
#include "tests/integration/harness.h"
#include "tests/integration/kafka_test_util.h"
#include "tests/testing/fake_clock.h"

namespace osprey {
namespace {

using testing::KafkaRecord;

std::string Yaml(const std::string& bootstrap, const std::string& state_dir) {
  return R"(
kafka:
  bootstrap_servers: ")" + bootstrap + R"("
  group_id: win
  consumer_properties: {session.timeout.ms: "6000", heartbeat.interval.ms: "500"}
sources:
  m:
    topics: [in]
    timestamp: {field: ts, format: epoch_ms}
    key_field: host
    value_fields: [x, y]
    dead_letter: dlq
sinks:
  windows: {topic: windows}
  hot: {topic: hot, select: alerts}
  dlq: {topic: dlq}
pipelines:
  per_second:
    source: m
    operators:
      - type: window
        kind: tumbling
        size_ms: 1000
        max_out_of_orderness_ms: 0
        aggregates: [{fn: count}, {fn: mean, field: x}, {fn: max, field: y}]
    sinks: [windows]
  hotspots:
    source: m
    operators:
      - {type: hotspots, window_size: 200, scan_radius: 1.0, min_points: 15, alert_density: 5}
    sinks: [hot]
http: {listen: "127.0.0.1:0"}
state: {dir: ")" + state_dir + R"("}
)";
}

TEST(WindowsInDaemonTest, WindowResultsAndHotspotAlertReachTheOutputTopics) {
  auto broker = testing::StartBroker({{"in", 1}, {"windows", 1}, {"hot", 1}, {"dlq", 1}});
  ASSERT_NE(broker, nullptr);
  const std::string bootstrap = broker->bootstrap_servers();

  // 600 records, 10 ms apart, one host: x = i % 100 spread over [0, 100), y a scatter;
  // records 300..359 fall in a 0.3 x 0.3 box (a planted hot spot).
  std::vector<KafkaRecord> records;
  double sum_x_first_second = 0;
  for (int i = 0; i < 600; ++i) {
    double x = (i * 37) % 100;
    double y = (i * 53) % 100;
    if (i >= 300 && i < 360) {
      x = 50 + (i % 3) * 0.1;
      y = 50 + (i % 4) * 0.1;
    }
    if (i < 100) sum_x_first_second += x;
    KafkaRecord r;
    r.topic = "in";
    r.value = R"({"ts":)" + std::to_string(i * 10) + R"(,"host":"h","x":)" + std::to_string(x) +
              R"(,"y":)" + std::to_string(y) + "}";
    records.push_back(std::move(r));
  }
  ASSERT_TRUE(testing::ProduceAll(bootstrap, records));

  testing::TempDir dir;
  auto d = testing::StartDaemon(Yaml(bootstrap, dir.path()), "win.yaml");
  ASSERT_NE(d, nullptr);

  // Event time reaches 5990 ms, so windows [0,1000) .. [4000,5000) are closed.
  auto windows = testing::ReadTopics(bootstrap, {"windows"}, 5, std::chrono::seconds(30));
  ASSERT_GE(windows.size(), 5u);
  const std::string& first = windows.front().value;
  EXPECT_NE(first.find("\"window\":{\"start\":0,\"end\":1000"), std::string::npos) << first;
  EXPECT_NE(first.find("\"count\":100"), std::string::npos) << first;
  char mean[64];
  std::snprintf(mean, sizeof(mean), "\"x_mean\":%g", sum_x_first_second / 100);
  EXPECT_NE(first.find(mean), std::string::npos) << mean << " in " << first;

  auto hot = testing::ReadTopics(bootstrap, {"hot"}, 1, std::chrono::seconds(30));
  ASSERT_GE(hot.size(), 1u);
  EXPECT_NE(hot.front().value.find("\"hotspots\":[{"), std::string::npos) << hot.front().value;
  EXPECT_NE(hot.front().value.find("\"alert\":true"), std::string::npos);
  EXPECT_TRUE(d->Shutdown().ok());
}

}  // namespace
}  // namespace osprey
