// Savepoints end to end: a daemon runs, `osprey savepoint` asks it for a savepoint over HTTP
// (the daemon checkpoints first, so the savepoint holds everything processed), the daemon runs on;
// then a fresh `ospreyd --from-savepoint` on a new state directory resumes from the savepoint and
// its outputs are byte for byte those the original run wrote after it.
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <signal.h>

#include "config/loader.h"
#include "daemon/daemon.h"
#include "state/rocksdb_store.h"
#include "tests/integration/harness.h"
#include "tests/integration/kafka_test_util.h"
#include "tests/integration/subprocess.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/http_client.h"

namespace osprey {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::KafkaRecord;

constexpr int kPartitions = 2;

std::string Yaml(const std::string& bootstrap, const std::string& state_dir,
                 const std::string& group, const std::string& out) {
  return R"(
kafka:
  bootstrap_servers: ")" +
         bootstrap + R"("
  group_id: )" +
         group + R"(
  consumer_properties: {session.timeout.ms: "6000", heartbeat.interval.ms: "500"}
sources:
  m:
    topics: [in]
    timestamp: {field: ts, format: epoch_ms}
    key_field: host
    value_fields: [v]
    dead_letter: dlq
sinks:
  out: {topic: )" +
         out + R"(}
  dlq: {topic: dlq}
pipelines:
  p:
    source: m
    operators:
      - {type: baseline, half_life_events: 20, warmup_events: 5}
      - {type: rcf, number_of_trees: 5, sample_size: 32, shingle_size: 1, random_seed: 3}
    sinks: [out]
http: {listen: "127.0.0.1:0"}
state: {dir: ")" +
         state_dir + R"(", checkpoint_interval_ms: 3600000}
)";
}

std::vector<KafkaRecord> Records(int from, int to) {
  std::vector<KafkaRecord> out;
  for (int i = from; i < to; ++i) {
    KafkaRecord r;
    r.topic = "in";
    r.partition = i % kPartitions;
    int host = i % 8;
    r.value = R"({"ts":)" + std::to_string(1000 + i) + R"(,"host":"h)" + std::to_string(host) +
              R"(","v":)" + std::to_string(10 * host + (i * 7919 % 101) / 10.0) + "}";
    out.push_back(std::move(r));
  }
  return out;
}

std::map<std::string, std::string> BySource(const std::vector<KafkaRecord>& records) {
  std::map<std::string, std::string> out;
  for (const auto& r : records) {
    auto it = r.headers.find("osprey.source");
    EXPECT_NE(it, r.headers.end());
    if (it != r.headers.end()) EXPECT_TRUE(out.emplace(it->second, r.value).second) << it->second;
  }
  return out;
}

int64_t Sum(const std::map<int32_t, int64_t>& offsets) {
  int64_t sum = 0;
  for (const auto& [p, o] : offsets) sum += std::max<int64_t>(o, 0);
  return sum;
}

TEST(SavepointTest, AFreshDaemonFromASavepointWritesWhatTheOriginalWroteAfterIt) {
  auto broker = testing::StartBroker({{"in", kPartitions}, {"out", 2}, {"out2", 2}, {"dlq", 1}});
  ASSERT_NE(broker, nullptr);
  const std::string bootstrap = broker->bootstrap_servers();
  testing::TempDir dir;
  const std::string savepoint = dir.path() + "/sp1";

  ASSERT_TRUE(testing::ProduceAll(bootstrap, Records(0, 600)));
  {
    auto d = testing::StartDaemon(Yaml(bootstrap, dir.path() + "/state", "sp", "out"), "sp.yaml");
    ASSERT_NE(d, nullptr);
    // Every record processed; with an hour between periodic checkpoints none has been written
    // since the start marker: the savepoint's own checkpoint barrier must store them.
    auto deadline = std::chrono::steady_clock::now() + seconds(60);
    while (testing::EndOffsetSum(bootstrap, "out") < 600) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline);
      std::this_thread::sleep_for(milliseconds(50));
    }
    EXPECT_EQ(Sum(testing::CommittedOffsets(bootstrap, "sp", "in", kPartitions)), 0);
    // Through the CLI and the admin route.
    const std::string url = "http://127.0.0.1:" + std::to_string(d->http_port());
    auto [code, output] =
        testing::RunCommand(std::string(OSPREY_BIN_DIR) + "/osprey savepoint --url " + url +
                            " --dir " + savepoint + " 2>&1");
    ASSERT_EQ(code, 0) << output;
    EXPECT_NE(output.find("\"dir\":\"" + savepoint + "\""), std::string::npos) << output;
    EXPECT_NE(output.find("\"state_format_version\":2"), std::string::npos) << output;
    EXPECT_NE(output.find("\"topic\":\"in\",\"partition\":0,\"next_offset\":300"),
              std::string::npos)
        << output;
    EXPECT_NE(output.find("\"topic\":\"in\",\"partition\":1,\"next_offset\":300"),
              std::string::npos)
        << output;
    EXPECT_NE(output.find("\"baseline\":8"), std::string::npos) << output;
    EXPECT_NE(output.find("\"rcf\":8"), std::string::npos) << output;
    std::ifstream manifest(savepoint + "/manifest.json");
    std::string on_disk((std::istreambuf_iterator<char>(manifest)), {});
    EXPECT_NE(output.find(on_disk.substr(0, on_disk.size() - 1)), std::string::npos);
    // The directory exists now: a second savepoint there is refused, not merged.
    auto again = testing::HttpCall(d->http_port(), "POST", "/v1/admin/savepoint",
                                   "{\"dir\":\"" + savepoint + "\"}", "application/json");
    EXPECT_EQ(again.status, 409) << again.body;
    // Default directory under state.dir.
    auto dflt = testing::HttpCall(d->http_port(), "POST", "/v1/admin/savepoint");
    EXPECT_EQ(dflt.status, 200) << dflt.body;
    EXPECT_NE(dflt.body.find(dir.path() + "/state/savepoints/savepoint-"), std::string::npos)
        << dflt.body;

    ASSERT_TRUE(testing::ProduceAll(bootstrap, Records(600, 1200)));
    auto all = testing::ReadTopics(bootstrap, {"out"}, 1200, seconds(60), milliseconds(300));
    ASSERT_EQ(all.size(), 1200u);
    ASSERT_TRUE(d->Shutdown().ok());
  }
  auto original = BySource(testing::ReadTopics(bootstrap, {"out"}, 1200, seconds(30)));

  // A fresh daemon on a new state directory, started from the savepoint, writing to out2.
  const std::string config_path = dir.path() + "/fresh.yaml";
  std::ofstream(config_path) << Yaml(bootstrap, dir.path() + "/fresh-state", "fresh", "out2");
  const std::string ospreyd = std::string(OSPREY_BIN_DIR) + "/ospreyd";
  {
    testing::Subprocess child({ospreyd, "--config", config_path, "--from-savepoint", savepoint});
    auto deadline = std::chrono::steady_clock::now() + seconds(60);
    while (testing::EndOffsetSum(bootstrap, "out2") < 600) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << child.Output();
      ASSERT_FALSE(child.Wait(milliseconds(20)).has_value()) << child.Output();
    }
    std::this_thread::sleep_for(milliseconds(500));  // room for extras to show
    child.Signal(SIGTERM);
    auto code = child.Wait(seconds(10));
    ASSERT_TRUE(code.has_value());
    EXPECT_EQ(*code, 0) << child.Output();
  }
  auto resumed = BySource(testing::ReadTopics(bootstrap, {"out2"}, 600, seconds(30)));
  ASSERT_EQ(resumed.size(), 600u) << "the fresh daemon did not start at the savepoint's offsets";
  int differing = 0;
  for (const auto& [source, value] : resumed) {
    auto it = original.find(source);
    ASSERT_NE(it, original.end()) << source;
    if (it->second != value && ++differing <= 3) {
      ADD_FAILURE() << source << "\n  original: " << it->second << "\n  resumed:  " << value;
    }
  }
  EXPECT_EQ(differing, 0);

  // The restored state directory is not empty now: starting from a savepoint again is refused.
  testing::Subprocess refused({ospreyd, "--config", config_path, "--from-savepoint", savepoint});
  auto code = refused.Wait(seconds(20));
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 1);
  EXPECT_NE(refused.Output().find("is not empty; refusing to overwrite"), std::string::npos)
      << refused.Output();
}

}  // namespace
}  // namespace osprey
