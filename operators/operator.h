// Operator: one step of a pipeline (a detector, a window, hot spots). An operator instance serves
// one (pipeline, source partition) task and is confined to that task's thread.
// State hooks let the checkpointer (state issue) snapshot what changed and restore it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "config/base/status.h"
#include "operators/event.h"

namespace osprey::operators {

// Receives what an operator emits: the next operator, or the pipeline's sinks.
class Emitter {
 public:
  virtual ~Emitter() = default;
  virtual void Emit(Event event) = 0;
};

class Operator {
 public:
  virtual ~Operator() = default;

  virtual const std::string& name() const = 0;
  // Handles one event; emits zero or more events downstream.
  virtual void Process(Event event, Emitter& out) = 0;
  // Event time has advanced to `watermark_ms` (no earlier events are expected).
  virtual void OnWatermark(int64_t watermark_ms, Emitter& out) {
    (void)watermark_ms;
    (void)out;
  }

  // Processing time has advanced (called every ~100 ms by the task's thread): emit what is due
  // by processing time (early results, processing-time windows, idle partitions).
  virtual void Tick(Emitter& out) { (void)out; }

  // Calls `sink(key, snapshot)` for every key whose state changed since the last call, and
  // forgets the changes. Snapshots are versioned binary blobs the operator alone reads; an empty
  // snapshot means the key has no state any more (the checkpointer deletes it).
  virtual void SnapshotDirty(
      const std::function<void(std::string_view key, std::string snapshot)>& sink) = 0;
  // Restores one key's state from a snapshot. Corruption naming the key on a bad blob.
  virtual Status Restore(std::string_view key, std::string_view snapshot) = 0;
  // Number of keys with state.
  virtual size_t key_count() const = 0;
  // Keys dropped so far by idle or memory-budget eviction.
  virtual size_t evictions() const { return 0; }
};

}  // namespace osprey::operators
