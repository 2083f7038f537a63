#include "models/rcf/sampler.h"

#include <cmath>
#include <utility>

#include "config/base/check.h"

namespace osprey::models::rcf {
namespace {
constexpr double kRebaseAt = 4.0;  // keeps relative keys within a few units of ln(-ln u)
}  // namespace

Sampler::Sampler(int capacity, double time_decay, double initial_accept_fraction)
    : capacity_(capacity),
      time_decay_(time_decay),
      initial_accept_fraction_(initial_accept_fraction) {
  OSPREY_CHECK(capacity >= 1 && capacity <= 32767) << capacity;
  keys_.reserve(capacity);
  leaves_.reserve(capacity);
}

Sampler::Decision Sampler::Offer(int64_t seq, Rng& rng) {
  Decision d;
  if (time_decay_ * static_cast<double>(seq - base_seq_) > kRebaseAt) {
    // Every stored key gains the same amount: the order (and so the heap) is unchanged.
    auto shift = static_cast<float>(time_decay_ * static_cast<double>(seq - base_seq_));
    for (float& k : keys_) k += shift;
    pending_key_ += shift;
    base_seq_ = seq;
  }
  auto key = static_cast<float>(std::log(-std::log(rng.NextOpenDouble())) -
                                time_decay_ * static_cast<double>(seq - base_seq_));
  if (!full()) {
    double fill = static_cast<double>(size()) / capacity_;
    if (fill >= initial_accept_fraction_ && initial_accept_fraction_ < 1) {
      double accept = 1 - (fill - initial_accept_fraction_) / (1 - initial_accept_fraction_);
      if (rng.NextDouble() >= accept) return d;
    }
    d.accepted = true;
  } else if (key < keys_[0]) {
    d.accepted = true;
    d.evicts = true;
    d.evicted_leaf = leaves_[0];
  }
  pending_key_ = key;
  pending_evicts_ = d.evicts;
  return d;
}

void Sampler::Commit(uint16_t leaf) {
  if (pending_evicts_) {
    keys_[0] = pending_key_;
    leaves_[0] = leaf;
    SiftDown(0);
  } else {
    OSPREY_CHECK(!full());
    keys_.push_back(pending_key_);
    leaves_.push_back(leaf);
    SiftUp(keys_.size() - 1);
  }
  pending_evicts_ = false;
}

void Sampler::SiftUp(size_t pos) {
  float key = keys_[pos];
  uint16_t leaf = leaves_[pos];
  while (pos > 0) {
    size_t parent = (pos - 1) / 2;
    if (!(keys_[parent] < key)) break;
    keys_[pos] = keys_[parent];
    leaves_[pos] = leaves_[parent];
    pos = parent;
  }
  keys_[pos] = key;
  leaves_[pos] = leaf;
}

void Sampler::SiftDown(size_t pos) {
  size_t n = keys_.size();
  float key = keys_[pos];
  uint16_t leaf = leaves_[pos];
  while (true) {
    size_t child = 2 * pos + 1;
    if (child >= n) break;
    if (child + 1 < n && keys_[child + 1] > keys_[child]) ++child;
    if (!(keys_[child] > key)) break;
    keys_[pos] = keys_[child];
    leaves_[pos] = leaves_[child];
    pos = child;
  }
  keys_[pos] = key;
  leaves_[pos] = leaf;
}

size_t Sampler::MemoryBytes() const {
  return sizeof(*this) + keys_.capacity() * sizeof(float) + leaves_.capacity() * sizeof(uint16_t);
}

void Sampler::Save(ByteWriter& w) const {
  w.Put<int64_t>(base_seq_);
  w.PutVector(keys_);
  w.PutVector(leaves_);
}

Status Sampler::Load(ByteReader& r) {
  std::vector<float> keys;
  std::vector<uint16_t> leaves;
  int64_t base_seq = 0;
  if (!r.Get(&base_seq) || !r.GetVector(&keys, capacity_) || !r.GetVector(&leaves, capacity_)) {
    return Status::Corruption("rcf sampler: truncated or larger than sample_size");
  }
  if (keys.size() != leaves.size()) return Status::Corruption("rcf sampler: arrays disagree");
  for (size_t pos = 1; pos < keys.size(); ++pos) {
    if (!(keys[(pos - 1) / 2] >= keys[pos])) return Status::Corruption("rcf sampler: not a heap");
  }
  keys.reserve(capacity_);
  leaves.reserve(capacity_);
  keys_ = std::move(keys);
  base_seq_ = base_seq;
  leaves_ = std::move(leaves);
  pending_evicts_ = false;
  return Status::Ok();
}

}  // namespace osprey::models::rcf
