// History for the trainer, daemon side (the row format is state/history.h).
//  - HistoryRecorder buffers the rows of one source runner's consumed events per source
//    partition until the next checkpoint puts them into its WriteBatch, so rows are stored
//    exactly when the offsets past them are. Confined to the runner's thread.
//  - HistoryJanitor enforces every pipeline's retention (HistoryOptions) on its own thread
//    every state.history_retention_interval_ms. Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "config/options.h"
#include "operators/event.h"
#include "state/rocksdb_store.h"
#include "state/store.h"

namespace osprey::daemon {

class HistoryRecorder {
 public:
  // Null when no pipeline in `pipelines` keeps history. REQUIRES: the pipelines read `source`;
  // both outlive the recorder.
  static std::unique_ptr<HistoryRecorder> Create(
      const config::SourceOptions& source,
      const std::vector<const config::PipelineOptions*>& pipelines);

  // Buffers one row per history-keeping pipeline for the decoded record at `offset`.
  void Add(const std::string& topic, int32_t partition, int64_t offset,
           const operators::Event& event);
  // Moves the rows buffered for (topic, partition) into `batch`.
  void Flush(const std::string& topic, int32_t partition, state::WriteBatch& batch);
  // Forgets the rows buffered for (topic, partition) (the partition was taken away).
  void Drop(const std::string& topic, int32_t partition);

 private:
  struct Keeper {
    const std::string* pipeline;
    // (name, index into the event's values) of each kept field.
    std::vector<std::pair<std::string, size_t>> fields;
  };
  HistoryRecorder() = default;

  std::vector<Keeper> keepers_;  // Constant after construction
  std::map<std::pair<std::string, int32_t>, std::vector<std::pair<std::string, std::string>>>
      pending_;
  std::vector<std::pair<std::string, double>> scratch_;
};

class HistoryJanitor {
 public:
  // Null when no pipeline keeps history. `store` and `config` outlive the janitor.
  static std::unique_ptr<HistoryJanitor> Start(state::RocksStore& store,
                                               const config::DaemonConfig& config);
  ~HistoryJanitor();  // Stop()s
  void Stop();
  // Enforces retention now, on the caller's thread.
  Status RunOnce();

 private:
  HistoryJanitor(state::RocksStore& store, const config::DaemonConfig& config)
      : store_(store), config_(config) {}

  state::RocksStore& store_;
  const config::DaemonConfig& config_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // Protected by mu_
  std::thread thread_;
};

}  // namespace osprey::daemon
