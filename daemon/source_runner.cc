#include "daemon/source_runner.h"

#include <librdkafka/rdkafka.h>
#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <map>
#include <set>
#include <mutex>
#include <optional>

#include "config/base/bytes.h"
#include "config/base/json_writer.h"
#include "daemon/alert_hub.h"
#include "daemon/changelog.h"
#include "daemon/decode/decoder.h"
#include "daemon/history_recorder.h"
#include "daemon/kafka/kafka_common.h"
#include "daemon/live_hub.h"
#include "daemon/output_log.h"
#include "operators/operator_factory.h"
#include "operators/operator.h"
#include "operators/rcf_operator.h"

namespace osprey::daemon {

namespace {

using operators::Emitter;
using operators::Event;

// The JSON of a result record. Deterministic: the same event renders to the same bytes.
void RenderResult(const std::string& pipeline, const Event& e, std::string* buf) {
  JsonWriter w(buf);
  w.BeginObject();
  w.Key("pipeline").String(pipeline);
  w.Key("key").String(e.key);
  w.Key("event_time").Int(e.event_time_ms);
  w.Key("values").BeginObject();
  for (size_t idx = 0; idx < e.values.size(); ++idx) {
    const auto* names = e.schema ? &e.schema->value_names : nullptr;
    w.Key(names != nullptr && idx < names->size() ? std::string_view((*names)[idx])
                                                  : std::string_view("?"));
    w.Double(e.values[idx]);
  }
  w.EndObject();
  if (e.score) {
    w.Key("score").Double(*e.score);
  }
  w.Key("alert").Bool(e.alert);
  if (!e.annotations.empty()) {
    *buf += ',';
    *buf += e.annotations;
  }
  w.Key("source").BeginObject();
  w.Key("topic").String(e.origin.topic != nullptr ? *e.origin.topic : std::string());
  w.Key("partition").Int(e.origin.partition);
  w.Key("offset").Int(e.origin.offset);
  w.EndObject();
  w.EndObject();
}

// Renders a result once and produces it to every sink that selects it.
class SinkEmitter final : public Emitter {
 public:
  struct Target {
    const config::SinkOptions* sink;
    const DeliveryTarget* delivery;
  };
  // Where outputs come from: the task's source partition and the offset of the input record
  // being processed (outputs of one input are numbered by seq).
  struct Origin {
    const TopicPartition* tp;
    const int64_t* current_offset;
  };
  SinkEmitter(const std::string& pipeline, std::vector<Target> targets, Producer& producer,
              Histogram& latency, Counter& alerts, Counter& suppressed, Clock& clock,
              Status* fatal, Origin origin, OutputLog* log, AlertHub* hub)
      : pipeline_(pipeline),
        targets_(std::move(targets)),
        producer_(producer),
        latency_(latency),
        alerts_(alerts),
        suppressed_outputs_(suppressed),
        clock_(clock),
        fatal_(fatal),
        origin_(origin),
        log_(log),
        hub_(hub) {}

  // Outputs of replayed records that a previous run already wrote: (topic, partition) -> the
  // last (offset, seq) present. Emit skips outputs at or before it.
  void Suppress(std::map<std::pair<std::string, int32_t>, OutputPosition> seen) {
    suppress_ = std::move(seen);
    suppress_until_ = -1;
    for (const auto& [tp, pos] : suppress_) suppress_until_ = std::max(suppress_until_, pos.first);
  }

  void Emit(Event event) override {
    buf_.clear();
    RenderResult(pipeline_, event, &buf_);
    const int64_t offset = *origin_.current_offset;
    if (offset != last_offset_) {
      last_offset_ = offset;
      seq_ = 0;
    } else {
      ++seq_;
    }
    if (suppress_until_ >= 0 && offset > suppress_until_) {
      suppress_.clear();  // the replay has passed everything the previous run wrote
      suppress_until_ = -1;
    }
    std::string source = OutputLog::SourceHeader(origin_.tp->topic, origin_.tp->partition, offset,
                                                 seq_);
    const std::vector<RecordHeader> headers = {{"osprey.source", source},
                                               {"osprey.pipeline", pipeline_}};
    bool replayed = false;  // a previous run already wrote (and announced) this output
    for (const auto& t : targets_) {
      if (t.sink->select == config::SinkSelect::kAlerts && !event.alert) continue;
      int32_t partition = log_ != nullptr ? log_->PartitionFor(t.sink->topic, event.key) : -1;
      if (!suppress_.empty()) {
        auto it = suppress_.find({t.sink->topic, partition});
        if (it != suppress_.end() && OutputPosition(offset, seq_) <= it->second) {
          suppressed_outputs_.Inc();
          replayed = true;
          continue;
        }
      }
      Status st =
          producer_.Produce(t.sink->topic, event.key, buf_, headers, t.delivery, partition);
      if (!st.ok() && fatal_->ok()) *fatal_ = st;
    }
    int64_t now = clock_.MonotonicNanos();
    latency_.Observe(static_cast<double>(now - event.ingest_nanos) * 1e-9);
    if (event.alert && !replayed) {
      alerts_.Inc();
      LogAlert(now);
      if (hub_ != nullptr) hub_->Publish(ToAlert(event));
    }
    if (live_ != nullptr) {
      live_->Record({event.key, event.event_time_ms, event.values, event.score,
                     GradeFromAnnotations(event.annotations), event.alert},
                    event.schema);
    }
  }

  // The dashboard's table of this pipeline (null: none). REQUIRES: before the first Emit.
  void set_live(LiveHub::Pipeline* live) { live_ = live; }

 private:
  // The alert for the WebSocket feed; grade, attribution and expected values come from the
  // detector's annotations when it wrote them.
  Alert ToAlert(const Event& e) const {
    Alert a;
    a.pipeline = pipeline_;
    a.key = e.key;
    a.event_time_ms = e.event_time_ms;
    a.score = e.score.value_or(0);
    JsonWriter w(&a.values_json);
    w.BeginObject();
    for (size_t idx = 0; idx < e.values.size(); ++idx) {
      const auto* names = e.schema ? &e.schema->value_names : nullptr;
      w.Key(names != nullptr && idx < names->size() ? std::string_view((*names)[idx]) : "?");
      w.Double(e.values[idx]);
    }
    w.EndObject();
    if (!e.annotations.empty()) {
      simdjson::padded_string doc("{" + e.annotations + "}");
      simdjson::dom::parser parser;
      simdjson::dom::element root;
      if (!parser.parse(doc).get(root)) {
        double grade = 0;
        if (!root["grade"].get(grade)) a.grade = grade;
        simdjson::dom::element part;
        if (!root["attribution"].get(part)) a.attribution_json = simdjson::minify(part);
        if (!root["expected"].get(part)) a.expected_json = simdjson::minify(part);
      }
    }
    a.source_topic = origin_.tp->topic;
    a.partition = origin_.tp->partition;
    a.offset = *origin_.current_offset;
    return a;
  }

  // Logs the alert (already rendered in buf_), at most kAlertLogsPerSecond a second; the rest
  // are counted and summarised.
  void LogAlert(int64_t now_ns) {
    constexpr int kAlertLogsPerSecond = 10;
    if (now_ns - window_start_ns_ >= 1'000'000'000) {
      if (suppressed_ > 0) {
        spdlog::info("ALERT pipeline={}: {} more alerts in the last second (see the alert sinks)",
                     pipeline_, suppressed_);
      }
      window_start_ns_ = now_ns;
      logged_ = 0;
      suppressed_ = 0;
    }
    if (logged_ < kAlertLogsPerSecond) {
      ++logged_;
      spdlog::info("ALERT {}", buf_);
    } else {
      ++suppressed_;
    }
  }

  const std::string& pipeline_;
  std::vector<Target> targets_;
  Producer& producer_;
  Histogram& latency_;
  Counter& alerts_;
  Counter& suppressed_outputs_;
  int64_t window_start_ns_ = 0;
  int logged_ = 0;
  int64_t suppressed_ = 0;
  Clock& clock_;
  Status* fatal_;
  Origin origin_;
  OutputLog* log_;  // null: librdkafka partitions, nothing is suppressed
  AlertHub* hub_;   // null: no alert feed
  LiveHub::Pipeline* live_ = nullptr;  // null: no dashboard feed
  int64_t last_offset_ = -1;
  int32_t seq_ = 0;
  std::map<std::pair<std::string, int32_t>, OutputPosition> suppress_;
  int64_t suppress_until_ = -1;
  std::string buf_;
};

// Feeds what an operator emits into the next operator.
class ChainLink final : public Emitter {
 public:
  ChainLink(operators::Operator* next, Emitter* after) : next_(next), after_(after) {}
  void Emit(Event event) override { next_->Process(std::move(event), *after_); }

 private:
  operators::Operator* next_;
  Emitter* after_;
};

// The state-store family of an operator kind.
const char* FamilyOf(config::OperatorKind kind) {
  switch (kind) {
    case config::OperatorKind::kBaseline: return "baseline";
    case config::OperatorKind::kRcf: return "rcf";
    case config::OperatorKind::kWindow: return "window";
    case config::OperatorKind::kHotspots: return "hotspots";
  }
  return "other";
}

constexpr char kOffsetsFamily[] = "offsets";
constexpr char kOutputsFamily[] = "outputs";  // output partition -> end offset at a checkpoint

// One pipeline's operator chain for one source partition.
struct PipelineTask {
  const config::PipelineOptions* options = nullptr;
  std::vector<std::unique_ptr<operators::Operator>> ops;
  std::vector<std::unique_ptr<ChainLink>> links;  // links[i] feeds ops[i + 1]
  std::unique_ptr<SinkEmitter> sink;

  // What receives the output of ops[idx].
  Emitter& After(size_t idx) {
    return idx + 1 < ops.size() ? static_cast<Emitter&>(*links[idx]) : *sink;
  }
  void Process(Event event) { ops.front()->Process(std::move(event), After(0)); }
  void Tick() {
    for (size_t idx = 0; idx < ops.size(); ++idx) ops[idx]->Tick(After(idx));
  }
};

struct PartitionTask {
  TopicPartition tp;
  int64_t current_offset = -1;  // the input record being processed
  // Dead letters of replayed records already written: (topic, partition) -> last offset.
  std::map<std::pair<std::string, int32_t>, OutputPosition> dead_letter_suppress;
  std::vector<std::unique_ptr<PipelineTask>> pipelines;
  std::atomic<int64_t> next_offset{-1};  // offset after the last processed record
  int64_t committed_offset = -1;         // last offset committed to Kafka
  int64_t stored_offset = -1;            // last offset checkpointed in the state store
  // While a restored task replays records whose outputs a previous run already wrote: the last
  // such source offset (-1: not replaying) and the output positions the restore read the tail
  // from. Checkpoints inside the replay keep these positions: the end offsets then lie after
  // outputs of records not yet replayed, and a restart from such a checkpoint that read the
  // tail from there would miss them and write them again.
  int64_t replay_until = -1;
  std::map<TopicPartition, int64_t> replay_positions;
  // Held by the runner thread while it runs this task's operators (process, tick, snapshot)
  // and by HTTP threads while they query them (SourceRunner::ScoreKey).
  std::mutex ops_mu;
};

}  // namespace

struct SourceRunner::Impl {
  const config::DaemonConfig& config;
  const config::SourceOptions& source;
  std::string bootstrap;
  Producer& producer;
  MetricsRegistry& metrics;
  Clock& clock;
  std::unique_ptr<Decoder> decoder;
  std::vector<const config::PipelineOptions*> pipelines;
  const config::SinkOptions* dead_letter = nullptr;
  PartitionListener* listener = nullptr;

  rd_kafka_t* rk = nullptr;  // Owned
  std::thread thread;
  std::atomic<bool> stop{false};
  std::atomic<bool> started{false};
  std::atomic<int> assigned{0};
  std::atomic<int64_t> consumed{0};
  std::atomic<bool> checkpoint_requested{false};  // RequestCheckpoint
  std::atomic<int64_t> checkpoints_completed{0};  // successful periodic/requested checkpoints
  int collector_id = -1;

  mutable std::mutex health_mu;
  Status fatal;  // written on the runner thread; published under health_mu

  // Tasks by partition. Structure changes on the runner thread under tasks_mu; the lag
  // collector reads under it.
  mutable std::mutex tasks_mu;
  std::map<TopicPartition, std::unique_ptr<PartitionTask>> tasks;
  PartitionTask* last_task = nullptr;  // cache: consecutive records mostly share a partition

  // Metrics (stable pointers into the registry).
  std::vector<std::pair<std::string, Counter*>> events_in;  // by topic
  std::map<std::string, Counter*> decode_errors;             // by reason
  Counter* dead_lettered = nullptr;
  Counter* late_events = nullptr;
  Counter* suppressed = nullptr;
  std::unique_ptr<OutputLog> output_log;  // with a store: exactly-once outputs
  std::unique_ptr<HistoryRecorder> history;  // with a store and a pipeline keeping history
  std::unique_ptr<Changelog> changelog;   // with state.changelog: checkpoints also go there
  AlertHub* alert_hub = nullptr;
  LiveHub* live_hub = nullptr;  // null: no dashboard feed
  // Outputs of this runner in flight, and where their delivery reports go (stable addresses).
  DeliveryGroup deliveries;
  DeliveryTarget dead_letter_target;
  std::map<std::string, Histogram*> latency;  // by pipeline
  std::map<std::string, Counter*> alerts;     // by pipeline
  std::map<std::string, DeliveryTarget> results_out;  // by sink name

  int64_t last_commit_ns = 0;
  int64_t last_tick_ns = 0;
  state::Store* store = nullptr;
  Counter* checkpoints = nullptr;
  Counter* checkpoint_bytes = nullptr;
  Histogram* checkpoint_seconds = nullptr;

  Impl(const config::DaemonConfig& c, const config::SourceOptions& s, std::string b, Producer& p,
       MetricsRegistry& m, Clock& clk)
      : config(c), source(s), bootstrap(std::move(b)), producer(p), metrics(m), clock(clk) {}

  ~Impl() {
    if (collector_id >= 0) metrics.RemoveCollector(collector_id);
    if (rk != nullptr) rd_kafka_destroy(rk);
  }

  Counter* EventsIn(std::string_view topic) {
    for (auto& [name, counter] : events_in) {
      if (name == topic) return counter;
    }
    std::string t(topic);
    Counter* c = &metrics.GetCounter("osprey_events_in_total", "Records consumed, by topic",
                                     {{"source", source.name}, {"topic", t}});
    events_in.emplace_back(t, c);
    return c;
  }

  void SetFatal(const Status& st) {
    std::lock_guard<std::mutex> lock(health_mu);
    if (fatal.ok()) {
      fatal = st;
      spdlog::error("source '{}' stops consuming: {}", source.name, st.ToString());
    }
  }

  std::unique_ptr<PartitionTask> MakeTask(const TopicPartition& tp) {
    auto task = std::make_unique<PartitionTask>();
    task->tp = tp;
    for (const auto* p : pipelines) {
      auto pt = std::make_unique<PipelineTask>();
      pt->options = p;
      for (const auto& op : p->operators) {
        // Options were validated at start-up (Create builds every operator once).
        pt->ops.push_back(std::move(operators::MakeOperator(op, OperatorContextFor(*p))).value());
      }
      std::vector<SinkEmitter::Target> targets;
      for (const auto& sink_name : p->sinks) {
        const auto* sink = config.FindSink(sink_name);
        targets.push_back({sink, &results_out.at(sink->name)});
      }
      pt->sink = std::make_unique<SinkEmitter>(
          p->name, std::move(targets), producer, *latency.at(p->name), *alerts.at(p->name),
          *suppressed, clock, &run_status, SinkEmitter::Origin{&task->tp, &task->current_offset},
          output_log.get(), alert_hub);
      if (live_hub != nullptr) pt->sink->set_live(live_hub->Find(p->name));
      // Built back to front: links[i] feeds ops[i + 1] and hands its output on.
      pt->links.resize(pt->ops.size() - 1);
      for (size_t idx = pt->links.size(); idx-- > 0;) {
        pt->links[idx] = std::make_unique<ChainLink>(pt->ops[idx + 1].get(), &pt->After(idx + 1));
      }
      task->pipelines.push_back(std::move(pt));
    }
    return task;
  }

  operators::OperatorContext OperatorContextFor(const config::PipelineOptions& p) {
    return operators::OperatorContext{
        clock, [this, &p](Event late) { DeadLetterLate(p.name, std::move(late)); }};
  }

  // A window event later than the allowed lateness: dead-lettered as a rendered result with the
  // reason "late" and its source position.
  void DeadLetterLate(const std::string& pipeline, Event late) {
    std::string body;
    RenderResult(pipeline, late, &body);
    std::string partition = std::to_string(late.origin.partition);
    std::string offset = std::to_string(late.origin.offset);
    std::vector<RecordHeader> headers = {
        {"osprey.error.reason", "late"},
        {"osprey.error.detail", "event time is older than the window's allowed lateness"},
        {"osprey.source.name", source.name},
        {"osprey.source.topic", late.origin.topic != nullptr ? *late.origin.topic : ""},
        {"osprey.source.partition", partition},
        {"osprey.source.offset", offset}};
    late_events->Inc();
    // seq: 1 + the pipeline's index, so late dead letters of one record from several pipelines
    // stay distinct and ordered.
    int32_t seq = 1;
    for (size_t idx = 0; idx < pipelines.size(); ++idx) {
      if (pipelines[idx]->name == pipeline) seq = static_cast<int32_t>(idx) + 1;
    }
    PartitionTask* task = late.origin.topic != nullptr
                              ? TaskFor(*late.origin.topic, late.origin.partition)
                              : nullptr;
    ProduceDeadLetter(task, late.key, body, std::move(headers), late.origin.offset, seq,
                      pipeline);
  }

  // Writes a dead letter tagged like every output (see OutputLog), unless a previous run already
  // wrote it (replay after a crash).
  void ProduceDeadLetter(PartitionTask* task, std::string_view key, std::string_view value,
                         std::vector<RecordHeader> headers, int64_t offset, int32_t seq,
                         const std::string& pipeline) {
    int32_t partition =
        output_log != nullptr ? output_log->PartitionFor(dead_letter->topic, key) : -1;
    if (task != nullptr && !task->dead_letter_suppress.empty()) {
      auto it = task->dead_letter_suppress.find({dead_letter->topic, partition});
      if (it != task->dead_letter_suppress.end() && OutputPosition(offset, seq) <= it->second) {
        suppressed->Inc();
        return;
      }
    }
    std::string src =
        task != nullptr ? OutputLog::SourceHeader(task->tp.topic, task->tp.partition, offset, seq)
                        : std::string();
    if (task != nullptr) {
      headers.push_back({"osprey.source", src});
      headers.push_back({"osprey.pipeline", pipeline});
    }
    Status st = producer.Produce(dead_letter->topic, key, value, headers, &dead_letter_target,
                                 partition);
    if (!st.ok() && run_status.ok()) run_status = st;
  }

  // After a restart, records after the checkpoint are processed again; what their outputs were
  // is already in the output topics (up to the crash). Reads the output tails since the
  // checkpoint and tells each restored task's emitters what to skip.
  void SuppressReplayedOutputs(const std::set<TopicPartition>& restored) {
    if (output_log == nullptr || store == nullptr) return;
    // Read each output partition from the earliest position any restored task recorded.
    std::map<TopicPartition, int64_t> from;
    for (const auto& tp : restored) {
      auto rows = store->Scan(kOutputsFamily, OutputsPrefix(tp));
      if (!rows.ok()) {
        SetFatal(rows.status());
        return;
      }
      PartitionTask& task = *tasks.at(tp);
      task.replay_positions.clear();
      task.replay_until = -1;
      for (const auto& [encoded, value] : *rows) {
        auto key = state::DecodeStateKey(encoded);
        if (!key.ok()) continue;
        TopicPartition out{key->topic, key->partition};
        int64_t pos = std::stoll(value);
        task.replay_positions[out] = pos;
        auto [it, inserted] = from.emplace(out, pos);
        if (!inserted) it->second = std::min(it->second, pos);
      }
    }
    auto seen = output_log->ReadTail(from, restored);
    if (!seen.ok()) {
      SetFatal(Status::Unavailable("cannot read the output topics to suppress replayed outputs "
                                   "(refusing to write duplicates): " + seen.status().message()));
      return;
    }
    for (const auto& tp : restored) {
      auto sit = seen->find(tp);
      if (sit == seen->end()) continue;
      PartitionTask& task = *tasks.at(tp);
      std::map<std::string, std::map<std::pair<std::string, int32_t>, OutputPosition>> by_pipeline;
      for (const auto& [where, pos] : sit->second) {
        const auto& [topic, partition, pipeline] = where;
        if (pos.first < task.stored_offset) continue;  // before the checkpoint: not replayed
        by_pipeline[pipeline][{topic, partition}] = pos;
        task.replay_until = std::max(task.replay_until, pos.first);
      }
      for (auto& pt : task.pipelines) {
        auto it = by_pipeline.find(pt->options->name);
        if (it != by_pipeline.end()) pt->sink->Suppress(it->second);
      }
      // Dead letters: decode failures carry pipeline "", late events their pipeline's name.
      for (const auto& [pipeline, positions] : by_pipeline) {
        for (const auto& [where, pos] : positions) {
          if (where.first != dead_letter->topic) continue;
          auto& slot = task.dead_letter_suppress[where];
          slot = std::max(slot, pos);
        }
      }
      spdlog::info("source '{}': {} [{}] resumes at {}; outputs already written after it are "
                   "suppressed",
                   source.name, tp.topic, tp.partition, task.stored_offset);
    }
  }

  // Output positions are kept per task: "where were the output partitions when this task last
  // checkpointed".
  std::string OutputsPrefix(const TopicPartition& task) const {
    std::string prefix;
    ByteWriter w(&prefix);
    w.PutString(source.name);
    w.PutString(task.topic + "/" + std::to_string(task.partition));
    return prefix;
  }
  std::string OutputsKey(const TopicPartition& task, const TopicPartition& out) const {
    return state::EncodeStateKey(source.name, task.topic + "/" + std::to_string(task.partition),
                                 out.topic, out.partition, "");
  }

  static std::string OffsetKey(const std::string& source_name, const TopicPartition& tp) {
    return state::EncodeStateKey(source_name, "", tp.topic, tp.partition, "");
  }

  // Restores a new task's operators and stored offset. Returns the stored offset: nullopt when
  // the store knows nothing of the task, -1 when it started without one (its first run had not
  // checkpointed progress yet), else the offset to seek to.
  std::optional<int64_t> RestoreTask(PartitionTask& task) {
    if (store == nullptr) return std::nullopt;
    for (auto& pt : task.pipelines) {
      for (size_t idx = 0; idx < pt->ops.size(); ++idx) {
        auto& op = pt->ops[idx];
        const char* family = FamilyOf(pt->options->operators[idx].kind);
        auto rows = store->Scan(family, state::EncodeStatePrefix(pt->options->name, op->name(),
                                                                 task.tp.topic, task.tp.partition));
        if (!rows.ok()) {
          SetFatal(Status::Corruption("restoring " + task.tp.topic + " [" +
                                      std::to_string(task.tp.partition) + "] pipeline '" +
                                      pt->options->name + "': " + rows.status().message()));
          return std::nullopt;
        }
        for (const auto& [encoded, snapshot] : *rows) {
          auto key = state::DecodeStateKey(encoded);
          Status st = key.ok() ? op->Restore(key->key, snapshot) : key.status();
          if (!st.ok()) {
            SetFatal(Status::Corruption("restoring " + task.tp.topic + " [" +
                                        std::to_string(task.tp.partition) + "] pipeline '" +
                                        pt->options->name +
                                        "': " + state::PrintableBytes(st.message())));
            return std::nullopt;
          }
        }
      }
    }
    auto stored = store->Get(kOffsetsFamily, OffsetKey(source.name, task.tp));
    if (!stored.ok()) {
      if (stored.status().code() != Status::Code::kNotFound) {
        SetFatal(Status::Corruption("restoring the offset of " + task.tp.topic + " [" +
                                    std::to_string(task.tp.partition) +
                                    "]: " + stored.status().message()));
      }
      return std::nullopt;
    }
    int64_t offset = -1;
    try {
      offset = std::stoll(*stored);
    } catch (const std::exception&) {
      SetFatal(Status::Corruption("stored offset of " + task.tp.topic + " [" +
                                  std::to_string(task.tp.partition) + "] is not a number"));
      return std::nullopt;
    }
    task.stored_offset = offset;
    if (offset < 0) return offset;
    task.next_offset.store(offset);
    task.committed_offset = offset;
    spdlog::info("source '{}': restored {} [{}] at offset {}", source.name, task.tp.topic,
                 task.tp.partition, offset);
    return offset;
  }

  // Keys held and evicted per operator, summed over this runner's tasks. Called on the runner
  // thread (operators are confined to it); the registry makes the values readable elsewhere.
  void PublishOperatorGauges() {
    std::map<std::pair<std::string, std::string>, std::pair<size_t, size_t>> sums;
    for (const auto& [tp, task] : tasks) {
      for (const auto& pt : task->pipelines) {
        for (const auto& op : pt->ops) {
          auto& s = sums[{pt->options->name, op->name()}];
          s.first += op->key_count();
          s.second += op->evictions();
        }
      }
    }
    for (const auto& [names, s] : sums) {
      Labels labels{{"source", source.name}, {"pipeline", names.first}, {"operator", names.second}};
      metrics.GetGauge("osprey_operator_keys", "Keys with state, by operator", labels)
          .Set(static_cast<double>(s.first));
      metrics.GetGauge("osprey_operator_evictions", "Keys evicted (idle or memory budget) by "
                       "the operator instances now assigned", labels)
          .Set(static_cast<double>(s.second));
    }
  }

  // Records, per task, the end offsets of every output partition: every output of the task so
  // far is below them (the caller made sure they were acknowledged, or the task has produced
  // nothing yet), so a replay from this checkpoint finds its earlier outputs after them. Not
  // while the task still replays records a previous run wrote outputs for: those outputs (of
  // records after the offset being stored) are below the ends too, so the task keeps the
  // positions it restored until its replay has passed them.
  void PutOutputPositions(const std::vector<PartitionTask*>& which, state::WriteBatch& batch) {
    if (output_log == nullptr || which.empty()) return;
    auto ends = output_log->EndOffsets();
    if (!ends.ok()) {
      spdlog::warn("source '{}': {}; keeping the previous output positions", source.name,
                   ends.status().ToString());
      return;
    }
    for (auto* task : which) {
      if (task->replay_until >= 0 && task->next_offset.load() <= task->replay_until) {
        // Still replaying what a previous run wrote: its outputs after the stored offset lie
        // between the restored positions and the ends, so the positions stay where they were.
        for (const auto& [out, pos] : task->replay_positions) {
          PutBookkeeping(batch, task->tp, kOutputsFamily, OutputsKey(task->tp, out),
                         std::to_string(pos));
        }
        continue;
      }
      task->replay_until = -1;  // every output of the previous run is before the ends now
      task->replay_positions.clear();
      for (const auto& [out, end] : *ends) {
        PutBookkeeping(batch, task->tp, kOutputsFamily, OutputsKey(task->tp, out),
                       std::to_string(end));
      }
    }
  }

  // A row of a task's bookkeeping (offset, output positions): into the store and, with a
  // changelog, into the task's marker there.
  void PutBookkeeping(state::WriteBatch& batch, const TopicPartition& tp, const char* family,
                      const std::string& key, const std::string& value) {
    batch.Put(family, key, value);
    if (changelog != nullptr) changelog->AddBookkeeping(tp, family, key, value);
  }

  // With a changelog, appends the checkpoint assembled there (and adds its positions to
  // `batch`) before the store is written: the changelog is never behind the store.
  Status CommitChangelog(state::WriteBatch& batch) {
    if (changelog == nullptr) return Status::Ok();
    return changelog->Commit(batch);
  }

  // A task the store knows nothing of gets a first checkpoint before it produces anything: its
  // start is "wherever the group's offsets say" (-1) and the output positions are now. A crash
  // before its first real checkpoint then replays from the same start and still finds (and
  // suppresses) the outputs it had written.
  void WriteStartMarker(const std::vector<PartitionTask*>& fresh) {
    // After a failed restore nothing is written: the stored state stays as it was.
    if (store == nullptr || fresh.empty() || !health().ok()) return;
    state::WriteBatch batch;
    for (auto* task : fresh) {
      PutBookkeeping(batch, task->tp, kOffsetsFamily, OffsetKey(source.name, task->tp), "-1");
    }
    PutOutputPositions(fresh, batch);
    Status st = CommitChangelog(batch);
    if (st.ok()) st = store->Write(batch);
    if (!st.ok()) {
      SetFatal(Status::IOError("state store: " + st.message()));
      return;
    }
    for (auto* task : fresh) task->stored_offset = -1;
  }

  // Writes the changed state of `tasks_to_store` and their next offsets in one atomic batch.
  bool WriteCheckpoint(const std::vector<PartitionTask*>& tasks_to_store) {
    if (store == nullptr) return true;
    int64_t start = clock.MonotonicNanos();
    state::WriteBatch batch;
    std::vector<PartitionTask*> advanced;
    size_t bytes = 0;
    for (auto* task : tasks_to_store) {
      std::lock_guard<std::mutex> ops_lock(task->ops_mu);
      for (auto& pt : task->pipelines) {
        for (size_t idx = 0; idx < pt->ops.size(); ++idx) {
          auto& op = pt->ops[idx];
          const char* family = FamilyOf(pt->options->operators[idx].kind);
          op->SnapshotDirty([&](std::string_view key, std::string snapshot) {
            std::string k = state::EncodeStateKey(pt->options->name, op->name(), task->tp.topic,
                                                  task->tp.partition, key);
            bytes += k.size() + snapshot.size();
            if (snapshot.empty()) {
              batch.Delete(family, k);
            } else {
              batch.Put(family, k, snapshot);
            }
            if (changelog != nullptr) {
              changelog->AddState(pt->options->name, task->tp, family, k,
                                  snapshot.empty() ? std::nullopt
                                                   : std::optional<std::string_view>(snapshot));
            }
          });
        }
      }
      if (history) history->Flush(task->tp.topic, task->tp.partition, batch);
      int64_t next = task->next_offset.load();
      if (next >= 0 && next != task->stored_offset) {
        PutBookkeeping(batch, task->tp, kOffsetsFamily, OffsetKey(source.name, task->tp),
                       std::to_string(next));
        advanced.push_back(task);
      }
    }
    if (batch.size() == 0) return true;
    // Positions move only with the offset they belong to: a task that did not advance keeps the
    // positions of its stored offset, or a replay from there would miss outputs it wrote.
    PutOutputPositions(advanced, batch);
    Status st = CommitChangelog(batch);
    if (st.ok()) st = store->Write(batch);
    if (!st.ok()) {
      SetFatal(Status::IOError("checkpoint failed, consuming stopped (nothing after the last "
                               "checkpoint is acknowledged): " + st.message()));
      return false;
    }
    for (auto* task : advanced) task->stored_offset = task->next_offset.load();
    PublishOperatorGauges();
    checkpoints->Inc();
    checkpoint_bytes->Inc(bytes);
    checkpoint_seconds->Observe(static_cast<double>(clock.MonotonicNanos() - start) * 1e-9);
    return true;
  }

  // Status of produce calls made on the runner thread; checked after each record.
  Status run_status;

  static std::vector<TopicPartition> ToVector(const rd_kafka_topic_partition_list_t* list) {
    std::vector<TopicPartition> out;
    for (int idx = 0; idx < list->cnt; ++idx) {
      out.push_back({list->elems[idx].topic, list->elems[idx].partition});
    }
    return out;
  }

  // Waits for the outputs so far to be acknowledged, checkpoints state and offsets of `which`
  // (all tasks when null) in the store, then commits the offsets to Kafka (for lag monitoring
  // and for runs without a store). False when nothing was checkpointed or committed.
  bool Commit(const std::vector<TopicPartition>* which, bool sync) {
    // Only this runner produces its outputs, and it is waiting here: the group drains.
    bool idle = deliveries.WaitIdle(std::chrono::seconds(sync ? 30 : 10));
    if (deliveries.failed()) {
      SetFatal(Status::Unavailable("an output could not be delivered (see log); offsets after the "
                                   "last commit stay uncommitted"));
      return false;
    }
    if (!idle) {
      spdlog::warn("source '{}': {} outputs not yet acknowledged, commit postponed", source.name,
                   deliveries.in_flight());
      return false;
    }
    std::vector<PartitionTask*> selected;
    if (which == nullptr) {
      for (auto& [tp, task] : tasks) selected.push_back(task.get());
    } else {
      for (const auto& tp : *which) {
        auto it = tasks.find(tp);
        if (it != tasks.end()) selected.push_back(it->second.get());
      }
    }
    if (!WriteCheckpoint(selected)) return false;
    RdPartitionListPtr list(rd_kafka_topic_partition_list_new(4));
    std::vector<PartitionTask*> committed;
    auto add = [&](PartitionTask* task) {
      int64_t next = task->next_offset.load();
      if (next < 0 || next == task->committed_offset) return;
      rd_kafka_topic_partition_list_add(list.get(), task->tp.topic.c_str(), task->tp.partition)
          ->offset = next;
      committed.push_back(task);
    };
    for (auto* task : selected) add(task);
    if (list->cnt == 0) return true;
    rd_kafka_resp_err_t err = rd_kafka_commit(rk, list.get(), sync ? 0 : 1);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      spdlog::warn("source '{}': offset commit failed: {}", source.name, rd_kafka_err2str(err));
      return false;
    }
    for (auto* task : committed) task->committed_offset = task->next_offset.load();
    return true;
  }

  void OnAssign(rd_kafka_topic_partition_list_t* parts, bool cooperative) {
    auto tps = ToVector(parts);
    std::vector<int64_t> start(tps.size(), -1);
    if (listener != nullptr) listener->OnAssigned(tps, start);
    {
      std::lock_guard<std::mutex> lock(tasks_mu);
      std::set<TopicPartition> restored;
      std::vector<PartitionTask*> fresh;
      for (size_t idx = 0; idx < tps.size(); ++idx) {
        auto task = MakeTask(tps[idx]);
        if (changelog != nullptr) {
          // A partition another instance had: its state comes from the changelog.
          auto applied = changelog->Restore(tps[idx]);
          if (!applied.ok()) {
            SetFatal(Status::Unavailable("restoring " + tps[idx].topic + " [" +
                                         std::to_string(tps[idx].partition) +
                                         "] from the changelog: " + applied.status().message()));
          }
        }
        std::optional<int64_t> stored = RestoreTask(*task);
        if (stored) restored.insert(tps[idx]);
        if (!stored) fresh.push_back(task.get());
        if (stored && *stored >= 0 && start[idx] < 0) start[idx] = *stored;
        if (start[idx] >= 0) parts->elems[idx].offset = start[idx];
        tasks[tps[idx]] = std::move(task);
      }
      if (!restored.empty() && health().ok()) SuppressReplayedOutputs(restored);
      WriteStartMarker(fresh);
      assigned.store(static_cast<int>(tasks.size()));
    }
    rd_kafka_error_t* error = nullptr;
    if (cooperative) {
      error = rd_kafka_incremental_assign(rk, parts);
    } else {
      rd_kafka_resp_err_t err = rd_kafka_assign(rk, parts);
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        spdlog::error("source '{}': assign failed: {}", source.name, rd_kafka_err2str(err));
      }
    }
    if (error != nullptr) {
      spdlog::error("source '{}': assign failed: {}", source.name, rd_kafka_error_string(error));
      rd_kafka_error_destroy(error);
    }
    for (const auto& tp : tps) {
      spdlog::info("source '{}': assigned {} [{}]", source.name, tp.topic, tp.partition);
    }
  }

  void OnRevoke(rd_kafka_topic_partition_list_t* parts, bool cooperative) {
    auto tps = ToVector(parts);
    bool lost = rd_kafka_assignment_lost(rk) != 0;
    if (!lost) Commit(&tps, /*sync=*/true);
    if (listener != nullptr) listener->OnRevoked(tps, lost);
    {
      std::lock_guard<std::mutex> lock(tasks_mu);
      for (const auto& tp : tps) {
        tasks.erase(tp);
        if (history) history->Drop(tp.topic, tp.partition);
        metrics.RemoveGauge("osprey_consumer_lag",
                            {{"topic", tp.topic}, {"partition", std::to_string(tp.partition)}});
      }
      last_task = nullptr;
      assigned.store(static_cast<int>(tasks.size()));
    }
    if (cooperative) {
      rd_kafka_error_t* error = rd_kafka_incremental_unassign(rk, parts);
      if (error != nullptr) rd_kafka_error_destroy(error);
    } else {
      rd_kafka_assign(rk, nullptr);
    }
    for (const auto& tp : tps) {
      spdlog::info("source '{}': {} {} [{}]", source.name, lost ? "lost" : "revoked", tp.topic,
                   tp.partition);
    }
  }

  static void RebalanceCallback(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                                rd_kafka_topic_partition_list_t* parts, void* opaque) {
    auto* self = static_cast<Impl*>(opaque);
    bool cooperative = std::string_view(rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE";
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      self->OnAssign(parts, cooperative);
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
      self->OnRevoke(parts, cooperative);
    } else {
      spdlog::error("source '{}': rebalance error: {}", self->source.name, rd_kafka_err2str(err));
      if (!cooperative) rd_kafka_assign(rk, nullptr);
    }
  }

  void DeadLetter(const rd_kafka_message_t* m, const RawRecord& rec,
                  const DecodeFailure& failure) {
    std::string_view reason = DecodeErrorName(failure.error);
    auto it = decode_errors.find(std::string(reason));
    if (it == decode_errors.end()) {
      it = decode_errors
               .emplace(std::string(reason),
                        &metrics.GetCounter("osprey_decode_errors_total",
                                            "Records that failed to decode, by reason",
                                            {{"source", source.name}, {"reason", std::string(reason)}}))
               .first;
    }
    it->second->Inc();
    dead_lettered->Inc();

    std::vector<RecordHeader> headers;
    rd_kafka_headers_t* orig = nullptr;
    if (rd_kafka_message_headers(m, &orig) == RD_KAFKA_RESP_ERR_NO_ERROR && orig != nullptr) {
      const char* name = nullptr;
      const void* value = nullptr;
      size_t size = 0;
      for (size_t idx = 0; rd_kafka_header_get_all(orig, idx, &name, &value, &size) ==
                           RD_KAFKA_RESP_ERR_NO_ERROR;
           ++idx) {
        headers.push_back({name, std::string_view(static_cast<const char*>(value), size)});
      }
    }
    std::string partition = std::to_string(rec.partition);
    std::string offset = std::to_string(rec.offset);
    std::string timestamp = std::to_string(rec.timestamp_ms);
    headers.push_back({"osprey.error.reason", reason});
    headers.push_back({"osprey.error.detail", failure.detail});
    headers.push_back({"osprey.source.name", source.name});
    headers.push_back({"osprey.source.topic", rec.topic});
    headers.push_back({"osprey.source.partition", partition});
    headers.push_back({"osprey.source.offset", offset});
    headers.push_back({"osprey.source.timestamp", timestamp});
    ProduceDeadLetter(TaskFor(rec.topic, rec.partition), rec.key, rec.payload, std::move(headers),
                      rec.offset, 0, "");
    spdlog::debug("dead-lettered {} [{}] @{}: {}: {}", rec.topic, rec.partition, rec.offset,
                  reason, failure.detail);
  }

  PartitionTask* TaskFor(std::string_view topic, int32_t partition) {
    if (last_task != nullptr && last_task->tp.partition == partition &&
        last_task->tp.topic == topic) {
      return last_task;
    }
    auto it = tasks.find(TopicPartition{std::string(topic), partition});
    last_task = it == tasks.end() ? nullptr : it->second.get();
    return last_task;
  }

  void Handle(const rd_kafka_message_t* m) {
    const char* topic_name = rd_kafka_topic_name(m->rkt);
    RawRecord rec;
    rec.topic = topic_name;
    rec.partition = m->partition;
    rec.offset = m->offset;
    rec.key = m->key != nullptr ? std::string_view(static_cast<const char*>(m->key), m->key_len)
                                : std::string_view();
    rec.payload = m->payload != nullptr
                      ? std::string_view(static_cast<const char*>(m->payload), m->len)
                      : std::string_view();
    rd_kafka_timestamp_type_t ts_type;
    rec.timestamp_ms = rd_kafka_message_timestamp(m, &ts_type);

    PartitionTask* task = TaskFor(rec.topic, rec.partition);
    if (task == nullptr) return;  // revoked between fetch and delivery; will be re-read
    EventsIn(rec.topic)->Inc();
    consumed.fetch_add(1, std::memory_order_relaxed);

    task->current_offset = rec.offset;
    Event event;
    DecodeFailure failure;
    if (decoder->Decode(rec, event, failure)) {
      event.ingest_nanos = clock.MonotonicNanos();
      std::lock_guard<std::mutex> ops_lock(task->ops_mu);
      if (history) history->Add(task->tp.topic, rec.partition, rec.offset, event);
      auto& pts = task->pipelines;
      for (size_t idx = 0; idx < pts.size(); ++idx) {
        if (idx + 1 == pts.size()) {
          pts[idx]->Process(std::move(event));
        } else {
          pts[idx]->Process(event);
        }
      }
    } else {
      DeadLetter(m, rec, failure);
    }
    if (!run_status.ok()) {
      SetFatal(run_status);
      return;  // not acknowledged: the offset stays where it was
    }
    task->next_offset.store(rec.offset + 1, std::memory_order_relaxed);
  }

  void Run() {
    const int64_t commit_ns = (store != nullptr ? config.state.checkpoint_interval_ms
                                                : config.kafka.commit_interval_ms) *
                              1'000'000;
    constexpr int64_t kTickNs = 100'000'000;
    last_commit_ns = last_tick_ns = clock.MonotonicNanos();
    while (!stop.load(std::memory_order_relaxed)) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
      if (m != nullptr) {
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
          Handle(m);
        } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
          spdlog::warn("source '{}': consumer: {}", source.name, rd_kafka_message_errstr(m));
        }
        rd_kafka_message_destroy(m);
      }
      if (!health().ok()) break;
      int64_t now = clock.MonotonicNanos();
      if (now - last_tick_ns >= kTickNs) {
        for (auto& [tp, task] : tasks) {
          std::lock_guard<std::mutex> ops_lock(task->ops_mu);
          for (auto& pt : task->pipelines) pt->Tick();
        }
        if (!run_status.ok()) SetFatal(run_status);
        last_tick_ns = now;
      }
      if (now - last_commit_ns >= commit_ns || checkpoint_requested.exchange(false)) {
        if (Commit(nullptr, /*sync=*/false)) checkpoints_completed.fetch_add(1);
        last_commit_ns = now;
      }
    }
    if (health().ok()) Commit(nullptr, /*sync=*/true);
    rd_kafka_resp_err_t err = rd_kafka_consumer_close(rk);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      spdlog::warn("source '{}': consumer close: {}", source.name, rd_kafka_err2str(err));
    }
    spdlog::info("source '{}': stopped after {} records", source.name, consumed.load());
  }

  Status health() const {
    std::lock_guard<std::mutex> lock(health_mu);
    return fatal;
  }

  Status WithKeyModel(const std::string& pipeline, const std::string& key,
                      const std::function<Status(const models::rcf::ThresholdedForest&)>& fn) {
    std::lock_guard<std::mutex> lock(tasks_mu);  // tasks stay while we read them
    for (const auto& [tp, task] : tasks) {
      for (const auto& pt : task->pipelines) {
        if (pt->options->name != pipeline) continue;
        for (const auto& op : pt->ops) {
          const auto* rcf = dynamic_cast<const operators::RcfOperator*>(op.get());
          if (rcf == nullptr) continue;
          std::lock_guard<std::mutex> ops_lock(task->ops_mu);
          const models::rcf::ThresholdedForest* model = rcf->FindModel(key);
          if (model != nullptr) return fn(*model);
          break;
        }
      }
    }
    return Status::NotFound("pipeline '" + pipeline + "' holds no model for key '" + key +
                            "' here (not seen yet, evicted, or its partition is assigned to "
                            "another instance)");
  }

  void CollectLag(MetricsRegistry& m) {
    std::lock_guard<std::mutex> lock(tasks_mu);
    for (const auto& [tp, task] : tasks) {
      int64_t low = 0, high = 0;
      if (rd_kafka_get_watermark_offsets(rk, tp.topic.c_str(), tp.partition, &low, &high) !=
          RD_KAFKA_RESP_ERR_NO_ERROR) {
        continue;
      }
      int64_t next = task->next_offset.load();
      int64_t lag = next >= 0 ? high - next : high - low;
      m.GetGauge("osprey_consumer_lag", "Records behind the partition's high watermark",
                 {{"topic", tp.topic}, {"partition", std::to_string(tp.partition)}})
          .Set(static_cast<double>(std::max<int64_t>(lag, 0)));
    }
  }
};

SourceRunner::SourceRunner(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

SourceRunner::~SourceRunner() { Stop(); }

Result<std::unique_ptr<SourceRunner>> SourceRunner::Create(const config::DaemonConfig& config,
                                                           const config::SourceOptions& source,
                                                           const std::string& bootstrap,
                                                           Producer& producer,
                                                           MetricsRegistry& metrics,
                                                           Clock& clock, state::Store* store,
                                                           AlertHub* alerts) {
  auto impl = std::make_unique<Impl>(config, source, bootstrap, producer, metrics, clock);
  impl->store = store;
  impl->alert_hub = alerts;
  impl->checkpoints = &metrics.GetCounter("osprey_checkpoints_total",
                                          "State checkpoints written", {{"source", source.name}});
  impl->checkpoint_bytes = &metrics.GetCounter(
      "osprey_checkpoint_bytes_total", "Bytes of state and offsets checkpointed",
      {{"source", source.name}});
  impl->checkpoint_seconds = &metrics.GetHistogram(
      "osprey_checkpoint_seconds", "Time to write one checkpoint", LatencyBucketsSeconds(),
      {{"source", source.name}});
  OSPREY_ASSIGN_OR_RETURN(impl->decoder, MakeDecoder(source));
  for (const auto& p : config.pipelines) {
    if (p.source == source.name) impl->pipelines.push_back(&p);
  }
  impl->dead_letter = config.FindSink(source.dead_letter);
  if (impl->dead_letter == nullptr) {
    return Status::InvalidArgument("source '" + source.name + "': unknown dead-letter sink '" +
                                   source.dead_letter + "'");
  }
  impl->dead_lettered = &metrics.GetCounter("osprey_dead_lettered_total",
                                            "Records sent to the dead-letter topic",
                                            {{"source", source.name}});
  impl->suppressed = &metrics.GetCounter(
      "osprey_outputs_suppressed_total",
      "Outputs of replayed records not written again because a previous run wrote them",
      {{"source", source.name}});
  impl->late_events = &metrics.GetCounter(
      "osprey_late_events_total",
      "Window events later than the allowed lateness, sent to the dead-letter topic",
      {{"source", source.name}});
  impl->dead_letter_target.delivered =
      &metrics.GetCounter("osprey_results_out_total", "Records acknowledged by the broker, by sink",
                          {{"sink", impl->dead_letter->name}, {"topic", impl->dead_letter->topic}});
  impl->dead_letter_target.group = &impl->deliveries;
  for (const auto* p : impl->pipelines) {
    for (const auto& op : p->operators) {  // fail at start-up, not on the first assignment
      auto made = operators::MakeOperator(op, impl->OperatorContextFor(*p));
      if (!made.ok()) {
        return Status::InvalidArgument("pipeline '" + p->name + "': " + made.status().message());
      }
    }
    impl->latency[p->name] = &metrics.GetHistogram(
        "osprey_processing_latency_seconds",
        "From consuming a record to producing its result, by pipeline", LatencyBucketsSeconds(),
        {{"pipeline", p->name}});
    impl->alerts[p->name] = &metrics.GetCounter("osprey_alerts_total",
                                                "Results flagged as alerts, by pipeline",
                                                {{"pipeline", p->name}});
    for (const auto& sink_name : p->sinks) {
      const auto* sink = config.FindSink(sink_name);
      if (sink == nullptr) {
        return Status::InvalidArgument("pipeline '" + p->name + "': unknown sink '" + sink_name +
                                       "'");
      }
      DeliveryTarget& target = impl->results_out[sink->name];
      target.group = &impl->deliveries;
      target.delivered = &metrics.GetCounter("osprey_results_out_total",
                                             "Records acknowledged by the broker, by sink",
                                             {{"sink", sink->name}, {"topic", sink->topic}});
    }
  }

  if (store != nullptr) {
    std::vector<std::string> topics{impl->dead_letter->topic};
    for (const auto* p : impl->pipelines) {
      for (const auto& sink_name : p->sinks) topics.push_back(config.FindSink(sink_name)->topic);
    }
    OSPREY_ASSIGN_OR_RETURN(impl->output_log, OutputLog::Create(config.kafka, bootstrap, topics));
    impl->history = HistoryRecorder::Create(source, impl->pipelines);
    if (config.state.changelog) {
      std::vector<std::string> names;
      for (const auto* p : impl->pipelines) names.push_back(p->name);
      OSPREY_ASSIGN_OR_RETURN(impl->changelog,
                              Changelog::Create(config, source, bootstrap, names, *store));
    }
  }

  OSPREY_ASSIGN_OR_RETURN(RdKafkaConfPtr conf,
                          MakeKafkaConf(config.kafka, ClientKind::kConsumer, bootstrap,
                                        {{"client.id", "ospreyd-" + source.name}}));
  rd_kafka_conf_set_opaque(conf.get(), impl.get());
  rd_kafka_conf_set_rebalance_cb(conf.get(), &Impl::RebalanceCallback);
  char err[512];
  impl->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf.release(), err, sizeof(err));
  if (impl->rk == nullptr) {
    return Status::InvalidArgument("source '" + source.name + "': kafka consumer: " + err);
  }
  rd_kafka_poll_set_consumer(impl->rk);
  RdPartitionListPtr topics(rd_kafka_topic_partition_list_new(
      static_cast<int>(source.topics.size())));
  for (const auto& t : source.topics) {
    rd_kafka_topic_partition_list_add(topics.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
  }
  rd_kafka_resp_err_t serr = rd_kafka_subscribe(impl->rk, topics.get());
  if (serr != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::Unavailable("source '" + source.name + "': subscribe: " +
                               rd_kafka_err2str(serr));
  }
  Impl* raw = impl.get();
  impl->collector_id = metrics.AddCollector([raw](MetricsRegistry& m) { raw->CollectLag(m); });
  return std::unique_ptr<SourceRunner>(new SourceRunner(std::move(impl)));
}

void SourceRunner::set_partition_listener(PartitionListener* listener) {
  impl_->listener = listener;
}

void SourceRunner::set_live_hub(LiveHub* live) { impl_->live_hub = live; }

void SourceRunner::Start() {
  if (impl_->started.exchange(true)) return;
  Impl* raw = impl_.get();
  impl_->thread = std::thread([raw] { raw->Run(); });
}

void SourceRunner::Stop() {
  impl_->stop.store(true);
  if (impl_->thread.joinable()) impl_->thread.join();
}

const std::string& SourceRunner::source_name() const { return impl_->source.name; }
int SourceRunner::assigned_partitions() const { return impl_->assigned.load(); }
Status SourceRunner::health() const { return impl_->health(); }
int64_t SourceRunner::records_consumed() const { return impl_->consumed.load(); }
void SourceRunner::RequestCheckpoint() { impl_->checkpoint_requested.store(true); }
int64_t SourceRunner::checkpoints_completed() const {
  return impl_->checkpoints_completed.load();
}

Status SourceRunner::WithKeyModel(
    const std::string& pipeline, const std::string& key,
    const std::function<Status(const models::rcf::ThresholdedForest&)>& fn) const {
  return impl_->WithKeyModel(pipeline, key, fn);
}

}  // namespace osprey::daemon
