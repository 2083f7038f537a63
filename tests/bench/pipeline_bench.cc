// Foundation benchmark: how much of librdkafka's raw consume rate survives decoding and the
// baseline detector. Produces N demo records into the embedded broker once, then, in one run,
// drains them three ways from the same broker (raw consume; consume + decode; consume + decode
// + baseline detector) and prints the medians of R repetitions with their ratio to raw. Then,
// per core without Kafka, decode alone and decode + each operator (baseline; tumbling and hopping
// windows over 10 000 keys; hot spots in 2 and 4 dimensions), each with its ratio to in-memory
// decode and to the decode-only path (consume + decode) of the same run.
//   osprey_pipeline_bench [--records N] [--reps R] [--partitions P]
// Everything runs on one consumer thread, as in the daemon's source runner.
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "config/options.h"
#include "daemon/decode/decoder.h"
#include "daemon/demo_stream.h"
#include "daemon/kafka/embedded_broker.h"
#include "daemon/kafka/kafka_common.h"
#include "daemon/kafka/producer.h"
#include "operators/operator_factory.h"

namespace {

using osprey::operators::Event;

class CountingEmitter final : public osprey::operators::Emitter {
 public:
  void Emit(Event event) override {
    ++count;
    checksum += event.score.value_or(0);
  }
  int64_t count = 0;
  double checksum = 0;
};

enum class Mode { kRaw, kDecode, kDetect };

double Drain(const std::string& bootstrap, const osprey::config::SourceOptions& source,
             int partitions, int64_t n, Mode mode) {
  // The daemon's own consumer configuration (osprey::daemon::MakeKafkaConf), so the baseline
  // and the pipeline are measured with the settings ospreyd runs with.
  osprey::config::KafkaOptions kafka;
  kafka.group_id = "bench";
  auto conf = osprey::daemon::MakeKafkaConf(kafka, osprey::daemon::ClientKind::kConsumer, bootstrap);
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf->release(), err, sizeof(err));
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(list, source.topics[0].c_str(), p)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
  }
  rd_kafka_assign(rk, list);
  rd_kafka_topic_partition_list_destroy(list);

  auto decoder = osprey::daemon::MakeDecoder(source);
  osprey::config::OperatorOptions op_options;
  op_options.name = "baseline";
  auto op = std::move(osprey::operators::MakeOperator(op_options, {osprey::SystemClock::Default(), {}})).value();
  CountingEmitter sink;
  int64_t got = 0, decoded = 0;
  auto start = std::chrono::steady_clock::now();
  int idle_polls = 0;
  while (got < n) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
    if (m == nullptr) {
      if (++idle_polls > 100) {
        std::fprintf(stderr, "stalled after %lld of %lld records\n", static_cast<long long>(got),
                     static_cast<long long>(n));
        std::exit(1);
      }
      continue;
    }
    idle_polls = 0;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      ++got;
      if (mode != Mode::kRaw) {
        osprey::daemon::RawRecord rec;
        rec.topic = source.topics[0];
        rec.partition = m->partition;
        rec.offset = m->offset;
        rec.payload = std::string_view(static_cast<const char*>(m->payload), m->len);
        rec.key = std::string_view(static_cast<const char*>(m->key), m->key_len);
        Event event;
        osprey::daemon::DecodeFailure failure;
        if ((*decoder)->Decode(rec, event, failure)) {
          ++decoded;
          if (mode == Mode::kDetect) op->Process(std::move(event), sink);
        }
      }
    }
    rd_kafka_message_destroy(m);
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  if (mode != Mode::kRaw && decoded != n) {
    std::fprintf(stderr, "warning: decoded %lld of %lld\n", static_cast<long long>(decoded),
                 static_cast<long long>(n));
  }
  return static_cast<double>(n) / secs;
}

// Decode (+ an operator) over records already in memory: the CPU cost per record without Kafka.
// `op_options` null = decode only.
double InMemory(const osprey::config::SourceOptions& source,
                const std::vector<osprey::daemon::DemoStream::Record>& records,
                const osprey::config::OperatorOptions* op_options) {
  auto decoder = osprey::daemon::MakeDecoder(source);
  std::unique_ptr<osprey::operators::Operator> op;
  if (op_options != nullptr) {
    auto made = osprey::operators::MakeOperator(*op_options, {osprey::SystemClock::Default(), {}});
    if (!made.ok()) {
      std::fprintf(stderr, "%s\n", made.status().ToString().c_str());
      std::exit(1);
    }
    op = std::move(made).value();
  }
  CountingEmitter sink;
  auto start = std::chrono::steady_clock::now();
  int64_t offset = 0;
  for (const auto& r : records) {
    osprey::daemon::RawRecord rec;
    rec.topic = source.topics[0];
    rec.partition = 0;
    rec.offset = offset++;
    rec.payload = r.payload;
    rec.key = r.key;
    Event event;
    osprey::daemon::DecodeFailure failure;
    if ((*decoder)->Decode(rec, event, failure) && op) op->Process(std::move(event), sink);
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return static_cast<double>(records.size()) / secs;
}

// The window benchmark's operators: the full aggregate set on both value fields.
osprey::config::OperatorOptions WindowOp(osprey::config::WindowKind kind) {
  using osprey::config::AggregateFn;
  osprey::config::OperatorOptions o;
  o.name = "window";
  o.kind = osprey::config::OperatorKind::kWindow;
  o.window.kind = kind;
  o.window.size_ms = 60'000;
  o.window.slide_ms = 10'000;  // hopping: 6 windows per event
  o.window.max_out_of_orderness_ms = 1'000;
  o.window.idle_timeout_ms = 0;
  o.window.aggregates = {{AggregateFn::kCount, "", 0.5}};
  for (const char* field : {"cpu", "latency_ms"}) {
    for (AggregateFn fn : {AggregateFn::kSum, AggregateFn::kMean, AggregateFn::kMin,
                           AggregateFn::kMax, AggregateFn::kVariance, AggregateFn::kStddev,
                           AggregateFn::kFirst, AggregateFn::kLast, AggregateFn::kDistinctCount}) {
      o.window.aggregates.push_back({fn, field, 0.5});
    }
    o.window.aggregates.push_back({AggregateFn::kQuantile, field, 0.5});
    o.window.aggregates.push_back({AggregateFn::kQuantile, field, 0.99});
  }
  return o;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int64_t records = 400000;
  int reps = 3;
  int partitions = 8;
  for (int idx = 1; idx + 1 < argc; idx += 2) {
    if (std::strcmp(argv[idx], "--records") == 0) records = std::stoll(argv[idx + 1]);
    if (std::strcmp(argv[idx], "--reps") == 0) reps = std::stoi(argv[idx + 1]);
    if (std::strcmp(argv[idx], "--partitions") == 0) partitions = std::stoi(argv[idx + 1]);
  }
  osprey::config::SourceOptions source;
  source.name = "bench";
  source.topics = {"bench"};
  source.timestamp_field = "ts";
  source.key_field = "host";
  source.value_fields = {"cpu", "latency_ms"};
  source.dead_letter = "dlq";
  source.demo = osprey::config::DemoOptions{};
  source.demo->keys = 1000;

  osprey::config::EmbeddedBrokerOptions broker_options;
  broker_options.topics = {{"bench", partitions}};
  auto broker = osprey::daemon::EmbeddedBroker::Start(broker_options);
  if (!broker.ok()) {
    std::fprintf(stderr, "%s\n", broker.status().ToString().c_str());
    return 1;
  }
  osprey::MetricsRegistry metrics;
  osprey::config::KafkaOptions kafka;
  auto producer = osprey::daemon::Producer::Create(kafka, (*broker)->bootstrap_servers(), metrics);
  osprey::daemon::DemoStream::Generator gen(source);
  size_t bytes = 0;
  std::vector<osprey::daemon::DemoStream::Record> in_memory;
  for (int64_t idx = 0; idx < records; ++idx) {
    auto rec = gen.Next(1'700'000'000'000 + idx);
    bytes += rec.payload.size();
    in_memory.push_back(rec);
    if (!(*producer)->Produce("bench", rec.key, rec.payload).ok()) return 1;
  }
  if (!(*producer)->Flush(std::chrono::seconds(120)).ok()) return 1;
  // librdkafka's mock broker keeps a bounded log per partition (it drops the oldest segments
  // past ~100k records or a few MB); count what it holds rather than what was written.
  int64_t held = 0;
  for (int p = 0; p < partitions; ++p) {
    int64_t low = 0, high = 0;
    rd_kafka_query_watermark_offsets((*producer)->handle(), "bench", p, &low, &high, 10000);
    held += high - low;
  }
  if (held != records) {
    std::fprintf(stderr, "the broker holds %lld of %lld records; use more partitions\n",
                 static_cast<long long>(held), static_cast<long long>(records));
    return 1;
  }
  std::printf("records: %lld (mean %.0f bytes, %d partition%s), repetitions: %d\n\n",
              static_cast<long long>(records), static_cast<double>(bytes) / records, partitions,
              partitions == 1 ? "" : "s", reps);

  std::vector<double> raw, decode, detect, mem_decode, mem_detect, mem_tumbling, mem_hopping,
      mem_hotspots, mem_hotspots4;
  osprey::config::OperatorOptions baseline_op;
  baseline_op.name = "baseline";
  const auto tumbling_op = WindowOp(osprey::config::WindowKind::kTumbling);
  const auto hopping_op = WindowOp(osprey::config::WindowKind::kHopping);
  osprey::config::OperatorOptions hotspots_op;
  hotspots_op.name = "hotspots";
  hotspots_op.kind = osprey::config::OperatorKind::kHotspots;
  hotspots_op.hotspots.window_size = 1000;
  hotspots_op.hotspots.scan_radius = 2.0;
  hotspots_op.hotspots.min_points = 20;
  // The window rows run over 10 000 keys (the operators issue's set-up).
  osprey::config::SourceOptions source10k = source;
  source10k.demo->keys = 10000;
  osprey::daemon::DemoStream::Generator gen10k(source10k);
  std::vector<osprey::daemon::DemoStream::Record> in_memory_10k;
  for (int64_t idx = 0; idx < records; ++idx) {
    in_memory_10k.push_back(gen10k.Next(1'700'000'000'000 + idx));
  }
  // Hot spots in 4 dimensions: the same stream with four value fields.
  osprey::config::SourceOptions source4d = source;
  source4d.value_fields = {"cpu", "latency_ms", "mem", "disk"};
  osprey::daemon::DemoStream::Generator gen4d(source4d);
  std::vector<osprey::daemon::DemoStream::Record> in_memory_4d;
  for (int64_t idx = 0; idx < records; ++idx) {
    in_memory_4d.push_back(gen4d.Next(1'700'000'000'000 + idx));
  }
  for (int rep = 0; rep < reps; ++rep) {  // interleaved, so drift hits every mode alike
    detect.push_back(
        Drain((*broker)->bootstrap_servers(), source, partitions, records, Mode::kDetect));
    raw.push_back(Drain((*broker)->bootstrap_servers(), source, partitions, records, Mode::kRaw));
    decode.push_back(
        Drain((*broker)->bootstrap_servers(), source, partitions, records, Mode::kDecode));
    mem_decode.push_back(InMemory(source, in_memory, nullptr));
    mem_detect.push_back(InMemory(source, in_memory, &baseline_op));
    mem_tumbling.push_back(InMemory(source10k, in_memory_10k, &tumbling_op));
    mem_hopping.push_back(InMemory(source10k, in_memory_10k, &hopping_op));
    mem_hotspots.push_back(InMemory(source, in_memory, &hotspots_op));
    mem_hotspots4.push_back(InMemory(source4d, in_memory_4d, &hotspots_op));
  }
  double raw_m = Median(raw);
  std::printf("%-40s %14s %10s\n", "path", "events/s", "vs raw");
  std::printf("%-40s %14.0f %10.3f\n", "librdkafka consume only (baseline)", raw_m, 1.0);
  std::printf("%-40s %14.0f %10.3f\n", "consume + JSON decode (decode-only)", Median(decode),
              Median(decode) / raw_m);
  std::printf("%-40s %14.0f %10.3f\n", "consume + decode + baseline detector", Median(detect),
              Median(detect) / raw_m);
  const double dec = Median(mem_decode);
  const double decode_only = Median(decode);
  // The operator rows per core, against in-memory decode and against the decode-only path
  // (consume + decode) above: the operators issue's ratios.
  std::printf("\n%-44s %12s %10s %12s\n", "in memory, one core (no Kafka)", "events/s", "vs decode",
              "vs dec-only");
  auto row = [&](const char* label, const std::vector<double>& v) {
    std::printf("%-44s %12.0f %10.3f %12.3f\n", label, Median(v), Median(v) / dec,
                Median(v) / decode_only);
  };
  row("decode only", mem_decode);
  row("decode + baseline detector", mem_detect);
  row("decode + tumbling 1 min, 23 aggs, 10k keys", mem_tumbling);
  row("decode + hopping 1 min/10 s, 23 aggs, 10k keys", mem_hopping);
  row("decode + hot spots, window 1000, 2-D", mem_hotspots);
  row("decode + hot spots, window 1000, 4-D", mem_hotspots4);
  std::printf("\ntargets: windows >= 0.7 of decode-only -> tumbling %s, hopping %s; hot spots 2-D "
              ">= 50000 records/s -> %s\n",
              Median(mem_tumbling) / decode_only >= 0.7 ? "MET" : "NOT MET",
              Median(mem_hopping) / decode_only >= 0.7 ? "MET" : "NOT MET",
              Median(mem_hotspots) >= 50000 ? "MET" : "NOT MET");
  std::printf("\ntarget: decode + detector >= 0.8 of raw consume -> %s\n",
              Median(detect) / raw_m >= 0.8 ? "MET" : "NOT MET");
  return 0;
}
