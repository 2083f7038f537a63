// Changelog: what lets another instance of the consumer group take over a partition with its
// state (Kafka Streams' changelog topics, without transactions). Every checkpoint of a source
// runner is also appended to one topic per pipeline, "<prefix>.<pipeline>.changelog",
// partitioned like the source (changelog partition = source partition):
//  - one record per changed state key: key = the store key, value = the snapshot, a tombstone
//    (null value) for a deleted key; headers "osprey.cp" (checkpoint id), "osprey.task"
//    (source topic/partition) and "osprey.family" (the store family);
//  - then one marker per task (key "osprey.marker/<topic>/<partition>", header "osprey.marker"
//    = the task's next source offset) in every pipeline's changelog; its value carries the
//    task's bookkeeping rows (next offset, output positions) exactly as they go into the store.
// A checkpoint counts only once its marker is in every pipeline's changelog ("complete"); the
// records of a checkpoint cut short by a crash carry an id no complete marker names and are
// skipped. The runner flushes the changelog before it writes its local store, so the changelog
// is never behind a local store; the local store records, per pipeline and task, the changelog
// offset after its last marker, and a new owner reads only what came after it (everything when
// the store does not know the task; log compaction bounds that on a real cluster).
// Limits: no fencing of a zombie writer (that needs Kafka transactions); under compaction, a
// record of a cut-short checkpoint that is the last for its key survives while the valid one
// before it may be compacted away (a restore then lacks that key; rewriting such keys after a
// restore would close this). A snapshot must fit the topic's max.message.bytes.
// Thread-compatible: used from its source runner's thread only.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/base/status.h"
#include "config/options.h"
#include "daemon/source_runner.h"
#include "state/store.h"

typedef struct rd_kafka_s rd_kafka_t;  // NOLINT

namespace osprey::daemon {

class Changelog {
 public:
  // The store family holding, per (pipeline, task), the changelog offset after the last marker
  // the store reflects.
  static constexpr char kPositionsFamily[] = "changelog";

  // `pipelines`: the names of the pipelines reading the source. Checks that every changelog
  // topic exists with at least as many partitions as `source`'s topics (InvalidArgument naming
  // the topic otherwise). `store` must outlive the changelog.
  static Result<std::unique_ptr<Changelog>> Create(const config::DaemonConfig& config,
                                                   const config::SourceOptions& source,
                                                   const std::string& bootstrap,
                                                   std::vector<std::string> pipelines,
                                                   state::Store& store);
  ~Changelog();
  Changelog(const Changelog&) = delete;
  Changelog& operator=(const Changelog&) = delete;

  // The topic of `pipeline`'s changelog.
  static std::string TopicFor(const std::string& prefix, const std::string& pipeline);

  // Assembling one checkpoint. A changed (or, with nullopt, deleted) state key of `task`.
  void AddState(const std::string& pipeline, const TopicPartition& task, std::string_view family,
                std::string_view key, std::optional<std::string_view> value);
  // A bookkeeping row of `task` (its offset, its output positions): goes into its markers.
  // Marks the task as part of the checkpoint even without state changes.
  void AddBookkeeping(const TopicPartition& task, std::string_view family, std::string_view key,
                      std::string_view value);
  // Appends what was added (records, then a marker per task in every pipeline's changelog),
  // waits until the broker acknowledged all of it, and puts the new changelog positions into
  // `batch` (to be written to the store right after). Nothing added: OK, nothing written.
  // Unavailable when the records could not be delivered: the caller must not write `batch`.
  Status Commit(state::WriteBatch& batch);

  // Brings the store up to date for `task` before the runner restores from it: reads every
  // pipeline's changelog after the positions the store has for the task and applies, in one
  // atomic write, every complete checkpoint found there (state rows, bookkeeping rows, new
  // positions). Returns the number of checkpoints applied (0: the local store was current).
  Result<int> Restore(const TopicPartition& task);

 private:
  struct Pending;
  Changelog() = default;
  Status ReadTail(const std::string& topic, int32_t partition, int64_t from,
                  const TopicPartition& task, struct TailRead* out);

  std::string source_name_;                // Constant after construction
  std::vector<std::string> pipelines_;     // Constant after construction
  std::map<std::string, std::string> topics_;  // pipeline -> topic. Constant after construction
  state::Store* store_ = nullptr;
  rd_kafka_t* producer_ = nullptr;  // Owned
  rd_kafka_t* reader_ = nullptr;    // Owned: an assign()-only consumer for restores
  std::string writer_id_;           // unique per process: checkpoint ids are writer_id_/seq
  int64_t seq_ = 0;
  std::unique_ptr<Pending> pending_;
};

}  // namespace osprey::daemon
