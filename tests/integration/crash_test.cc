// Exactly-once across crashes: ospreyd runs as a child process against an embedded broker the
// test owns, is SIGKILLed at seeded points while it works, and restarted each time. At the end
// the output and dead-letter topics must hold exactly the records of an uninterrupted run of the
// same input: none lost, none duplicated, identical bytes.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <map>
#include <random>
#include <string>
#include <thread>

#include "config/loader.h"
#include "daemon/daemon.h"
#include "daemon/kafka/embedded_broker.h"
#include "tests/integration/harness.h"
#include "tests/integration/kafka_test_util.h"
#include "tests/integration/subprocess.h"
#include "tests/testing/fake_clock.h"

namespace osprey {
namespace {

using testing::KafkaRecord;

constexpr int kRecords = 40000;
constexpr int kInputPartitions = 4;
constexpr int kMalformedEvery = 97;

std::string Yaml(const std::string& bootstrap, const std::string& group, const std::string& out,
                 const std::string& dlq, const std::string& state_dir) {
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
    value_fields: [v, w]
    dead_letter: dlq
sinks:
  out: {topic: )" + out + R"(}
  dlq: {topic: )" + dlq + R"(}
pipelines:
  detect:
    source: m
    operators:
      - {type: baseline, half_life_events: 50, warmup_events: 10}
      - {type: rcf, number_of_trees: 10, sample_size: 64, shingle_size: 2, random_seed: 7}
    sinks: [out]
http: {listen: "127.0.0.1:0"}
state: {dir: ")" + state_dir + R"(", checkpoint_interval_ms: 200}
logging: {level: info}
)";
}

std::vector<KafkaRecord> Input() {
  std::vector<KafkaRecord> out;
  for (int i = 0; i < kRecords; ++i) {
    KafkaRecord r;
    r.topic = "in";
    r.partition = i % kInputPartitions;
    int host = i % 40;  // host-k always on partition k % 4
    r.key = "k" + std::to_string(i);
    if (i % kMalformedEvery == 5) {
      r.value = R"({"ts":)" + std::to_string(i) + R"(,"host":"h)" + std::to_string(host) + "\"}";
    } else {
      double v = 10 * host + (i * 7919 % 1000) / 100.0 + (i % 5000 == 77 ? 500 : 0);
      r.value = R"({"ts":)" + std::to_string(i) + R"(,"host":"h)" + std::to_string(host) +
                R"(","v":)" + std::to_string(v) + R"(,"w":)" + std::to_string(i % 17) + "}";
    }
    out.push_back(std::move(r));
  }
  return out;
}

// osprey.source header -> record value; fails the test on a duplicate.
std::map<std::string, std::string> BySource(const std::vector<KafkaRecord>& records,
                                            const char* what) {
  std::map<std::string, std::string> out;
  std::map<std::string, std::string> where;
  int duplicates = 0;
  for (const auto& r : records) {
    auto it = r.headers.find("osprey.source");
    EXPECT_NE(it, r.headers.end()) << what << " record without osprey.source";
    if (it == r.headers.end()) continue;
    std::string at = r.topic + "[" + std::to_string(r.partition) + "]@" + std::to_string(r.offset);
    if (!out.emplace(it->second, r.value).second && ++duplicates <= 5) {
      ADD_FAILURE() << what << ": duplicate output for " << it->second << " at " << at
                    << ", first at " << where[it->second];
    }
    where.emplace(it->second, at);
  }
  EXPECT_EQ(duplicates, 0) << what;
  return out;
}

TEST(CrashTest, SigkillAndRestartGiveExactlyTheOutputsOfAnUninterruptedRun) {
  auto broker = testing::StartBroker(
      {{"in", kInputPartitions}, {"ref", 4}, {"ref-dlq", 1}, {"out", 4}, {"dlq", 1}});
  ASSERT_NE(broker, nullptr);
  const std::string bootstrap = broker->bootstrap_servers();
  ASSERT_TRUE(testing::ProduceAll(bootstrap, Input()));
  const int malformed = (kRecords - 5 + kMalformedEvery - 1) / kMalformedEvery;
  const size_t valid = kRecords - malformed;

  // The uninterrupted run, in-process.
  testing::TempDir ref_dir;
  {
    auto d = testing::StartDaemon(Yaml(bootstrap, "ref", "ref", "ref-dlq", ref_dir.path()),
                                  "ref.yaml");
    ASSERT_NE(d, nullptr);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (testing::EndOffsetSum(bootstrap, "ref") < static_cast<int64_t>(valid) &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_TRUE(d->Shutdown().ok());
  }

  // The crashing run: a child ospreyd, killed when it has written a seeded share of its output.
  testing::TempDir dir;
  std::string config_path = dir.path() + "/crash.yaml";
  std::ofstream(config_path) << Yaml(bootstrap, "crash", "out", "dlq", dir.path() + "/state");
  const std::string ospreyd = std::string(OSPREY_BIN_DIR) + "/ospreyd";
  std::mt19937 rng(301);
  std::uniform_real_distribution<double> share(0.02, 0.2);
  int kills = 0;
  for (double reached = 0; kills < 4; ++kills) {
    reached = std::min(0.95, reached + share(rng));
    testing::Subprocess child({ospreyd, "--config", config_path});
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (testing::EndOffsetSum(bootstrap, "out") < static_cast<int64_t>(reached * valid)) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << child.Output();
      ASSERT_FALSE(child.Wait(std::chrono::milliseconds(5)).has_value()) << child.Output();
    }
    child.Signal(SIGKILL);
    ASSERT_TRUE(child.Wait(std::chrono::seconds(10)).has_value());
    if (const char* dump = std::getenv("CRASH_TEST_DUMP")) {
      std::ofstream(std::string(dump) + "-" + std::to_string(kills) + ".log") << child.Output();
    }
  }
  {
    testing::Subprocess child({ospreyd, "--config", config_path});
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (testing::EndOffsetSum(bootstrap, "out") < static_cast<int64_t>(valid) ||
           testing::EndOffsetSum(bootstrap, "dlq") < malformed) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << child.Output();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // room for duplicates to show
    child.Signal(SIGTERM);
    auto code = child.Wait(std::chrono::seconds(10));
    ASSERT_TRUE(code.has_value());
    EXPECT_EQ(*code, 0) << child.Output();
  }

  auto ref = BySource(testing::ReadTopics(bootstrap, {"ref"}, valid, std::chrono::seconds(60)), "ref");
  auto out = BySource(testing::ReadTopics(bootstrap, {"out"}, valid, std::chrono::seconds(60)), "out");
  ASSERT_EQ(ref.size(), valid);
  EXPECT_EQ(out.size(), valid);
  size_t differing = 0;
  for (const auto& [source, value] : ref) {
    auto it = out.find(source);
    if (it == out.end() || it->second != value) {
      if (++differing <= 3) {
        ADD_FAILURE() << "output for " << source << " differs:\n  ref: " << value
                      << "\n  got: " << (it == out.end() ? "<missing>" : it->second);
      }
    }
  }
  EXPECT_EQ(differing, 0u) << "after " << kills << " kills";

  auto ref_dlq = BySource(
      testing::ReadTopics(bootstrap, {"ref-dlq"}, malformed, std::chrono::seconds(30)), "ref-dlq");
  auto dlq = BySource(testing::ReadTopics(bootstrap, {"dlq"}, malformed, std::chrono::seconds(30)),
                      "dlq");
  EXPECT_EQ(ref_dlq.size(), static_cast<size_t>(malformed));
  EXPECT_EQ(dlq, ref_dlq);
}

}  // namespace
}  // namespace osprey
