#include "operators/watermark.h"

#include <algorithm>

#include "config/base/bytes.h"

namespace osprey::operators {

WatermarkTracker::WatermarkTracker(int64_t max_out_of_orderness_ms, int64_t idle_timeout_ms,
                                   const Clock& clock)
    : bound_ms_(max_out_of_orderness_ms), idle_timeout_ms_(idle_timeout_ms), clock_(clock) {}

void WatermarkTracker::Observe(int32_t partition, int64_t event_time_ms) {
  Partition& p = partitions_[partition];
  p.max_event_time_ms = std::max(p.max_event_time_ms, event_time_ms);
  if (idle_timeout_ms_ > 0) p.last_seen_ms = clock_.NowMillis();  // read only for idleness
}

int64_t WatermarkTracker::Advance() {
  const int64_t now = idle_timeout_ms_ > 0 ? clock_.NowMillis() : 0;
  int64_t lowest = std::numeric_limits<int64_t>::max();
  active_ = 0;
  for (const auto& [id, p] : partitions_) {
    if (idle_timeout_ms_ > 0 && now - p.last_seen_ms >= idle_timeout_ms_) continue;
    ++active_;
    int64_t wm = p.max_event_time_ms < kNoWatermark + bound_ms_ ? kNoWatermark
                                                                 : p.max_event_time_ms - bound_ms_;
    lowest = std::min(lowest, wm);
  }
  if (active_ > 0) current_ = std::max(current_, lowest);
  return current_;
}

void WatermarkTracker::AdvanceTo(int64_t watermark_ms) {
  current_ = std::max(current_, watermark_ms);
}

void WatermarkTracker::Save(std::string* out) const {
  ByteWriter w(out);
  w.Put<uint8_t>(kFormatVersion);
  w.Put(current_);
  w.PutVarint(partitions_.size());
  for (const auto& [id, p] : partitions_) {
    w.Put(id);
    w.Put(p.max_event_time_ms);
    w.Put(p.last_seen_ms);
  }
}

Status WatermarkTracker::Restore(std::string_view snapshot) {
  ByteReader r(snapshot);
  uint8_t version = 0;
  int64_t current = 0;
  uint64_t n = 0;
  if (!r.Get(&version) || version != kFormatVersion) {
    return Status::Corruption("watermark snapshot: missing or unsupported format version");
  }
  if (!r.Get(&current) || !r.GetVarint(&n) || n > r.remaining() / 20) {
    return Status::Corruption("watermark snapshot: bad header");
  }
  std::unordered_map<int32_t, Partition> partitions;
  for (uint64_t idx = 0; idx < n; ++idx) {
    int32_t id = 0;
    Partition p;
    if (!r.Get(&id) || !r.Get(&p.max_event_time_ms) || !r.Get(&p.last_seen_ms)) {
      return Status::Corruption("watermark snapshot: truncated");
    }
    partitions[id] = p;
  }
  if (!r.done()) return Status::Corruption("watermark snapshot: trailing bytes");
  partitions_ = std::move(partitions);
  current_ = std::max(current_, current);
  return Status::Ok();
}

}  // namespace osprey::operators
