// State-store faults inside the daemon: a store that cannot be written (a full disk, injected
// below RocksDB) stops consumption with a clear reason and acknowledges nothing it did not store;
// a snapshot that was altered, or written by a newer snapshot version, is refused with an error
// naming the pipeline, operator, partition and key, and nothing in the store is reset.
#include <chrono>
#include <set>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "config/loader.h"
#include "daemon/daemon.h"
#include "state/rocksdb_store.h"
#include "tests/integration/harness.h"
#include "tests/integration/kafka_test_util.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/http_client.h"

namespace osprey {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::KafkaRecord;

constexpr int kPartitions = 2;

std::string Yaml(const std::string& bootstrap, const std::string& state_dir,
                 const std::string& group) {
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
    value_fields: [x, y]
    dead_letter: dlq
sinks:
  out: {topic: out}
  windows: {topic: windows}
  hot: {topic: hot, select: alerts}
  dlq: {topic: dlq}
pipelines:
  det:
    source: m
    operators:
      - {type: baseline, half_life_events: 20, warmup_events: 5}
      - {type: rcf, number_of_trees: 5, sample_size: 32, shingle_size: 1, random_seed: 3}
    sinks: [out]
  win:
    source: m
    operators:
      - {type: window, kind: tumbling, size_ms: 1000, aggregates: [{fn: count}, {fn: mean, field: x}]}
    sinks: [windows]
  hot:
    source: m
    operators:
      - {type: hotspots, window_size: 200, scan_radius: 1.0, min_points: 15, alert_density: 5}
    sinks: [hot]
http: {listen: "127.0.0.1:0"}
state: {dir: ")" +
         state_dir + R"(", checkpoint_interval_ms: 100}
)";
}

std::vector<KafkaRecord> Records(int from, int to) {
  std::vector<KafkaRecord> out;
  for (int i = from; i < to; ++i) {
    KafkaRecord r;
    r.topic = "in";
    r.partition = i % kPartitions;
    int host = i % 6;  // h-k always on partition k % 2
    r.value = R"({"ts":)" + std::to_string(1000 + 10 * i) + R"(,"host":"h)" + std::to_string(host) +
              R"(","x":)" + std::to_string(host + (i % 7) * 0.1) + R"(,"y":)" +
              std::to_string(i % 5) + "}";
    out.push_back(std::move(r));
  }
  return out;
}

bool WaitFor(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!cond()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(50));
  }
  return true;
}

int64_t Sum(const std::map<int32_t, int64_t>& offsets) {
  int64_t sum = 0;
  for (const auto& [p, o] : offsets) sum += std::max<int64_t>(o, 0);
  return sum;
}

std::set<std::string> Sources(const std::vector<KafkaRecord>& records, int* duplicates) {
  std::set<std::string> out;
  for (const auto& r : records) {
    auto it = r.headers.find("osprey.source");
    if (it != r.headers.end() && !out.insert(it->second).second) ++*duplicates;
  }
  return out;
}

// records_consumed of the only source, from /readyz.
int64_t RecordsConsumed(uint16_t port) {
  std::string body = testing::HttpGet(port, "/readyz").body;
  auto pos = body.find("\"records_consumed\":");
  return pos == std::string::npos ? -1 : std::stoll(body.substr(pos + 19));
}

TEST(StateFaultsTest, WriteFailureStopsConsumingAndAcknowledgesNothingUnstored) {
  auto broker = testing::StartBroker(
      {{"in", kPartitions}, {"out", 2}, {"windows", 1}, {"hot", 1}, {"dlq", 1}});
  ASSERT_NE(broker, nullptr);
  const std::string bootstrap = broker->bootstrap_servers();
  testing::TempDir dir;
  auto faults = std::make_shared<state::WriteFaults>();
  daemon::DaemonHooks hooks;
  hooks.store_faults = faults;

  ASSERT_TRUE(testing::ProduceAll(bootstrap, Records(0, 400)));
  int64_t acknowledged = 0;
  {
    auto d = testing::StartDaemon(Yaml(bootstrap, dir.path(), "faults"), "faults.yaml", hooks);
    ASSERT_NE(d, nullptr);
    // Everything so far processed, checkpointed and committed.
    ASSERT_TRUE(WaitFor(
        [&] {
          return Sum(testing::CommittedOffsets(bootstrap, "faults", "in", kPartitions)) == 400;
        },
        seconds(60)));
    EXPECT_EQ(testing::HttpGet(d->http_port(), "/readyz").status, 200);

    faults->fail = true;  // the disk is full from now on
    ASSERT_TRUE(testing::ProduceAll(bootstrap, Records(400, 700)));
    ASSERT_TRUE(WaitFor([&] { return !d->health().ok(); }, seconds(30)))
        << "the daemon kept running on a store it cannot write";
    const std::string reason = d->health().message();
    EXPECT_NE(reason.find("checkpoint failed"), std::string::npos) << reason;
    EXPECT_NE(reason.find("No space left on device"), std::string::npos) << reason;
    EXPECT_NE(reason.find(dir.path()), std::string::npos) << "names the store: " << reason;
    auto ready = testing::HttpGet(d->http_port(), "/readyz");
    EXPECT_EQ(ready.status, 503);
    EXPECT_NE(ready.body.find("No space left on device"), std::string::npos) << ready.body;

    // Consumption stopped: new records are not read, offsets are not committed.
    const int64_t consumed = RecordsConsumed(d->http_port());
    ASSERT_TRUE(testing::ProduceAll(bootstrap, Records(700, 800)));
    std::this_thread::sleep_for(milliseconds(1500));
    EXPECT_EQ(RecordsConsumed(d->http_port()), consumed);
    EXPECT_LT(consumed, 800);
    acknowledged = Sum(testing::CommittedOffsets(bootstrap, "faults", "in", kPartitions));
    EXPECT_EQ(acknowledged, 400) << "offsets of records whose state was not stored were committed";
    EXPECT_FALSE(d->Shutdown().ok());
  }
  // The disk has room again: a restart resumes from the last stored checkpoint and every record
  // has exactly one result (what the failed run wrote after it is recognised, not repeated).
  faults->fail = false;
  auto d = testing::StartDaemon(Yaml(bootstrap, dir.path(), "faults"), "faults.yaml");
  ASSERT_NE(d, nullptr);
  auto out = testing::ReadTopics(bootstrap, {"out"}, 800, seconds(60), milliseconds(1000));
  int duplicates = 0;
  auto sources = Sources(out, &duplicates);
  EXPECT_EQ(duplicates, 0);
  EXPECT_EQ(sources.size(), 800u);
  EXPECT_EQ(out.size(), 800u);
  ASSERT_TRUE(d->Shutdown().ok());
}

// A key of `family` (the first host's when there is one), encoded and decoded.
std::pair<std::string, state::StateKey> PickKey(state::RocksStore& store,
                                                const std::string& family) {
  std::pair<std::string, state::StateKey> out, any;
  Status st = store.ForEach(family, "", "", [&](std::string_view key, std::string_view) {
    auto decoded = state::DecodeStateKey(key);
    if (!decoded.ok()) return true;
    if (any.first.empty()) any = {std::string(key), *decoded};
    if (decoded->key.empty() || decoded->key[0] != 'h') return true;
    out = {std::string(key), *decoded};
    return false;
  });
  if (out.first.empty()) out = any;  // hot spots over all keys keep one detector, key ""
  EXPECT_TRUE(st.ok()) << st.ToString();
  return out;
}

TEST(StateFaultsTest, CorruptOrNewerSnapshotsAreRefusedNamingTheKeyAndNothingIsReset) {
  auto broker = testing::StartBroker(
      {{"in", kPartitions}, {"out", 2}, {"windows", 1}, {"hot", 1}, {"dlq", 1}});
  ASSERT_NE(broker, nullptr);
  const std::string bootstrap = broker->bootstrap_servers();
  testing::TempDir dir;
  ASSERT_TRUE(testing::ProduceAll(bootstrap, Records(0, 300)));
  {
    auto d = testing::StartDaemon(Yaml(bootstrap, dir.path(), "c0"), "corrupt.yaml");
    ASSERT_NE(d, nullptr);
    ASSERT_TRUE(WaitFor(
        [&] { return Sum(testing::CommittedOffsets(bootstrap, "c0", "in", kPartitions)) == 300; },
        seconds(60)));
    ASSERT_TRUE(d->Shutdown().ok());
  }
  const auto offsets_before = [&] {
    auto store = state::RocksStore::OpenReadOnly(dir.path());
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return *(*store)->Scan("offsets", "");
  }();
  ASSERT_EQ(offsets_before.size(), 2u);

  int run = 0;
  for (const std::string family : {"baseline", "rcf", "window", "hotspots"}) {
    for (const std::string fault : {"flipped byte", "newer version"}) {
      SCOPED_TRACE(family + ": " + fault);
      std::string key, original;
      state::StateKey decoded;
      {
        auto store = state::RocksStore::Open({.dir = dir.path()});
        ASSERT_TRUE(store.ok()) << store.status().ToString();
        std::tie(key, decoded) = PickKey(**store, family);
        ASSERT_FALSE(key.empty()) << "no key in family " << family;
        original = *(*store)->GetRaw(family, key);
        if (fault == "flipped byte") {
          std::string bad = original;
          bad[bad.size() / 2] = static_cast<char>(bad[bad.size() / 2] ^ 0x04);
          ASSERT_TRUE((*store)->PutRaw(family, key, bad).ok());
        } else {
          std::string snapshot = *(*store)->Get(family, key);
          snapshot[0] =
              static_cast<char>(snapshot[0] + 1);  // every snapshot opens with its version
          state::WriteBatch batch;
          batch.Put(family, key, snapshot);
          ASSERT_TRUE((*store)->Write(batch).ok());
        }
      }
      const std::string corrupted = [&] {
        auto store = state::RocksStore::OpenReadOnly(dir.path());
        return *(*store)->GetRaw(family, key);
      }();
      {
        auto d = testing::StartDaemon(Yaml(bootstrap, dir.path(), "c" + std::to_string(++run)),
                                      "corrupt.yaml");
        ASSERT_NE(d, nullptr);
        ASSERT_TRUE(WaitFor([&] { return !d->health().ok(); }, seconds(30)))
            << "a bad snapshot was accepted";
        const std::string msg = d->health().ToString();
        EXPECT_EQ(d->health().code(), Status::Code::kCorruption) << msg;
        EXPECT_NE(msg.find("pipeline '" + decoded.pipeline + "'"), std::string::npos) << msg;
        EXPECT_NE(msg.find("in [" + std::to_string(decoded.partition) + "]"), std::string::npos)
            << msg;
        EXPECT_NE(msg.find("operator '" + decoded.op + "'"), std::string::npos) << msg;
        EXPECT_NE(msg.find("key '" + state::PrintableBytes(decoded.key) + "'"), std::string::npos)
            << msg;
        EXPECT_NE(msg.find(fault == "flipped byte" ? "checksum mismatch" : "version"),
                  std::string::npos)
            << msg;
        auto ready = testing::HttpGet(d->http_port(), "/readyz");
        EXPECT_EQ(ready.status, 503);
        EXPECT_NE(ready.body.find("pipeline '" + decoded.pipeline + "'"), std::string::npos)
            << ready.body;
        EXPECT_FALSE(d->Shutdown().ok());
      }
      // Nothing was reset or overwritten: the bad value and the offsets are as they were.
      auto store = state::RocksStore::Open({.dir = dir.path()});
      ASSERT_TRUE(store.ok()) << store.status().ToString();
      EXPECT_EQ(*(*store)->GetRaw(family, key), corrupted);
      EXPECT_EQ(*(*store)->Scan("offsets", ""), offsets_before);
      ASSERT_TRUE((*store)->PutRaw(family, key, original).ok());  // repair for the next case
    }
  }
  // Repaired, the store resumes where it was: only the new records are processed.
  ASSERT_TRUE(testing::ProduceAll(bootstrap, Records(300, 400)));
  auto d = testing::StartDaemon(Yaml(bootstrap, dir.path(), "c-final"), "corrupt.yaml");
  ASSERT_NE(d, nullptr);
  auto out = testing::ReadTopics(bootstrap, {"out"}, 400, seconds(60), milliseconds(1000));
  EXPECT_EQ(out.size(), 400u);
  EXPECT_TRUE(d->health().ok()) << d->health().ToString();
  ASSERT_TRUE(d->Shutdown().ok());
}

}  // namespace
}  // namespace osprey
