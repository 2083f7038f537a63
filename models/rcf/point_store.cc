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

bool PointStore::CanShare(const float* point, int64_t seq) const {
  return last_seq_ >= 0 && seq == last_seq_ + 1 && dims_ > input_dim_ &&
         last_loc_ + dims_ == used_ &&
         std::memcmp(values_.data() + last_loc_ + input_dim_, point,
                     sizeof(float) * (dims_ - input_dim_)) == 0;
}

bool PointStore::NeedsCompaction(const float* point, int64_t seq) const {
  const size_t need = CanShare(point, seq) ? input_dim_ : dims_;
  return used_ + need > values_.size();
}

void PointStore::Reallocate(size_t capacity) {
  capacity = std::max(capacity, used_);
  if (capacity == values_.size()) return;
  std::vector<float> fresh(capacity);
  std::copy(values_.begin(), values_.begin() + used_, fresh.begin());
  values_ = std::move(fresh);
}

uint32_t PointStore::Add(const float* point, int64_t seq) {
  const bool share = CanShare(point, seq);
  const size_t need = share ? input_dim_ : dims_;
  if (used_ + need > values_.size()) {
    Reallocate(std::max<size_t>((used_ + need) * 5 / 4, 16 * static_cast<size_t>(dims_)));
  }
  OSPREY_CHECK(used_ + need < kNone) << "point store location space exhausted";
  size_t loc;
  if (share) {
    loc = last_loc_ + input_dim_;
    std::memcpy(values_.data() + used_, point + (dims_ - input_dim_), sizeof(float) * input_dim_);
  } else {
    loc = used_;
    std::memcpy(values_.data() + used_, point, sizeof(float) * dims_);
  }
  used_ += need;
  last_seq_ = seq;
  last_loc_ = loc;
  return static_cast<uint32_t>(loc);
}

void PointStore::Compact(std::vector<uint32_t>* table) {
  OSPREY_CHECK(table->size() == table_size()) << "compaction table of the wrong size";
  // Merge overlapping [loc, loc + dims) ranges into runs and slide each run left. The newest
  // point is kept (it is shared with the next shingle).
  const size_t in = static_cast<size_t>(input_dim_);
  const size_t keep_last = last_seq_ >= 0 ? last_loc_ / in : table->size();
  size_t write = 0;
  size_t run_start = 0, run_end = 0, run_new = 0;
  bool in_run = false;
  auto flush = [&] {
    if (!in_run) return;
    std::memmove(values_.data() + run_new, values_.data() + run_start,
                 sizeof(float) * (run_end - run_start));
    write = run_new + (run_end - run_start);
  };
  uint32_t* marks = table->data();
  for (size_t h = 0; h < table->size(); ++h) {
    if (marks[h] == 0 && h != keep_last) continue;
    const size_t loc = h * in;
    if (!in_run || loc > run_end) {
      flush();
      in_run = true;
      run_start = loc;
      run_end = loc + dims_;
      run_new = write;
    } else {
      run_end = std::max<size_t>(run_end, loc + dims_);
    }
    const size_t moved = run_new + (loc - run_start);
    if (h == keep_last) last_loc_ = moved;
    if (marks[h] != 0) marks[h] = static_cast<uint32_t>(moved);
  }
  flush();
  used_ = in_run ? write : 0;
  Reallocate(std::max<size_t>(used_ + used_ / 4 + dims_, 16 * static_cast<size_t>(dims_)));
}

size_t PointStore::MemoryBytes() const {
  return sizeof(*this) + values_.capacity() * sizeof(float);
}

void PointStore::Save(ByteWriter& w) const {
  w.Put<uint32_t>(static_cast<uint32_t>(input_dim_));
  w.Put<uint32_t>(static_cast<uint32_t>(dims_));
  std::vector<float> used_values(values_.begin(), values_.begin() + used_);
  w.PutVector(used_values);
  w.Put<int64_t>(last_seq_);
  w.Put<uint64_t>(last_loc_);
  w.Put<uint64_t>(values_.size());  // capacity: compactions then happen at the same points
}

Status PointStore::Load(ByteReader& r) {
  uint32_t input_dim = 0, dims = 0;
  std::vector<float> values;
  int64_t last_seq = -1;
  uint64_t last_loc = 0, capacity = 0;
  if (!r.Get(&input_dim) || !r.Get(&dims) || !r.GetVector(&values) || !r.Get(&last_seq) ||
      !r.Get(&last_loc) || !r.Get(&capacity)) {
    return Status::Corruption("rcf point store: truncated");
  }
  if (static_cast<int>(input_dim) != input_dim_ || static_cast<int>(dims) != dims_) {
    return Status::Corruption("rcf point store: dimensions do not match the options");
  }
  if (values.size() % input_dim != 0 || values.size() >= kNone) {
    return Status::Corruption("rcf point store: bad value count");
  }
  if (last_seq >= 0 && (last_loc + dims > values.size() || last_loc % input_dim != 0)) {
    return Status::Corruption("rcf point store: bad newest-point location");
  }
  if (capacity < values.size() || capacity > (uint64_t{1} << 32)) {
    return Status::Corruption("rcf point store: bad capacity");
  }
  used_ = values.size();
  values_ = std::move(values);
  values_.resize(capacity);
  values_.shrink_to_fit();
  last_seq_ = last_seq;
  last_loc_ = last_loc;
  return Status::Ok();
}

Status PointStore::LoadV1(ByteReader& r, std::vector<uint32_t>* index_loc) {
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
  if (loc.size() != refs.size() || loc.size() >= kNone || values.size() >= kNone) {
    return Status::Corruption("rcf point store: index arrays disagree");
  }
  index_loc->assign(loc.size(), kNone);
  for (size_t idx = 0; idx < refs.size(); ++idx) {
    if (refs[idx] == 0) continue;
    if (static_cast<uint64_t>(loc[idx]) + dims > values.size() || loc[idx] % input_dim != 0) {
      return Status::Corruption("rcf point store: point outside the value buffer");
    }
    (*index_loc)[idx] = loc[idx];
  }
  if (last_seq >= 0 && (last_loc + dims > values.size() || last_loc % input_dim != 0)) {
    return Status::Corruption("rcf point store: bad newest-point location");
  }
  if (capacity < values.size() || capacity > (uint64_t{1} << 32)) {
    return Status::Corruption("rcf point store: bad capacity");
  }
  used_ = values.size();
  values_ = std::move(values);
  values_.resize(capacity);
  last_seq_ = last_seq;
  last_loc_ = last_loc;
  return Status::Ok();
}

}  // namespace osprey::models::rcf
