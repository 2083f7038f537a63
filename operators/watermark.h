// WatermarkTracker: event-time progress of one operator instance. Each source partition
// contributes max(event time seen) − max_out_of_orderness; the watermark is the minimum over
// active partitions. A partition that sent nothing for idle_timeout_ms of processing time (the
// injected clock) is idle and stops holding the watermark back until it sends again. With no
// active partition the watermark holds. It never goes backwards.
// Meaning: events with event time < watermark are late.
// Confined to its task's thread (thread-compatible).
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <unordered_map>

#include "config/base/clock.h"
#include "config/base/status.h"

namespace osprey::operators {

class WatermarkTracker {
 public:
  static constexpr uint8_t kFormatVersion = 1;
  // The watermark before any event: nothing is late.
  static constexpr int64_t kNoWatermark = std::numeric_limits<int64_t>::min();

  // `idle_timeout_ms` 0 = partitions never become idle. Caller keeps `clock` alive.
  WatermarkTracker(int64_t max_out_of_orderness_ms, int64_t idle_timeout_ms, const Clock& clock);

  // Records an event of `partition` at `event_time_ms`; the partition becomes active.
  void Observe(int32_t partition, int64_t event_time_ms);
  // Recomputes the watermark (partitions may have gone idle) and returns it.
  int64_t Advance();
  // Raises the watermark to at least `watermark_ms` (an upstream watermark).
  void AdvanceTo(int64_t watermark_ms);

  int64_t current() const { return current_; }
  size_t partitions() const { return partitions_.size(); }
  // Partitions not idle at the last Advance.
  size_t active_partitions() const { return active_; }

  void Save(std::string* out) const;
  Status Restore(std::string_view snapshot);

 private:
  struct Partition {
    int64_t max_event_time_ms = kNoWatermark;
    int64_t last_seen_ms = 0;  // processing time of its last event
  };

  const int64_t bound_ms_;         // Constant after construction
  const int64_t idle_timeout_ms_;  // Constant after construction
  const Clock& clock_;
  std::unordered_map<int32_t, Partition> partitions_;
  int64_t current_ = kNoWatermark;
  size_t active_ = 0;
};

}  // namespace osprey::operators
