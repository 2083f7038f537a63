// Faults: the only broker goes down for 10 s while the daemon works. The daemon rides through
// (no crash, no fatal error), and when the broker is back every record has exactly one result.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <thread>

#include "config/loader.h"
#include "daemon/daemon.h"
#include "daemon/kafka/embedded_broker.h"
#include "tests/integration/harness.h"
#include "tests/integration/kafka_test_util.h"
#include "tests/testing/fake_clock.h"

namespace osprey {
namespace {

using testing::KafkaRecord;

std::vector<KafkaRecord> Records(int from, int to) {
  std::vector<KafkaRecord> out;
  for (int i = from; i < to; ++i) {
    KafkaRecord r;
    r.topic = "in";
    r.partition = i % 2;
    r.value = R"({"host":"h)" + std::to_string(i % 6) + R"(","v":)" + std::to_string(i % 11) + "}";
    out.push_back(std::move(r));
  }
  return out;
}

TEST(BrokerDownTest, DaemonRidesThroughTenSecondsWithoutTheBroker) {
  auto broker = testing::StartBroker({{"in", 2}, {"out", 2}, {"dlq", 1}});
  ASSERT_NE(broker, nullptr);
  const std::string bootstrap = broker->bootstrap_servers();
  testing::TempDir dir;
  auto d = testing::StartDaemon(R"(
kafka:
  bootstrap_servers: ")" + bootstrap + R"("
  consumer_properties: {session.timeout.ms: "6000", heartbeat.interval.ms: "500"}
sources:
  m: {topics: [in], key_field: host, value_fields: [v], dead_letter: dlq}
sinks:
  out: {topic: out}
  dlq: {topic: dlq}
pipelines:
  p: {source: m, operators: [{type: baseline}], sinks: [out]}
http: {listen: "127.0.0.1:0"}
state: {dir: ")" + dir.path() + R"(", checkpoint_interval_ms: 200}
)",
                                "down.yaml");
  ASSERT_NE(d, nullptr);

  ASSERT_TRUE(testing::ProduceAll(bootstrap, Records(0, 3000)));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (testing::EndOffsetSum(bootstrap, "out") < 3000) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }

  ASSERT_TRUE(broker->SetBrokerDown(1).ok());
  std::this_thread::sleep_for(std::chrono::seconds(10));
  EXPECT_TRUE(d->health().ok()) << d->health().ToString();
  ASSERT_TRUE(broker->SetBrokerUp(1).ok());

  ASSERT_TRUE(testing::ProduceAll(bootstrap, Records(3000, 6000)));
  auto results = testing::ReadTopics(bootstrap, {"out"}, 6000, std::chrono::seconds(90),
                                     std::chrono::seconds(2));
  std::set<std::string> sources;
  for (const auto& r : results) {
    EXPECT_TRUE(sources.insert(r.headers.at("osprey.source")).second)
        << "duplicate " << r.headers.at("osprey.source");
  }
  EXPECT_EQ(sources.size(), 6000u);
  EXPECT_TRUE(d->health().ok()) << d->health().ToString();
  EXPECT_TRUE(d->Shutdown().ok());
}

}  // namespace
}  // namespace osprey
