// SourceRunner: one consumer-group member for one configured source. It polls Kafka on its own
// thread, decodes each record, runs it through every pipeline reading that source (one operator
// chain per pipeline and source partition: a "task"), produces results to the pipelines' sinks
// and dead-letters what cannot be decoded. Offsets are stored explicitly: a partition's offset is
// committed only after every output of the records before it has been acknowledged.
// Public methods are thread-safe; everything else runs on the runner's thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "config/base/clock.h"
#include "config/base/metrics.h"
#include "config/base/status.h"
#include "config/options.h"
#include "daemon/kafka/producer.h"
#include "models/rcf/thresholded.h"
#include "state/store.h"

namespace osprey::daemon {

class AlertHub;
class LiveHub;

struct TopicPartition {
  std::string topic;
  int32_t partition = -1;
  auto operator<=>(const TopicPartition&) const = default;
};

// Rebalance hooks, called on the runner's thread. The state issue restores operator state and
// seeks to checkpointed offsets here.
class PartitionListener {
 public:
  virtual ~PartitionListener() = default;
  // Before consumption of `partitions` starts. `start_offsets` is index-aligned with
  // `partitions`, preset to -1 (= the group's committed offset); set an entry to seek.
  virtual void OnAssigned(const std::vector<TopicPartition>& partitions,
                          std::vector<int64_t>& start_offsets) = 0;
  // After the partitions' outputs were flushed and offsets committed, before their tasks go.
  // `lost` = the group took them away without a chance to commit.
  virtual void OnRevoked(const std::vector<TopicPartition>& partitions, bool lost) = 0;
};

class SourceRunner {
 public:
  // Everything passed must outlive the runner. `store` may be null (no checkpoints: state
  // starts empty and consumption resumes from the group's committed offsets). `alerts` may be
  // null; otherwise every alert is also published there (the WebSocket feed).
  static Result<std::unique_ptr<SourceRunner>> Create(const config::DaemonConfig& config,
                                                      const config::SourceOptions& source,
                                                      const std::string& bootstrap,
                                                      Producer& producer,
                                                      MetricsRegistry& metrics, Clock& clock,
                                                      state::Store* store, AlertHub* alerts);
  ~SourceRunner();  // Stop()s

  // REQUIRES: called once, before Start.
  void set_partition_listener(PartitionListener* listener);
  // Every result is also recorded in `live` (the dashboard's tables), in the table of its
  // pipeline when `live` has one. REQUIRES: called once, before Start; `live` outlives the
  // runner (may be null: none).
  void set_live_hub(LiveHub* live);
  void Start();
  // Stops consuming, finishes the record in hand, flushes outputs, commits offsets and leaves
  // the group. Idempotent.
  void Stop();

  const std::string& source_name() const;
  // Partitions currently assigned.
  int assigned_partitions() const;
  // OK while healthy; the error that stopped the runner otherwise (a permanent delivery
  // failure: nothing after the last commit is acknowledged).
  Status health() const;
  // Records consumed so far (all partitions).
  int64_t records_consumed() const;
  // Asks the runner thread to checkpoint at its next turn instead of waiting for the interval
  // (savepoints). checkpoints_completed() counts checkpoints that succeeded; one counted after
  // the request covers every record processed before it.
  void RequestCheckpoint();
  int64_t checkpoints_completed() const;

  // Calls `fn` with `key`'s live model in the first RCF operator of `pipeline`, under that
  // partition task's lock (the pipeline waits meanwhile: keep `fn` short) and returns what it
  // returns. `fn` may only call the model's const methods and must not keep a reference.
  // NotFound when no partition task of this runner holds a model for the key (not seen yet,
  // evicted, or assigned to another group member).
  Status WithKeyModel(const std::string& pipeline, const std::string& key,
                      const std::function<Status(const models::rcf::ThresholdedForest&)>& fn) const;

 private:
  struct Impl;
  explicit SourceRunner(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace osprey::daemon
