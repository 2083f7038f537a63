#include "daemon/changelog.h"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <random>
#include <set>
#include <thread>

#include "config/base/bytes.h"
#include "daemon/kafka/kafka_common.h"

namespace osprey::daemon {

namespace {

constexpr int kTimeoutMs = 10000;
constexpr char kCheckpointHeader[] = "osprey.cp";
constexpr char kTaskHeader[] = "osprey.task";
constexpr char kFamilyHeader[] = "osprey.family";
constexpr char kMarkerHeader[] = "osprey.marker";

std::string TaskName(const TopicPartition& task) {
  return task.topic + "/" + std::to_string(task.partition);
}

std::string MarkerKey(const TopicPartition& task) { return "osprey.marker/" + TaskName(task); }

// The store key of (pipeline, task)'s changelog position.
std::string PositionKey(const std::string& pipeline, const TopicPartition& task) {
  return state::EncodeStateKey(pipeline, "", task.topic, task.partition, "");
}

struct Row {
  std::string family;
  std::string key;
  std::string value;
};

std::string EncodeRows(const std::vector<Row>& rows) {
  std::string out;
  ByteWriter w(&out);
  w.PutVarint(rows.size());
  for (const auto& r : rows) {
    w.PutString(r.family);
    w.PutString(r.key);
    w.PutString(r.value);
  }
  return out;
}

bool DecodeRows(std::string_view in, std::vector<Row>* rows) {
  ByteReader r(in);
  uint64_t n = 0;
  if (!r.GetVarint(&n)) return false;
  for (uint64_t idx = 0; idx < n; ++idx) {
    Row row;
    if (!r.GetString(&row.family) || !r.GetString(&row.key) || !r.GetString(&row.value)) {
      return false;
    }
    rows->push_back(std::move(row));
  }
  return r.done();
}

std::string Header(const rd_kafka_message_t* m, const char* name, bool* found) {
  rd_kafka_headers_t* hdrs = nullptr;
  const void* value = nullptr;
  size_t size = 0;
  *found = rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
           rd_kafka_header_get_last(hdrs, name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
  return *found && value != nullptr ? std::string(static_cast<const char*>(value), size)
                                    : std::string();
}

int32_t PartitionCount(rd_kafka_t* rk, const std::string& topic) {
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  int32_t count = 0;
  if (rd_kafka_metadata(rk, 0, rkt, &md, kTimeoutMs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
      md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    count = md->topics[0].partition_cnt;
  }
  if (md != nullptr) rd_kafka_metadata_destroy(md);
  rd_kafka_topic_destroy(rkt);
  return count;
}

}  // namespace

// One changelog record as read back for a restore.
struct TailEntry {
  int64_t offset = -1;
  std::string checkpoint;
  bool marker = false;
  std::string family;               // state records
  std::string key;                  // state records
  std::optional<std::string> value;  // state records: nullopt = tombstone; markers: the rows
};
struct TailRead {
  std::vector<TailEntry> entries;  // of the task asked for, in offset order
};

// A checkpoint being assembled, and the delivery reports of the one being committed.
struct Changelog::Pending {
  struct Record {
    std::string pipeline;
    TopicPartition task;
    std::string family;
    std::string key;
    std::optional<std::string> value;
  };
  // Where a marker's delivery report lands.
  struct MarkerSlot {
    std::string pipeline;
    TopicPartition task;
    int64_t offset = -1;
  };
  std::vector<Record> records;
  std::map<TopicPartition, std::vector<Row>> tasks;  // every task in the checkpoint
  std::deque<MarkerSlot> markers;                    // stable addresses for msg opaques
  bool failed = false;
  std::string error;
};

std::string Changelog::TopicFor(const std::string& prefix, const std::string& pipeline) {
  return prefix + "." + pipeline + ".changelog";
}

Changelog::~Changelog() {
  if (producer_ != nullptr) {
    rd_kafka_flush(producer_, 5000);
    rd_kafka_destroy(producer_);
  }
  if (reader_ != nullptr) rd_kafka_destroy(reader_);
}

Result<std::unique_ptr<Changelog>> Changelog::Create(const config::DaemonConfig& config,
                                                     const config::SourceOptions& source,
                                                     const std::string& bootstrap,
                                                     std::vector<std::string> pipelines,
                                                     state::Store& store) {
  std::unique_ptr<Changelog> log(new Changelog());
  log->source_name_ = source.name;
  log->pipelines_ = std::move(pipelines);
  log->store_ = &store;
  log->pending_ = std::make_unique<Pending>();
  std::random_device rd;
  log->writer_id_ = std::to_string(::getpid()) + "-" + std::to_string(rd()) +
                    std::to_string(std::chrono::system_clock::now().time_since_epoch().count());

  OSPREY_ASSIGN_OR_RETURN(
      RdKafkaConfPtr pconf,
      MakeKafkaConf(config.kafka, ClientKind::kProducer, bootstrap,
                    {{"client.id", "osprey-changelog-" + source.name}}));
  rd_kafka_conf_set_opaque(pconf.get(), log->pending_.get());
  rd_kafka_conf_set_dr_msg_cb(
      pconf.get(), [](rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
        auto* pending = static_cast<Pending*>(opaque);
        if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
          if (!pending->failed) pending->error = rd_kafka_err2str(m->err);
          pending->failed = true;
          return;
        }
        if (m->_private != nullptr) {
          static_cast<Pending::MarkerSlot*>(m->_private)->offset = m->offset;
        }
      });
  char err[512];
  log->producer_ = rd_kafka_new(RD_KAFKA_PRODUCER, pconf.release(), err, sizeof(err));
  if (log->producer_ == nullptr) {
    return Status::InvalidArgument(std::string("changelog producer: ") + err);
  }
  OSPREY_ASSIGN_OR_RETURN(
      RdKafkaConfPtr cconf,
      MakeKafkaConf(config.kafka, ClientKind::kConsumer, bootstrap,
                    {{"group.id", config.kafka.group_id + ".changelog-reader"},
                     {"client.id", "osprey-changelog-reader"},
                     {"enable.auto.commit", "false"},
                     // Restores read to a known end: no reason to wait for more per fetch.
                     {"fetch.wait.max.ms", "10"}}));
  log->reader_ = rd_kafka_new(RD_KAFKA_CONSUMER, cconf.release(), err, sizeof(err));
  if (log->reader_ == nullptr) {
    return Status::InvalidArgument(std::string("changelog reader: ") + err);
  }
  rd_kafka_poll_set_consumer(log->reader_);

  int32_t needed = 0;
  for (const auto& t : source.topics) {
    int32_t n = 0;
    for (int attempt = 0; attempt < 50 && n == 0; ++attempt) {
      n = PartitionCount(log->reader_, t);
      if (n == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    needed = std::max(needed, n);
  }
  for (const auto& p : log->pipelines_) {
    std::string topic = TopicFor(config.state.changelog_prefix, p);
    int32_t n = 0;
    for (int attempt = 0; attempt < 50 && n == 0; ++attempt) {
      n = PartitionCount(log->reader_, topic);
      if (n == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (n == 0) {
      return Status::InvalidArgument(
          "state.changelog: topic '" + topic + "' of pipeline '" + p +
          "' does not exist; create it with cleanup.policy=compact and " +
          std::to_string(needed) + " partitions (as source '" + source.name + "')");
    }
    if (n < needed) {
      return Status::InvalidArgument("state.changelog: topic '" + topic + "' has " +
                                     std::to_string(n) + " partitions, source '" + source.name +
                                     "' has " + std::to_string(needed) + "; they must match");
    }
    log->topics_[p] = topic;
  }
  return log;
}

void Changelog::AddState(const std::string& pipeline, const TopicPartition& task,
                         std::string_view family, std::string_view key,
                         std::optional<std::string_view> value) {
  pending_->records.push_back({pipeline, task, std::string(family), std::string(key),
                               value ? std::optional<std::string>(std::string(*value))
                                     : std::nullopt});
  pending_->tasks[task];  // the task gets a marker
}

void Changelog::AddBookkeeping(const TopicPartition& task, std::string_view family,
                               std::string_view key, std::string_view value) {
  pending_->tasks[task].push_back({std::string(family), std::string(key), std::string(value)});
}

Status Changelog::Commit(state::WriteBatch& batch) {
  Pending& p = *pending_;
  if (p.tasks.empty()) return Status::Ok();
  const std::string id = writer_id_ + "/" + std::to_string(seq_++);
  p.failed = false;
  p.error.clear();
  auto produce = [&](const std::string& topic, int32_t partition, const std::string& key,
                     const std::string* value, const TopicPartition& task, const char* extra_name,
                     const std::string& extra, void* opaque) -> Status {
    const std::string task_name = TaskName(task);
    void* key_bytes = const_cast<char*>(key.data());
    void* payload = value != nullptr ? const_cast<char*>(value->data()) : nullptr;
    const size_t payload_size = value != nullptr ? value->size() : 0;
    for (;;) {
      rd_kafka_headers_t* hdrs = rd_kafka_headers_new(3);
      rd_kafka_header_add(hdrs, kCheckpointHeader, -1, id.data(), id.size());
      rd_kafka_header_add(hdrs, kTaskHeader, -1, task_name.data(), task_name.size());
      rd_kafka_header_add(hdrs, extra_name, -1, extra.data(), extra.size());
      rd_kafka_resp_err_t err = rd_kafka_producev(
          producer_, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(partition),
          RD_KAFKA_V_KEY(key_bytes, key.size()),
          RD_KAFKA_V_VALUE(payload, payload_size),
          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hdrs),
          RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return Status::Ok();
      rd_kafka_headers_destroy(hdrs);
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        return Status::Unavailable("changelog " + topic + ": " + rd_kafka_err2str(err));
      }
      rd_kafka_poll(producer_, 10);
    }
  };
  Status st = Status::Ok();
  for (const auto& r : p.records) {
    st = produce(topics_.at(r.pipeline), r.task.partition, r.key, r.value ? &*r.value : nullptr,
                 r.task, kFamilyHeader, r.family, nullptr);
    if (!st.ok()) break;
  }
  if (st.ok()) {
    for (const auto& [task, rows] : p.tasks) {
      const std::string value = EncodeRows(rows);
      const std::string key = MarkerKey(task);
      for (const auto& pipeline : pipelines_) {
        p.markers.push_back({pipeline, task, -1});
        st = produce(topics_.at(pipeline), task.partition, key, &value, task, kMarkerHeader, id,
                     &p.markers.back());
        if (!st.ok()) break;
      }
      if (!st.ok()) break;
    }
  }
  rd_kafka_resp_err_t ferr = rd_kafka_flush(producer_, 30000);
  if (st.ok() && ferr != RD_KAFKA_RESP_ERR_NO_ERROR) {
    st = Status::Unavailable(std::string("changelog flush: ") + rd_kafka_err2str(ferr));
  }
  if (st.ok() && p.failed) st = Status::Unavailable("changelog delivery failed: " + p.error);
  if (st.ok()) {
    for (const auto& m : p.markers) {
      if (m.offset < 0) {
        st = Status::Unavailable("changelog: no offset reported for a marker");
        break;
      }
      batch.Put(kPositionsFamily, PositionKey(m.pipeline, m.task), std::to_string(m.offset + 1));
    }
  }
  p.records.clear();
  p.tasks.clear();
  p.markers.clear();
  return st;
}

Status Changelog::ReadTail(const std::string& topic, int32_t partition, int64_t from,
                           const TopicPartition& task, TailRead* out) {
  int64_t low = 0, high = 0;
  rd_kafka_resp_err_t err =
      rd_kafka_query_watermark_offsets(reader_, topic.c_str(), partition, &low, &high, kTimeoutMs);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::Unavailable("changelog " + topic + " [" + std::to_string(partition) +
                               "]: " + rd_kafka_err2str(err));
  }
  int64_t start = from < 0 ? low : std::max(from, low);
  if (from >= 0 && from < low) {
    spdlog::warn("changelog {} [{}]: records {}..{} are gone (retention); restoring from {}",
                 topic, partition, from, low, low);
  }
  if (start >= high) return Status::Ok();
  RdPartitionListPtr list(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), partition)->offset = start;
  rd_kafka_assign(reader_, list.get());
  const std::string want = TaskName(task);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  Status result = Status::Ok();
  int64_t next = start;
  while (next < high) {
    if (std::chrono::steady_clock::now() > deadline) {
      result = Status::Unavailable("changelog " + topic + ": reading timed out");
      break;
    }
    rd_kafka_message_t* m = rd_kafka_consumer_poll(reader_, 100);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      next = m->offset + 1;
      bool found = false;
      if (Header(m, kTaskHeader, &found) == want && found) {
        TailEntry e;
        e.offset = m->offset;
        bool is_marker = false;
        std::string marker_id = Header(m, kMarkerHeader, &is_marker);
        e.marker = is_marker;
        if (is_marker) {
          e.checkpoint = marker_id;
        } else {
          e.checkpoint = Header(m, kCheckpointHeader, &found);
          e.family = Header(m, kFamilyHeader, &found);
          if (m->key != nullptr) e.key.assign(static_cast<const char*>(m->key), m->key_len);
        }
        if (m->payload != nullptr) {
          e.value = std::string(static_cast<const char*>(m->payload), m->len);
        }
        out->entries.push_back(std::move(e));
      }
    } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      spdlog::warn("changelog {}: {}", topic, rd_kafka_message_errstr(m));
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_assign(reader_, nullptr);
  return result;
}

Result<int> Changelog::Restore(const TopicPartition& task) {
  if (pipelines_.empty()) return 0;
  std::vector<TailRead> tails(pipelines_.size());
  for (size_t idx = 0; idx < pipelines_.size(); ++idx) {
    const std::string& pipeline = pipelines_[idx];
    int64_t from = -1;  // the store knows nothing: from the beginning
    auto stored = store_->Get(kPositionsFamily, PositionKey(pipeline, task));
    if (stored.ok()) {
      try {
        from = std::stoll(*stored);
      } catch (const std::exception&) {
        return Status::Corruption("changelog position of " + TaskName(task) + " is not a number");
      }
    } else if (stored.status().code() != Status::Code::kNotFound) {
      return stored.status();
    }
    OSPREY_RETURN_IF_ERROR(ReadTail(topics_.at(pipeline), task.partition, from, task, &tails[idx]));
  }
  // Complete checkpoints: a marker in every pipeline's changelog.
  std::map<std::string, size_t> marker_count;
  for (const auto& tail : tails) {
    std::set<std::string> ids;
    for (const auto& e : tail.entries) {
      if (e.marker) ids.insert(e.checkpoint);
    }
    for (const auto& id : ids) ++marker_count[id];
  }
  std::set<std::string> complete;
  for (const auto& [id, n] : marker_count) {
    if (n == pipelines_.size()) complete.insert(id);
  }
  // The target: the last complete checkpoint in the first pipeline's order.
  std::string target;
  for (const auto& e : tails[0].entries) {
    if (e.marker && complete.count(e.checkpoint) != 0) target = e.checkpoint;
  }
  size_t skipped = 0;
  for (const auto& tail : tails) {
    for (const auto& e : tail.entries) skipped += complete.count(e.checkpoint) == 0 ? 1 : 0;
  }
  if (target.empty()) {
    if (skipped > 0) {
      spdlog::info("changelog: {}: {} records of unfinished checkpoints after the local state "
                   "ignored", TaskName(task), skipped);
    }
    return 0;
  }
  state::WriteBatch batch;
  std::set<std::string> applied;
  for (size_t idx = 0; idx < pipelines_.size(); ++idx) {
    for (const auto& e : tails[idx].entries) {
      if (complete.count(e.checkpoint) == 0) continue;
      if (!e.marker) {
        if (e.value) {
          batch.Put(e.family, e.key, *e.value);
        } else {
          batch.Delete(e.family, e.key);
        }
        continue;
      }
      std::vector<Row> rows;
      if (!e.value || !DecodeRows(*e.value, &rows)) {
        return Status::Corruption("changelog " + topics_.at(pipelines_[idx]) + " @" +
                                  std::to_string(e.offset) + ": marker does not decode");
      }
      for (const auto& r : rows) batch.Put(r.family, r.key, r.value);
      batch.Put(kPositionsFamily, PositionKey(pipelines_[idx], task), std::to_string(e.offset + 1));
      applied.insert(e.checkpoint);
      if (e.checkpoint == target) break;
    }
  }
  OSPREY_RETURN_IF_ERROR(store_->Write(batch));
  spdlog::info("changelog: {}: applied {} checkpoints ({} rows) from the changelog{}",
               TaskName(task), applied.size(), batch.size(),
               skipped > 0 ? ", skipped " + std::to_string(skipped) +
                                 " records of unfinished checkpoints"
                           : std::string());
  return static_cast<int>(applied.size());
}

}  // namespace osprey::daemon
