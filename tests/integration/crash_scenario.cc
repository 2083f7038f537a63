#include "tests/integration/crash_scenario.h"

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "state/rocksdb_store.h"
#include "tests/integration/harness.h"
#include "tests/integration/kafka_test_util.h"
#include "tests/integration/subprocess.h"
#include "tests/testing/fake_clock.h"

namespace osprey::testing {
namespace {

constexpr int kMalformedEvery = 97;

using Clock = std::chrono::steady_clock;

}  // namespace

std::string DetectorDaemonYaml(const std::string& bootstrap, const std::string& group,
                               const std::string& out, const std::string& dlq,
                               const std::string& state_dir, int checkpoint_ms,
                               const std::string& changelog_prefix) {
  const std::string changelog =
      changelog_prefix.empty() ? "" : ", changelog: true, changelog_prefix: " + changelog_prefix;
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
state: {dir: ")" + state_dir + R"(", checkpoint_interval_ms: )" + std::to_string(checkpoint_ms) +
         changelog + R"(}
logging: {level: info}
)";
}

namespace {

// Host k always lands on the same input partition, so each key's order is its partition's.
std::vector<KafkaRecord> Input(const CrashScenario& s) {
  std::vector<KafkaRecord> out;
  out.reserve(s.records);
  for (int i = 0; i < s.records; ++i) {
    KafkaRecord r;
    r.topic = "in";
    r.partition = i % s.input_partitions;
    int host = i % s.hosts;
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

// Sum of the low watermarks of `topic`: non-zero when the broker dropped records (the mock
// broker keeps a bounded log per partition), which would make the comparison meaningless.
int64_t StartOffsetSum(const std::string& bootstrap, const std::string& topic, int partitions) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err, sizeof(err));
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  if (rk == nullptr) return -1;
  int64_t sum = 0;
  for (int p = 0; p < partitions; ++p) {
    int64_t low = 0, high = 0;
    if (rd_kafka_query_watermark_offsets(rk, topic.c_str(), p, &low, &high, 5000) !=
        RD_KAFKA_RESP_ERR_NO_ERROR) {
      sum = -1;
      break;
    }
    sum += low;
  }
  rd_kafka_destroy(rk);
  return sum;
}

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// Operator state and offsets of a stopped daemon's store: family -> key -> value.
std::map<std::string, std::map<std::string, std::string>> StateOf(const std::string& dir) {
  std::map<std::string, std::map<std::string, std::string>> out;
  state::RocksStoreOptions options;
  options.dir = dir;
  auto store = state::RocksStore::Open(options);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  if (!store.ok()) return out;
  for (const char* family : {"baseline", "rcf", "offsets"}) {
    auto rows = (*store)->Scan(family, "");
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    if (!rows.ok()) continue;
    for (auto& [k, v] : *rows) out[family][k] = v;
  }
  return out;
}

}  // namespace

void RunCrashScenario(const CrashScenario& s) {
  auto log = [&](const std::string& line) {
    if (s.verbose) std::fprintf(stderr, "[crash] %s\n", line.c_str());
  };
  const auto start = Clock::now();
  auto broker = StartBroker({{"in", s.input_partitions},
                             {"ref", s.output_partitions},
                             {"ref-dlq", 1},
                             {"out", s.output_partitions},
                             {"dlq", 1}});
  ASSERT_NE(broker, nullptr);
  const std::string bootstrap = broker->bootstrap_servers();
  ASSERT_TRUE(ProduceAll(bootstrap, Input(s)));
  ASSERT_EQ(StartOffsetSum(bootstrap, "in", s.input_partitions), 0)
      << "the broker dropped input records: use more input partitions";
  const int malformed = (s.records - 5 + kMalformedEvery - 1) / kMalformedEvery;
  const size_t valid = s.records - malformed;
  // Generous: ~2000 events/s is far below the slowest machine seen.
  const auto budget = std::chrono::seconds(std::max(120, s.records / 2000));
  log("produced " + std::to_string(s.records) + " records in " + std::to_string(Seconds(start)) +
      " s");

  // The uninterrupted run, in-process.
  TempDir ref_dir;
  const std::string ref_state = ref_dir.path() + "/state";
  auto phase = Clock::now();
  {
    auto d = StartDaemon(DetectorDaemonYaml(bootstrap, "ref", "ref", "ref-dlq", ref_state,
                                            s.checkpoint_interval_ms),
                         "ref.yaml");
    ASSERT_NE(d, nullptr);
    auto deadline = Clock::now() + budget;
    while ((EndOffsetSum(bootstrap, "ref") < static_cast<int64_t>(valid) ||
            EndOffsetSum(bootstrap, "ref-dlq") < malformed) &&
           Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_TRUE(d->Shutdown().ok());
  }
  log("reference run: " + std::to_string(Seconds(phase)) + " s");

  // The crashing run: a child ospreyd, killed when it has written a seeded share of its output.
  TempDir dir;
  const std::string state_dir = dir.path() + "/state";
  std::string config_path = dir.path() + "/crash.yaml";
  std::ofstream(config_path) << DetectorDaemonYaml(bootstrap, "crash", "out", "dlq", state_dir,
                                                   s.checkpoint_interval_ms);
  const std::string ospreyd = std::string(OSPREY_BIN_DIR) + "/ospreyd";
  std::mt19937 rng(s.seed);
  std::uniform_real_distribution<double> share(s.min_share, s.max_share);
  int kills = 0;
  phase = Clock::now();
  for (double reached = 0; kills < s.kills; ++kills) {
    reached = std::min(0.95, reached + share(rng));
    Subprocess child({ospreyd, "--config", config_path});
    auto deadline = Clock::now() + budget;
    while (EndOffsetSum(bootstrap, "out") < static_cast<int64_t>(reached * valid)) {
      ASSERT_LT(Clock::now(), deadline) << child.Output();
      ASSERT_FALSE(child.Wait(std::chrono::milliseconds(5)).has_value()) << child.Output();
    }
    child.Signal(SIGKILL);
    ASSERT_TRUE(child.Wait(std::chrono::seconds(10)).has_value());
    log("kill " + std::to_string(kills + 1) + " at " +
        std::to_string(EndOffsetSum(bootstrap, "out")) + " outputs (" +
        std::to_string(Seconds(phase)) + " s into the crashing run)");
    if (const char* dump = std::getenv("CRASH_TEST_DUMP")) {
      std::ofstream(std::string(dump) + "-" + std::to_string(kills) + ".log") << child.Output();
    }
  }
  // Every input consumed and checkpointed: the group's committed offsets (committed right after
  // each checkpoint) are at the end of every input partition. The output alone does not say so:
  // when a kill came after the last output was written, the output is complete before the last
  // run has even been assigned its partitions.
  auto all_consumed = [&] {
    int64_t sum = 0;
    for (const auto& [partition, offset] :
         CommittedOffsets(bootstrap, "crash", "in", s.input_partitions)) {
      sum += std::max<int64_t>(offset, 0);
    }
    return sum >= s.records;
  };
  {
    Subprocess child({ospreyd, "--config", config_path});
    auto deadline = Clock::now() + budget;
    while (EndOffsetSum(bootstrap, "out") < static_cast<int64_t>(valid) ||
           EndOffsetSum(bootstrap, "dlq") < malformed || !all_consumed()) {
      ASSERT_LT(Clock::now(), deadline) << child.Output();
      // Drains the child's log pipe: a full pipe would block its logging, and it.
      ASSERT_FALSE(child.Wait(std::chrono::milliseconds(100)).has_value()) << child.Output();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // room for duplicates to show
    child.Signal(SIGTERM);
    auto code = child.Wait(std::chrono::seconds(30));
    ASSERT_TRUE(code.has_value());
    EXPECT_EQ(*code, 0) << child.Output();
  }
  log("crashing run with " + std::to_string(kills) + " kills: " + std::to_string(Seconds(phase)) +
      " s");

  for (const char* topic : {"ref", "out"}) {
    EXPECT_EQ(StartOffsetSum(bootstrap, topic, s.output_partitions), 0)
        << "the broker dropped records of '" << topic << "': use more output partitions";
  }
  const auto read_budget = std::chrono::seconds(std::max(60, s.records / 10000));
  auto ref = BySource(ReadTopics(bootstrap, {"ref"}, valid, read_budget), "ref");
  auto out = BySource(ReadTopics(bootstrap, {"out"}, valid, read_budget), "out");
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

  auto ref_dlq = BySource(ReadTopics(bootstrap, {"ref-dlq"}, malformed, std::chrono::seconds(30)),
                          "ref-dlq");
  auto dlq = BySource(ReadTopics(bootstrap, {"dlq"}, malformed, std::chrono::seconds(30)), "dlq");
  EXPECT_EQ(ref_dlq.size(), static_cast<size_t>(malformed));
  EXPECT_EQ(dlq, ref_dlq);
  log("compared " + std::to_string(out.size()) + " outputs and " + std::to_string(dlq.size()) +
      " dead letters");

  if (s.compare_state) {
    auto ref_state_rows = StateOf(ref_state);
    auto got_state_rows = StateOf(state_dir);
    for (const char* family : {"baseline", "rcf", "offsets"}) {
      const auto& want = ref_state_rows[family];
      const auto& got = got_state_rows[family];
      EXPECT_FALSE(want.empty()) << family;
      EXPECT_EQ(got.size(), want.size()) << family;
      size_t diff = 0;
      for (const auto& [k, v] : want) {
        auto it = got.find(k);
        if (it == got.end() || it->second != v) ++diff;
      }
      EXPECT_EQ(diff, 0u) << "state family '" << family << "': keys differing from the "
                          << "uninterrupted run";
      log("state family '" + std::string(family) + "': " + std::to_string(want.size()) +
          " keys, " + std::to_string(diff) + " differing");
    }
  }
  log("total " + std::to_string(Seconds(start)) + " s");
}

}  // namespace osprey::testing
