#include "models/rcf/point_store.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "config/base/check.h"

namespace osprey::models::rcf {

PointStore::PointStore(int input_dim, int shingle_size)
    : input_dim_(input_dim), dims_(input_dim * shingle_size) {
  OSPREY_CHECK(input_dim >= 1 && shingle_size >= 1);
}

uint32_t PointStore::AllocIndex() {
  uint32_t idx;
  if (free_head_ != kNone) {
    idx = free_head_;
    free_head_ = loc_[idx];
  } else {
    idx = static_cast<uint32_t>(loc_.size());
    OSPREY_CHECK(idx != kNone) << "point store index space exhausted";
    loc_.push_back(0);
    refs_.push_back(0);
  }
  return idx;
}

uint32_t PointStore::Add(const float* point, int64_t seq) {
  auto can_share = [&] {
    return last_seq_ >= 0 && seq == last_seq_ + 1 && dims_ > input_dim_ &&
           last_loc_ + dims_ == used_ &&
           std::memcmp(values_.data() + last_loc_ + input_dim_, point,
                       sizeof(float) * (dims_ - input_dim_)) == 0;
  };
  bool share = can_share();
  size_t need = share ? input_dim_ : dims_;
  if (used_ + need > values_.size()) {
    Compact();
    share = can_share();
    need = share ? input_dim_ : dims_;
    // Keep at least a quarter of the capacity free so compactions stay amortised O(1).
    size_t cap = values_.size();
    if (used_ + need > cap - cap / 4) {
      size_t grown = std::max<size_t>((used_ + need) * 3 / 2, 32 * static_cast<size_t>(dims_));
      values_.resize(grown);
    }
  }
  uint32_t idx = AllocIndex();
  size_t loc;
  if (share) {
    loc = last_loc_ + input_dim_;
    std::memcpy(values_.data() + used_, point + (dims_ - input_dim_), sizeof(float) * input_dim_);
  } else {
    loc = used_;
    std::memcpy(values_.data() + used_, point, sizeof(float) * dims_);
  }
  used_ += need;
  loc_[idx] = static_cast<uint32_t>(loc);
  refs_[idx] = 1;
  ++live_;
  last_seq_ = seq;
  last_idx_ = idx;
  last_loc_ = loc;
  return idx;
}

void PointStore::Release(uint32_t idx) {
  OSPREY_CHECK(refs_[idx] > 0) << "release of a free point " << idx;
  if (--refs_[idx] == 0) {
    loc_[idx] = free_head_;
    free_head_ = idx;
    --live_;
  }
}

void PointStore::Compact() {
  std::vector<std::pair<uint32_t, uint32_t>> order;  // (loc, idx) of live points
  order.reserve(live_);
  for (uint32_t idx = 0; idx < refs_.size(); ++idx) {
    if (refs_[idx] > 0) order.emplace_back(loc_[idx], idx);
  }
  std::sort(order.begin(), order.end());
  bool last_live = last_seq_ >= 0 && last_idx_ < refs_.size() && refs_[last_idx_] > 0 &&
                   loc_[last_idx_] == last_loc_;
  // Merge overlapping [loc, loc + dims) ranges into runs and slide each run left.
  size_t write = 0;
  size_t run_start = 0, run_end = 0, run_new = 0;
  bool in_run = false;
  auto flush = [&] {
    if (!in_run) return;
    std::memmove(values_.data() + run_new, values_.data() + run_start,
                 sizeof(float) * (run_end - run_start));
    write = run_new + (run_end - run_start);
  };
  for (auto [loc, idx] : order) {
    if (!in_run || loc > run_end) {
      flush();
      in_run = true;
      run_start = loc;
      run_end = loc + dims_;
      run_new = write;
    } else {
      run_end = std::max<size_t>(run_end, loc + dims_);
    }
    loc_[idx] = static_cast<uint32_t>(run_new + (loc - run_start));
  }
  flush();
  used_ = write;
  if (last_live) {
    last_loc_ = loc_[last_idx_];
  } else {
    last_seq_ = -1;
  }
}

size_t PointStore::MemoryBytes() const {
  return sizeof(*this) + values_.capacity() * sizeof(float) +
         (loc_.capacity() + refs_.capacity()) * sizeof(uint32_t);
}

void PointStore::Save(ByteWriter& w) const {
  w.Put<uint32_t>(static_cast<uint32_t>(input_dim_));
  w.Put<uint32_t>(static_cast<uint32_t>(dims_));
  std::vector<float> used_values(values_.begin(), values_.begin() + used_);
  w.PutVector(used_values);
  w.PutVector(loc_);
  w.PutVector(refs_);
  w.Put<uint32_t>(free_head_);
  w.Put<int64_t>(last_seq_);
  w.Put<uint32_t>(last_idx_);
  w.Put<uint64_t>(last_loc_);
  w.Put<uint64_t>(values_.size());  // capacity: compactions then happen at the same points
}

Status PointStore::Load(ByteReader& r) {
  uint32_t input_dim = 0, dims = 0;
  std::vector<float> values;
  std::vector<uint32_t> loc, refs;
  uint32_t free_head = kNone, last_idx = kNone;
  int64_t last_seq = -1;
  uint64_t last_loc = 0, capacity = 0;
  if (!r.Get(&input_dim) || !r.Get(&dims) || !r.GetVector(&values) || !r.GetVector(&loc) ||
      !r.GetVector(&refs) || !r.Get(&free_head) || !r.Get(&last_seq) || !r.Get(&last_idx) ||
      !r.Get(&last_loc) || !r.Get(&capacity)) {
    return Status::Corruption("rcf point store: truncated");
  }
  if (static_cast<int>(input_dim) != input_dim_ || static_cast<int>(dims) != dims_) {
    return Status::Corruption("rcf point store: dimensions do not match the options");
  }
  if (loc.size() != refs.size() || loc.size() >= kNone) {
    return Status::Corruption("rcf point store: index arrays disagree");
  }
  size_t live = 0;
  for (size_t idx = 0; idx < refs.size(); ++idx) {
    if (refs[idx] == 0) continue;
    ++live;
    if (static_cast<uint64_t>(loc[idx]) + dims > values.size()) {
      return Status::Corruption("rcf point store: point outside the value buffer");
    }
  }
  size_t free_count = 0;
  for (uint32_t idx = free_head; idx != kNone; idx = loc[idx]) {
    if (idx >= refs.size() || refs[idx] != 0 || ++free_count > refs.size()) {
      return Status::Corruption("rcf point store: bad free list");
    }
  }
  if (free_count + live != refs.size()) {
    return Status::Corruption("rcf point store: free list does not cover the free points");
  }
  if (last_seq >= 0 && last_loc + dims > values.size()) {
    return Status::Corruption("rcf point store: bad newest-point location");
  }
  if (capacity < values.size() || capacity > (uint64_t{1} << 32)) {
    return Status::Corruption("rcf point store: bad capacity");
  }
  used_ = values.size();
  values_ = std::move(values);
  values_.resize(capacity);
  loc_ = std::move(loc);
  refs_ = std::move(refs);
  free_head_ = free_head;
  live_ = live;
  last_seq_ = last_seq;
  last_idx_ = last_idx;
  last_loc_ = last_loc;
  return Status::Ok();
}

}  // namespace osprey::models::rcf
