// Exactly-once across crashes: ospreyd runs as a child process against an embedded broker the
// test owns, is SIGKILLed at seeded points while it works, and restarted each time. At the end
// the output and dead-letter topics must hold exactly the records of an uninterrupted run of the
// same input (none lost, none duplicated, identical bytes), and the final state store must equal
// the uninterrupted run's. The long variant (1M events, 20 kills) is osprey_crash_soak.
// The second test forces one interleaving the seeded kills hit only by chance: a crash while a
// restarted daemon is still replaying (and suppressing) what the crashed one had written.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "state/rocksdb_store.h"
#include "state/store.h"
#include "tests/integration/crash_scenario.h"
#include "tests/integration/harness.h"
#include "tests/integration/kafka_test_util.h"
#include "tests/integration/subprocess.h"
#include "tests/testing/fake_clock.h"

namespace osprey {
namespace {

using testing::EndOffsetSum;
using testing::KafkaRecord;
using testing::Subprocess;

TEST(CrashTest, SigkillAndRestartGiveExactlyTheOutputsOfAnUninterruptedRun) {
  testing::CrashScenario scenario;  // 40k events on 4 partitions, 4 kills, seed 301
  scenario.compare_state = true;
  testing::RunCrashScenario(scenario);
}

std::string ReplayYaml(const std::string& bootstrap, const std::string& group,
                       const std::string& state_dir, int checkpoint_ms) {
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
  detect:
    source: m
    operators:
      - {type: rcf, number_of_trees: 40, sample_size: 128, shingle_size: 2, random_seed: 7}
    sinks: [out]
http: {listen: "127.0.0.1:0"}
state: {dir: ")" + state_dir + R"(", checkpoint_interval_ms: )" + std::to_string(checkpoint_ms) +
         R"(}
logging: {level: info}
)";
}

std::vector<KafkaRecord> ReplayInput(int from, int to) {
  std::vector<KafkaRecord> out;
  for (int i = from; i < to; ++i) {
    KafkaRecord r;
    r.topic = "in";
    r.partition = 0;
    r.key = "k" + std::to_string(i);
    r.value = R"({"ts":)" + std::to_string(i) + R"(,"host":"h)" + std::to_string(i % 8) +
              R"(","v":)" + std::to_string(i * 7919 % 1000) + "}";
    out.push_back(std::move(r));
  }
  return out;
}

// The offset the store holds for in [0] (a stopped daemon's store); -2 when it holds none.
int64_t StoredOffset(const std::string& dir) {
  auto store = state::RocksStore::OpenReadOnly(dir);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  if (!store.ok()) return -2;
  auto v = (*store)->Get("offsets", state::EncodeStateKey("m", "", "in", 0, ""));
  return v.ok() ? std::stoll(*v) : -2;
}

// Run 1 writes every output and is killed with only its start checkpoint stored; run 2 replays
// (suppressing all of them), checkpoints inside the replay and is killed there; run 3 resumes
// from run 2's checkpoint. Run 3 must still find run 1's outputs of the records after that
// checkpoint: a checkpoint inside a replay used to store the output end offsets (after all of
// run 1's outputs) as where to read the tail from, and run 3 wrote them a second time.
TEST(CrashTest, ACrashWhileReplayingTheOutputsOfACrashWritesNoDuplicates) {
  constexpr int kFirst = 6000;  // inputs run 1 processes (and run 2 replays)
  constexpr int kMore = 500;    // inputs added before run 3
  auto broker = testing::StartBroker({{"in", 1}, {"out", 2}, {"dlq", 1}});
  ASSERT_NE(broker, nullptr);
  const std::string bootstrap = broker->bootstrap_servers();
  ASSERT_TRUE(testing::ProduceAll(bootstrap, ReplayInput(0, kFirst)));
  testing::TempDir dir;
  const std::string state_dir = dir.path() + "/state";
  const std::string ospreyd = std::string(OSPREY_BIN_DIR) + "/ospreyd";
  auto write_config = [&](const std::string& name, int checkpoint_ms) {
    std::string path = dir.path() + "/" + name;
    // A group per run: a new run need not wait out the killed one's session (the store, not
    // the group's offsets, says where a restored task resumes; none are committed before the
    // first checkpoint).
    std::ofstream(path) << ReplayYaml(bootstrap, name, state_dir, checkpoint_ms);
    return path;
  };
  const auto budget = std::chrono::seconds(120);

  {  // Run 1: no periodic checkpoint; killed once every output is written.
    Subprocess child({ospreyd, "--config", write_config("run1.yaml", 3'600'000)});
    auto deadline = std::chrono::steady_clock::now() + budget;
    while (EndOffsetSum(bootstrap, "out") < kFirst) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << child.Output();
      ASSERT_FALSE(child.Wait(std::chrono::milliseconds(10)).has_value()) << child.Output();
    }
    child.Signal(SIGKILL);
    ASSERT_TRUE(child.Wait(std::chrono::seconds(10)).has_value());
  }
  ASSERT_EQ(StoredOffset(state_dir), -1) << "run 1 should have stored its start marker only";

  // Run 2: checkpoints every 20 ms and is killed as soon as a checkpoint (seen through a
  // secondary instance of its store) has moved the offset into the replay.
  int64_t mid = -1;
  {
    Subprocess child({ospreyd, "--config", write_config("run2.yaml", 20)});
    ASSERT_TRUE(child.WaitForOutput("are suppressed", budget)) << child.Output();
    auto deadline = std::chrono::steady_clock::now() + budget;
    int64_t seen = -1;
    for (int n = 0; seen < 0; ++n) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << child.Output();
      ASSERT_FALSE(child.Wait(std::chrono::milliseconds(1)).has_value()) << child.Output();
      auto live = state::RocksStore::OpenSecondary(state_dir,
                                                   dir.path() + "/secondary" + std::to_string(n));
      ASSERT_TRUE(live.ok()) << live.status().ToString();
      auto v = (*live)->Get("offsets", state::EncodeStateKey("m", "", "in", 0, ""));
      if (v.ok()) seen = std::stoll(*v);
    }
    child.Signal(SIGKILL);
    ASSERT_TRUE(child.Wait(std::chrono::seconds(10)).has_value());
    mid = StoredOffset(state_dir);
    std::fprintf(stderr, "[replay] run 2 killed at stored offset %lld (seen %lld)\n",
                 static_cast<long long>(mid), static_cast<long long>(seen));
  }
  ASSERT_GT(mid, 0) << "run 2 never checkpointed inside its replay";
  ASSERT_LT(mid, kFirst) << "run 2 finished its replay before the kill: the interleaving was not "
                            "forced (make the replay slower)";
  EXPECT_EQ(EndOffsetSum(bootstrap, "out"), kFirst) << "run 2 wrote outputs while replaying";

  // Run 3: resumes inside the replay; finishes it and the records added since.
  ASSERT_TRUE(testing::ProduceAll(bootstrap, ReplayInput(kFirst, kFirst + kMore)));
  {
    Subprocess child({ospreyd, "--config", write_config("run3.yaml", 200)});
    auto deadline = std::chrono::steady_clock::now() + budget;
    while (EndOffsetSum(bootstrap, "out") < kFirst + kMore) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << child.Output();
      ASSERT_FALSE(child.Wait(std::chrono::milliseconds(20)).has_value()) << child.Output();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // room for duplicates to show
    child.Signal(SIGTERM);
    auto code = child.Wait(std::chrono::seconds(30));
    ASSERT_TRUE(code.has_value());
    EXPECT_EQ(*code, 0) << child.Output();
  }
  auto records = testing::ReadTopics(bootstrap, {"out"}, kFirst + kMore, std::chrono::seconds(60));
  std::map<std::string, int> copies;
  for (const auto& r : records) ++copies[r.headers.at("osprey.source")];
  int duplicated = 0;
  for (const auto& [source, n] : copies) duplicated += n > 1 ? 1 : 0;
  EXPECT_EQ(duplicated, 0) << "outputs written more than once (resumed at offset " << mid << ")";
  EXPECT_EQ(copies.size(), static_cast<size_t>(kFirst + kMore));
  EXPECT_EQ(records.size(), static_cast<size_t>(kFirst + kMore));
}

}  // namespace
}  // namespace osprey
