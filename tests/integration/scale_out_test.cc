// Scale-out: two ospreyd processes (separate state directories) in one consumer group split the
// input partitions; partitions that move carry their state through the changelog topic. The
// first instance runs alone for a while, the second joins (and restores the partitions it gets
// from the changelog), then the first is SIGKILLed mid-stream and the second takes over its
// partitions from the changelog. The output and dead-letter topics must equal a single
// uninterrupted instance's, record for record: nothing lost, nothing duplicated, same bytes.
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <signal.h>

#include "tests/integration/crash_scenario.h"
#include "tests/integration/harness.h"
#include "tests/integration/kafka_test_util.h"
#include "tests/integration/subprocess.h"
#include "tests/testing/fake_clock.h"

namespace osprey {
namespace {

using testing::KafkaRecord;
using Clock = std::chrono::steady_clock;

constexpr int kPartitions = 4;
constexpr int kFirstPart = 6000;    // processed by the first instance alone
constexpr int kSecondPart = 16000;  // end of the part during which the first instance dies
constexpr int kRecords = 20000;     // in all; the rest comes after its death
constexpr int kMalformedEvery = 89;

bool Malformed(int i) { return i % kMalformedEvery == 3; }

std::vector<KafkaRecord> Input(int from, int to) {
  std::vector<KafkaRecord> out;
  for (int i = from; i < to; ++i) {
    KafkaRecord r;
    r.topic = "in";
    r.partition = i % kPartitions;
    int host = i % 24;  // host k always on partition k % 4
    r.key = "k" + std::to_string(i);
    if (Malformed(i)) {
      r.value = R"({"ts":)" + std::to_string(i) + R"(,"host":"h)" + std::to_string(host) + "\"}";
    } else {
      double v = 10 * host + (i * 7919 % 1000) / 100.0 + (i % 3000 == 77 ? 500 : 0);
      r.value = R"({"ts":)" + std::to_string(i) + R"(,"host":"h)" + std::to_string(host) +
                R"(","v":)" + std::to_string(v) + R"(,"w":)" + std::to_string(i % 13) + "}";
    }
    out.push_back(std::move(r));
  }
  return out;
}

int MalformedIn(int from, int to) {
  int n = 0;
  for (int i = from; i < to; ++i) n += Malformed(i) ? 1 : 0;
  return n;
}

// osprey.source header -> record value; fails the test on a duplicate.
std::map<std::string, std::string> BySource(const std::vector<KafkaRecord>& records,
                                            const char* what) {
  std::map<std::string, std::string> out;
  int duplicates = 0;
  for (const auto& r : records) {
    auto it = r.headers.find("osprey.source");
    EXPECT_NE(it, r.headers.end()) << what << " record without osprey.source";
    if (it == r.headers.end()) continue;
    if (!out.emplace(it->second, r.value).second && ++duplicates <= 5) {
      ADD_FAILURE() << what << ": duplicate output for " << it->second;
    }
  }
  EXPECT_EQ(duplicates, 0) << what;
  return out;
}

// Waits until `topic` holds `n` records; false on timeout or when one of `alive` exits. Drains
// their log pipes meanwhile (a full pipe would block a child's logging, and the child).
bool WaitForOutputs(const std::string& bootstrap, const std::string& topic, int64_t n,
                    std::chrono::seconds timeout, std::vector<testing::Subprocess*> alive = {}) {
  auto deadline = Clock::now() + timeout;
  while (testing::EndOffsetSum(bootstrap, topic) < n) {
    if (Clock::now() > deadline) return false;
    for (auto* child : alive) {
      if (child->Wait(std::chrono::milliseconds(2)).has_value()) return false;
    }
  }
  return true;
}

TEST(ScaleOutTest, ASurvivorTakesOverTheDeadInstancesPartitionsWithTheirState) {
  auto broker = testing::StartBroker({{"in", kPartitions},
                                      {"ref", kPartitions},
                                      {"ref-dlq", 1},
                                      {"out", kPartitions},
                                      {"dlq", 1},
                                      {"scale.detect.changelog", kPartitions}});
  ASSERT_NE(broker, nullptr);
  const std::string bootstrap = broker->bootstrap_servers();
  ASSERT_TRUE(testing::ProduceAll(bootstrap, Input(0, kFirstPart)));
  const int64_t malformed = MalformedIn(0, kRecords);
  const int64_t valid = kRecords - malformed;
  const int64_t valid_first = kFirstPart - MalformedIn(0, kFirstPart);

  // Two instances, one group, own state directories.
  testing::TempDir dir;
  const std::string ospreyd = std::string(OSPREY_BIN_DIR) + "/ospreyd";
  for (const char* name : {"a", "b"}) {
    std::ofstream(dir.path() + "/" + name + ".yaml") << testing::DetectorDaemonYaml(
        bootstrap, "scale", "out", "dlq", dir.path() + "/state-" + name, 200, "scale");
  }
  testing::Subprocess a({ospreyd, "--config", dir.path() + "/a.yaml"});
  ASSERT_TRUE(WaitForOutputs(bootstrap, "out", valid_first, std::chrono::seconds(60), {&a}))
      << a.Output();

  testing::Subprocess b({ospreyd, "--config", dir.path() + "/b.yaml"});
  ASSERT_TRUE(b.WaitForOutput("assigned in [", std::chrono::seconds(60))) << b.Output();
  // b's partitions came from a, through the changelog.
  ASSERT_TRUE(b.WaitForOutput("from the changelog", std::chrono::seconds(10))) << b.Output();

  ASSERT_TRUE(testing::ProduceAll(bootstrap, Input(kFirstPart, kSecondPart)));
  // Kill a early in the second part, while it works on its partitions.
  const int64_t valid_second = kSecondPart - kFirstPart - MalformedIn(kFirstPart, kSecondPart);
  ASSERT_TRUE(WaitForOutputs(bootstrap, "out", valid_first + valid_second / 8,
                             std::chrono::seconds(60), {&a, &b}))
      << a.Output();
  a.Signal(SIGKILL);
  ASSERT_TRUE(a.Wait(std::chrono::seconds(10)).has_value());
  const int64_t at_kill = testing::EndOffsetSum(bootstrap, "out");
  // More input after the death: b must take over a's partitions to finish.
  ASSERT_TRUE(testing::ProduceAll(bootstrap, Input(kSecondPart, kRecords)));

  ASSERT_TRUE(WaitForOutputs(bootstrap, "out", valid, std::chrono::seconds(90), {&b}))
      << "a was killed at " << at_kill << " outputs\n"
      << b.Output();
  ASSERT_TRUE(WaitForOutputs(bootstrap, "dlq", malformed, std::chrono::seconds(30), {&b}))
      << b.Output();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // room for duplicates to show
  b.Signal(SIGTERM);
  auto code = b.Wait(std::chrono::seconds(30));
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0) << b.Output();
  EXPECT_LT(at_kill, valid_first + valid_second) << "a was killed after the second part";
  // b restored every partition from the changelog: two when it joined, two when a died.
  const std::string& log = b.Output();
  if (const char* dump = std::getenv("SCALE_OUT_TEST_DUMP")) std::ofstream(dump) << log;
  size_t restores = 0;
  for (size_t at = log.find("from the changelog"); at != std::string::npos;
       at = log.find("from the changelog", at + 1)) {
    ++restores;
  }
  EXPECT_GE(restores, static_cast<size_t>(kPartitions)) << log;

  // The reference: one uninterrupted instance without a changelog.
  testing::TempDir ref_dir;
  {
    auto d = testing::StartDaemon(testing::DetectorDaemonYaml(bootstrap, "ref", "ref", "ref-dlq",
                                                              ref_dir.path() + "/state", 200),
                                  "ref.yaml");
    ASSERT_NE(d, nullptr);
    ASSERT_TRUE(WaitForOutputs(bootstrap, "ref", valid, std::chrono::seconds(120)));
    ASSERT_TRUE(WaitForOutputs(bootstrap, "ref-dlq", malformed, std::chrono::seconds(30)));
    ASSERT_TRUE(d->Shutdown().ok());
  }

  auto ref =
      BySource(testing::ReadTopics(bootstrap, {"ref"}, valid, std::chrono::seconds(60)), "ref");
  auto out =
      BySource(testing::ReadTopics(bootstrap, {"out"}, valid, std::chrono::seconds(60)), "out");
  ASSERT_EQ(ref.size(), static_cast<size_t>(valid));
  EXPECT_EQ(out.size(), static_cast<size_t>(valid));
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
  EXPECT_EQ(differing, 0u);
  auto ref_dlq = BySource(
      testing::ReadTopics(bootstrap, {"ref-dlq"}, malformed, std::chrono::seconds(30)), "ref-dlq");
  auto dlq =
      BySource(testing::ReadTopics(bootstrap, {"dlq"}, malformed, std::chrono::seconds(30)), "dlq");
  EXPECT_EQ(ref_dlq.size(), static_cast<size_t>(malformed));
  EXPECT_EQ(dlq, ref_dlq);
}

}  // namespace
}  // namespace osprey
