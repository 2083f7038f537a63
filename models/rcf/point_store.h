// PointStore: the forest's shared store of points. Trees hold a point's location (a 32-bit float
// offset into the store), so reading a leaf's point is one load. Each value is stored once as
// float, and with internal shingling consecutive shingles overlap in the store, so a shingle of S
// inputs costs input_dim new floats, not S * input_dim. The store keeps no reference counts: the
// owner knows which locations its trees hold and passes them to Compact, which slides the live
// points together (dropping everything else) and reports where each one moved; the owner then
// rewrites its trees' locations. Capacity follows the live footprint (grows and shrinks).
// Thread-compatible: const methods may be called concurrently; mutation needs external sync.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "config/base/bytes.h"
#include "config/base/status.h"

namespace osprey::models::rcf {

class PointStore {
 public:
  static constexpr uint32_t kNone = 0xFFFFFFFFu;

  // REQUIRES: input_dim >= 1, shingle_size >= 1.
  PointStore(int input_dim, int shingle_size);

  // True when Add(point, seq) does not fit in the current capacity: the owner should Compact
  // first (Add would otherwise grow the buffer).
  bool NeedsCompaction(const float* point, int64_t seq) const;
  // Stores `point` (dimensions() floats), the shingle with sequence number `seq`, and returns its
  // location. When the previous Add was shingle seq-1 and is still the newest data in the store,
  // only the newest input_dim values are appended. O(input_dim) unless the buffer grows.
  uint32_t Add(const float* point, int64_t seq);
  // Compaction table: one entry per input_dim floats written (table_size()). The owner sets
  // (*table)[loc / input_dim] = 1 for every live point location and passes it to Compact.
  size_t table_size() const { return used_ / input_dim_; }
  // Keeps the marked points plus the newest point, drops every other value, and rewrites
  // (*table)[loc / input_dim] of each marked point to its new location (order is kept). Then sets
  // the capacity to the live footprint plus a quarter. REQUIRES: table->size() == table_size().
  void Compact(std::vector<uint32_t>* table);

  // REQUIRES: IsValid(loc). Valid until the next Add or Compact.
  const float* Point(uint32_t loc) const { return values_.data() + loc; }
  // A location that a stored point can have (inside the written values, input-aligned).
  bool IsValid(uint32_t loc) const {
    return loc % static_cast<uint32_t>(input_dim_) == 0 &&
           static_cast<size_t>(loc) + static_cast<size_t>(dims_) <= used_;
  }
  int dimensions() const { return dims_; }
  // Floats currently written (live and dead), and capacity; for tests and tuning.
  size_t used_values() const { return used_; }
  size_t capacity_values() const { return values_.size(); }

  size_t MemoryBytes() const;
  void Save(ByteWriter& w) const;
  // Replaces the contents; Corruption on any inconsistency. Locations of the points are checked by
  // the owner (IsValid).
  Status Load(ByteReader& r);
  // Reads the format-1 store (point indices with reference counts); *index_loc receives the
  // location of every index (kNone for free ones) so that the owner can translate its trees.
  Status LoadV1(ByteReader& r, std::vector<uint32_t>* index_loc);

 private:
  bool CanShare(const float* point, int64_t seq) const;
  void Reallocate(size_t capacity);

  // Constant after construction
  int input_dim_;
  int dims_;
  // Mutable state
  std::vector<float> values_;  // size() is the capacity; [0, used_) is written
  size_t used_ = 0;
  // The newest stored shingle, to share its overlap with the next one.
  int64_t last_seq_ = -1;  // -1: nothing to share
  size_t last_loc_ = 0;
};

}  // namespace osprey::models::rcf
