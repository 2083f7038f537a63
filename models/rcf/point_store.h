// PointStore: the forest's shared store of points. Trees hold 32-bit point indices; each value is
// stored once as float, and with internal shingling consecutive shingles overlap in the store, so
// a shingle of S inputs costs input_dim new floats, not S * input_dim. Points are reference
// counted (one reference per tree-leaf mass unit); dead values are reclaimed by compaction, which
// moves live points but keeps their indices.
// Thread-compatible: const methods may be called concurrently; mutation needs external sync.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "config/base/bytes.h"
#include "config/base/status.h"

namespace osprey::models::rcf {

class PointStore {
 public:
  static constexpr uint32_t kNone = 0xFFFFFFFFu;

  // REQUIRES: input_dim >= 1, shingle_size >= 1.
  PointStore(int input_dim, int shingle_size);

  // Stores `point` (dimensions() floats), the shingle with sequence number `seq`, with one
  // reference. When the previous Add was shingle seq-1 and is still the newest data in the store,
  // only the newest input_dim values are appended. Amortised O(input_dim).
  uint32_t Add(const float* point, int64_t seq);
  void AddRef(uint32_t idx) { ++refs_[idx]; }
  // Drops a reference; at zero the index is freed (values are reclaimed by a later compaction).
  void Release(uint32_t idx);

  // REQUIRES: idx is live. Valid until the next Add.
  const float* Point(uint32_t idx) const { return values_.data() + loc_[idx]; }
  uint32_t refs(uint32_t idx) const { return refs_[idx]; }
  bool IsLive(uint32_t idx) const { return idx < refs_.size() && refs_[idx] > 0; }
  int dimensions() const { return dims_; }
  size_t live_points() const { return live_; }
  // Floats currently held (live and dead), and capacity; for tests and tuning.
  size_t used_values() const { return used_; }

  size_t MemoryBytes() const;
  void Save(ByteWriter& w) const;
  // Replaces the contents; Corruption on any inconsistency.
  Status Load(ByteReader& r);

 private:
  void Compact();
  uint32_t AllocIndex();

  // Constant after construction
  int input_dim_;
  int dims_;
  // Mutable state
  std::vector<float> values_;  // size() is the capacity; [0, used_) is written
  size_t used_ = 0;
  std::vector<uint32_t> loc_;   // live: offset of the point in values_; free: next free index
  std::vector<uint32_t> refs_;  // 0 = free
  uint32_t free_head_ = kNone;
  size_t live_ = 0;
  // The newest stored shingle, to share its overlap with the next one.
  int64_t last_seq_ = -1;  // -1: nothing to share
  uint32_t last_idx_ = kNone;
  size_t last_loc_ = 0;
};

}  // namespace osprey::models::rcf
