// State benchmarks (issue 5, section 9), printed as tables:
//  (a) pipeline throughput of a real source runner (embedded broker -> decode -> baseline
//      detector -> output topic) with checkpoints every 1 s against checkpoints off (no store:
//      offsets committed to Kafka only), interleaved repetitions, medians and their ratio;
//  (b) checkpoint time and bytes for 1k / 10k / 100k dirty keys out of 100k keys with state:
//      SnapshotDirty + one synced RocksDB WriteBatch, as the runner does it, and the same with
//      the changelog append first (produce + flush to the embedded broker);
//  (c) restore time of 100 000 keyed states from the store (prefix scan + Restore per key),
//      for baseline and RCF keys.
//   osprey_state_bench [--records N] [--reps R] [--keys K] [--skip-pipeline]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "config/base/clock.h"
#include "config/base/metrics.h"
#include "config/loader.h"
#include "config/options.h"
#include "daemon/changelog.h"
#include "daemon/demo_stream.h"
#include "daemon/kafka/embedded_broker.h"
#include "daemon/kafka/producer.h"
#include "daemon/source_runner.h"
#include "operators/operator_factory.h"
#include "state/memory_store.h"
#include "state/rocksdb_store.h"
#include "state/store.h"

namespace {

using Clock = std::chrono::steady_clock;
using osprey::operators::Event;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

std::string TempDir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("osprey-state-bench-" + std::to_string(::getpid()) + "-" + name);
  std::filesystem::remove_all(dir);
  return dir.string();
}

class NullEmitter final : public osprey::operators::Emitter {
 public:
  void Emit(Event event) override { checksum += event.score.value_or(0); }
  double checksum = 0;
};

// ---- (a) throughput with and without checkpoints ---------------------------------------------

std::string PipelineYaml(const std::string& bootstrap, const std::string& group,
                         const std::string& state_dir) {
  return R"(
kafka:
  bootstrap_servers: ")" + bootstrap + R"("
  group_id: )" + group + R"(
sources:
  bench:
    topics: [bench]
    timestamp: {field: ts, format: epoch_ms}
    key_field: host
    value_fields: [cpu, latency_ms]
    dead_letter: dlq
sinks:
  out: {topic: out}
  dlq: {topic: dlq}
pipelines:
  detect:
    source: bench
    operators: [{type: baseline}]
    sinks: [out]
state: {dir: ")" + state_dir + R"(", checkpoint_interval_ms: 1000}
logging: {level: warn}
)";
}

// Drains the topic through a source runner; records per second from the first record consumed
// to the last. `checkpoints`: with a RocksDB store (checkpoint every 1 s), else none.
double RunPipeline(const std::string& bootstrap, int64_t records, bool checkpoints, int rep) {
  const std::string dir = TempDir("pipeline-" + std::to_string(rep) + (checkpoints ? "c" : "n"));
  auto cfg = osprey::config::LoadConfigString(
      PipelineYaml(bootstrap, "bench-" + std::to_string(rep) + (checkpoints ? "c" : "n"), dir),
      "bench.yaml");
  if (!cfg.ok()) {
    std::fprintf(stderr, "%s\n", cfg.status().ToString().c_str());
    std::exit(1);
  }
  osprey::MetricsRegistry metrics;
  auto producer = osprey::daemon::Producer::Create(cfg->kafka, bootstrap, metrics);
  std::unique_ptr<osprey::state::RocksStore> store;
  if (checkpoints) {
    osprey::state::RocksStoreOptions options;
    options.dir = dir;
    store = std::move(osprey::state::RocksStore::Open(options)).value();
  }
  auto runner = osprey::daemon::SourceRunner::Create(
      *cfg, cfg->sources[0], bootstrap, **producer, metrics, osprey::SystemClock::Default(),
      store.get(), nullptr);
  if (!runner.ok()) {
    std::fprintf(stderr, "%s\n", runner.status().ToString().c_str());
    std::exit(1);
  }
  (*runner)->Start();
  int64_t first = 0;
  Clock::time_point t0;
  auto deadline = Clock::now() + std::chrono::seconds(300);
  while ((first = (*runner)->records_consumed()) == 0) {
    if (Clock::now() > deadline) std::exit(1);
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  t0 = Clock::now();
  while ((*runner)->records_consumed() < records) {
    if (Clock::now() > deadline || !(*runner)->health().ok()) {
      std::fprintf(stderr, "pipeline stalled at %lld\n",
                   static_cast<long long>((*runner)->records_consumed()));
      std::exit(1);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  double rate = static_cast<double>(records - first) / Seconds(t0);
  (*runner)->Stop();
  runner->reset();
  store.reset();
  std::filesystem::remove_all(dir);
  return rate;
}

void PipelineBench(int64_t records, int reps) {
  constexpr int kPartitions = 8;
  osprey::config::EmbeddedBrokerOptions broker_options;
  broker_options.topics = {{"bench", kPartitions}, {"out", kPartitions}, {"dlq", 1}};
  auto broker = osprey::daemon::EmbeddedBroker::Start(broker_options);
  if (!broker.ok()) std::exit(1);
  const std::string bootstrap = (*broker)->bootstrap_servers();
  osprey::config::SourceOptions source;
  source.name = "bench";
  source.topics = {"bench"};
  source.demo = osprey::config::DemoOptions{};
  source.demo->keys = 1000;
  {
    osprey::MetricsRegistry metrics;
    osprey::config::KafkaOptions kafka;
    auto producer = osprey::daemon::Producer::Create(kafka, bootstrap, metrics);
    osprey::daemon::DemoStream::Generator gen(source);
    for (int64_t idx = 0; idx < records; ++idx) {
      auto rec = gen.Next(1'700'000'000'000 + idx);
      if (!(*producer)->Produce("bench", rec.key, rec.payload).ok()) std::exit(1);
    }
    if (!(*producer)->Flush(std::chrono::seconds(120)).ok()) std::exit(1);
  }
  std::vector<double> with, without;
  for (int rep = 0; rep < reps; ++rep) {
    // Interleaved, alternating which goes first, so drift in machine load hits both alike.
    if (rep % 2 == 0) {
      without.push_back(RunPipeline(bootstrap, records, false, rep));
      with.push_back(RunPipeline(bootstrap, records, true, rep));
    } else {
      with.push_back(RunPipeline(bootstrap, records, true, rep));
      without.push_back(RunPipeline(bootstrap, records, false, rep));
    }
    std::fprintf(stderr, "  rep %d: off %.0f/s, 1 s %.0f/s\n", rep, without.back(), with.back());
  }
  std::printf("\n(a) pipeline throughput, %lld demo records (1000 keys), 8 partitions, baseline "
              "detector, every result to an output topic; median of %d interleaved reps\n",
              static_cast<long long>(records), reps);
  std::printf("  %-34s %14s\n", "checkpoints", "records/s");
  std::printf("  %-34s %14.0f\n", "off (no store, Kafka commits)", Median(without));
  std::printf("  %-34s %14.0f\n", "every 1 s (RocksDB, synced WAL)", Median(with));
  std::printf("  %-34s %14.3f\n", "ratio", Median(with) / Median(without));
}

// ---- (b) checkpoint cost by dirty keys, (c) restore time ---------------------------------------

osprey::config::OperatorOptions OperatorFor(osprey::config::OperatorKind kind) {
  osprey::config::OperatorOptions o;
  o.kind = kind;
  o.name = kind == osprey::config::OperatorKind::kRcf ? "rcf" : "baseline";
  // Small forests, so 100k of them (and their checkpoints) stay small: 5 trees of 16 points.
  o.rcf.number_of_trees = 5;
  o.rcf.sample_size = 16;
  o.rcf.random_seed = 7;
  return o;
}

Event EventFor(int64_t key, int64_t n) {
  Event e;
  e.key = "host-" + std::to_string(key);
  e.event_time_ms = n;
  e.values = {static_cast<double>(key % 100) + static_cast<double>(n % 7),
              static_cast<double>(n % 13)};
  return e;
}

struct CheckpointCost {
  double ms = 0;
  size_t bytes = 0;
};

// One checkpoint of everything dirty in `op` into `store`, as the source runner writes it;
// with `changelog`, appended there first (produce + flush to the embedded broker).
CheckpointCost Checkpoint(osprey::operators::Operator& op, const char* family,
                          osprey::state::Store& store,
                          osprey::daemon::Changelog* changelog = nullptr) {
  const osprey::daemon::TopicPartition task{"bench", 0};
  auto start = Clock::now();
  osprey::state::WriteBatch batch;
  size_t bytes = 0;
  op.SnapshotDirty([&](std::string_view key, std::string snapshot) {
    std::string k = osprey::state::EncodeStateKey("p", op.name(), "bench", 0, key);
    bytes += k.size() + snapshot.size();
    if (snapshot.empty()) {
      batch.Delete(family, k);
    } else {
      batch.Put(family, k, snapshot);
    }
    if (changelog != nullptr) {
      changelog->AddState("p", task, family, k,
                          snapshot.empty() ? std::nullopt
                                           : std::optional<std::string_view>(snapshot));
    }
  });
  const std::string offset_key = osprey::state::EncodeStateKey("bench", "", "bench", 0, "");
  batch.Put("offsets", offset_key, "1");
  if (changelog != nullptr) {
    changelog->AddBookkeeping(task, "offsets", offset_key, "1");
    if (!changelog->Commit(batch).ok()) std::exit(1);
  }
  if (!store.Write(batch).ok()) std::exit(1);
  return {Seconds(start) * 1000, bytes};
}

void StateBench(osprey::config::OperatorKind kind, int64_t keys, int reps,
                const std::string& bootstrap) {
  const auto options = OperatorFor(kind);
  const char* family = kind == osprey::config::OperatorKind::kRcf ? "rcf" : "baseline";
  osprey::operators::OperatorContext context{osprey::SystemClock::Default(), {}};
  auto op = std::move(osprey::operators::MakeOperator(options, context)).value();
  NullEmitter sink;
  // Every key gets a few events (RCF: enough to hold points in its trees).
  const int events_per_key = kind == osprey::config::OperatorKind::kRcf ? 8 : 4;
  int64_t n = 0;
  auto start = Clock::now();
  for (int round = 0; round < events_per_key; ++round) {
    for (int64_t k = 0; k < keys; ++k) op->Process(EventFor(k, n++), sink);
  }
  const double build_s = Seconds(start);
  const std::string dir = TempDir(std::string("store-") + family);
  osprey::state::RocksStoreOptions store_options;
  store_options.dir = dir;
  auto store = std::move(osprey::state::RocksStore::Open(store_options)).value();
  CheckpointCost full = Checkpoint(*op, family, *store);  // the first: every key
  // The changelog of pipeline "p" on the embedded broker (its own store: positions only).
  osprey::config::DaemonConfig config;
  config.kafka.group_id = "state-bench";
  config.state.changelog_prefix = "bench";
  osprey::config::SourceOptions source;
  source.name = "bench";
  source.topics = {"bench"};
  osprey::state::MemoryStore positions;
  auto changelog = osprey::daemon::Changelog::Create(config, source, bootstrap, {"p"}, positions);
  if (!changelog.ok()) {
    std::fprintf(stderr, "%s\n", changelog.status().ToString().c_str());
    std::exit(1);
  }
  // Warm-up: the producer's first append also connects and gets its producer id (~1 s).
  op->Process(EventFor(0, n++), sink);
  Checkpoint(*op, family, *store, changelog->get());

  std::printf("\n(b) checkpoint cost, %s operator%s, %lld keys with state (built in %.1f s); "
              "median of %d\n",
              family, kind == osprey::config::OperatorKind::kRcf ? " (5 trees x 16 points)" : "",
              static_cast<long long>(keys), build_s, reps);
  std::printf("  %-12s %12s %20s %14s %14s\n", "dirty keys", "time ms", "+changelog ms", "bytes",
              "bytes/key");
  for (int64_t dirty : {int64_t{1000}, int64_t{10000}, int64_t{100000}}) {
    if (dirty > keys) continue;
    std::vector<double> ms, with_changelog_ms;
    size_t bytes = 0;
    for (int rep = 0; rep < reps; ++rep) {
      // Spread the dirty keys over the key space.
      const int64_t stride = keys / dirty;
      for (int64_t idx = 0; idx < dirty; ++idx) op->Process(EventFor(idx * stride, n++), sink);
      CheckpointCost c = Checkpoint(*op, family, *store);
      ms.push_back(c.ms);
      bytes = c.bytes;
      for (int64_t idx = 0; idx < dirty; ++idx) op->Process(EventFor(idx * stride, n++), sink);
      with_changelog_ms.push_back(Checkpoint(*op, family, *store, changelog->get()).ms);
    }
    std::printf("  %-12lld %12.1f %20.1f %14zu %14.0f\n", static_cast<long long>(dirty),
                Median(ms), Median(with_changelog_ms), bytes,
                static_cast<double>(bytes) / static_cast<double>(dirty));
  }
  std::printf("  (first checkpoint, all %lld keys: %.1f ms, %zu bytes)\n",
              static_cast<long long>(keys), full.ms, full.bytes);

  // (c) Restore: reopen the store, scan the task's prefix, Restore every key into a new operator.
  store.reset();
  std::vector<double> open_ms, restore_ms;
  size_t restored = 0;
  for (int rep = 0; rep < reps; ++rep) {
    auto t0 = Clock::now();
    auto reopened = std::move(osprey::state::RocksStore::Open(store_options)).value();
    open_ms.push_back(Seconds(t0) * 1000);
    auto t1 = Clock::now();
    auto fresh = std::move(osprey::operators::MakeOperator(options, context)).value();
    auto rows = reopened->Scan(family, osprey::state::EncodeStatePrefix("p", fresh->name(),
                                                                        "bench", 0));
    if (!rows.ok()) std::exit(1);
    for (const auto& [encoded, snapshot] : *rows) {
      auto key = osprey::state::DecodeStateKey(encoded);
      if (!key.ok() || !fresh->Restore(key->key, snapshot).ok()) std::exit(1);
    }
    restore_ms.push_back(Seconds(t1) * 1000);
    restored = fresh->key_count();
  }
  std::printf("\n(c) restore, %s operator: %zu keyed states; median of %d\n", family, restored,
              reps);
  std::printf("  %-34s %12.1f ms\n", "open the store", Median(open_ms));
  std::printf("  %-34s %12.1f ms (%.2f us/key)\n", "scan + Restore every key", Median(restore_ms),
              Median(restore_ms) * 1000 / static_cast<double>(std::max<size_t>(restored, 1)));
  std::filesystem::remove_all(dir);
}

// The snapshot of one key of a default RCF operator (50 trees of 256 points, 2 values) after
// 2000 events: what one changelog record carries for such a key.
void DefaultRcfSnapshotSize() {
  osprey::config::OperatorOptions o;
  o.kind = osprey::config::OperatorKind::kRcf;
  o.name = "rcf";
  osprey::operators::OperatorContext context{osprey::SystemClock::Default(), {}};
  auto op = std::move(osprey::operators::MakeOperator(o, context)).value();
  NullEmitter sink;
  for (int64_t n = 0; n < 2000; ++n) op->Process(EventFor(1, n), sink);
  size_t bytes = 0;
  op->SnapshotDirty([&](std::string_view, std::string snapshot) { bytes += snapshot.size(); });
  std::printf("\nsnapshot of one key of a default RCF operator (50 trees x 256, 2 values): %zu "
              "bytes\n", bytes);
}

}  // namespace

int main(int argc, char** argv) {
  int64_t records = 400000;
  int reps = 5;
  int64_t keys = 100000;
  bool pipeline = true;
  for (int idx = 1; idx < argc; ++idx) {
    if (std::strcmp(argv[idx], "--skip-pipeline") == 0) pipeline = false;
    if (idx + 1 >= argc) continue;
    if (std::strcmp(argv[idx], "--records") == 0) records = std::stoll(argv[idx + 1]);
    if (std::strcmp(argv[idx], "--reps") == 0) reps = std::stoi(argv[idx + 1]);
    if (std::strcmp(argv[idx], "--keys") == 0) keys = std::stoll(argv[idx + 1]);
  }
  DefaultRcfSnapshotSize();
  {
    // The changelog topic for the "+changelog" column (the mock broker keeps its last ~5 MB).
    osprey::config::EmbeddedBrokerOptions broker_options;
    broker_options.topics = {{"bench", 1}, {"bench.p.changelog", 1}};
    auto broker = osprey::daemon::EmbeddedBroker::Start(broker_options);
    if (!broker.ok()) return 1;
    StateBench(osprey::config::OperatorKind::kBaseline, keys, reps, (*broker)->bootstrap_servers());
    StateBench(osprey::config::OperatorKind::kRcf, keys, reps, (*broker)->bootstrap_servers());
  }
  if (pipeline) PipelineBench(records, reps);
  return 0;
}
