#include "models/rcf/sampler.h"

#include <algorithm>
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

void Sampler::Rebase(int64_t seq) {
  // Every stored key gains the same amount: the order (and so the heap) is unchanged.
  auto shift = static_cast<float>(time_decay_ * static_cast<double>(seq - base_seq_));
  for (float& k : keys_) k += shift;
  base_seq_ = seq;
}

void Sampler::ScheduleNext(int64_t seq, Rng& rng) {
  // Point s enters iff E_s < c_s = exp(theta + lambda * (s - base)), E_s ~ Exp(1) independent.
  // With V ~ Exp(1), the first entering point is the first s where the cumulative hazard
  // sum_{j=seq..s} c_j reaches V (a geometric series in s).
  const double a =
      static_cast<double>(keys_[0]) + time_decay_ * static_cast<double>(seq - base_seq_);
  const double v = -std::log(rng.NextOpenDouble());
  double steps;  // how many points after `seq` are skipped
  if (time_decay_ > 0) {
    steps = std::ceil(std::log1p(v * std::expm1(time_decay_) * std::exp(-a)) / time_decay_) - 1;
  } else {
    steps = std::ceil(v * std::exp(-a)) - 1;
  }
  constexpr double kFar = 4.0e18;
  steps = std::clamp(steps, 0.0, kFar - static_cast<double>(std::max<int64_t>(seq, 0)));
  next_accept_ = seq + static_cast<int64_t>(steps);
  scheduled_ = true;
}

Sampler::Decision Sampler::Offer(int64_t seq, Rng& rng) {
  Decision d;
  if (full()) {
    if (!scheduled_) ScheduleNext(seq, rng);
    if (seq < next_accept_) return d;
    if (time_decay_ * static_cast<double>(seq - base_seq_) > kRebaseAt) Rebase(seq);
    // The entering point's E conditioned on E < c: a truncated exponential.
    const double rel = time_decay_ * static_cast<double>(seq - base_seq_);
    const double c = std::exp(static_cast<double>(keys_[0]) + rel);
    const double e = -std::log1p(rng.NextOpenDouble() * std::expm1(-c));
    pending_key_ = static_cast<float>(std::log(e) - rel);
    scheduled_ = false;
    d.accepted = true;
    d.evicts = true;
    d.evicted_leaf = leaves_[0];
    pending_evicts_ = true;
    return d;
  }
  if (time_decay_ * static_cast<double>(seq - base_seq_) > kRebaseAt) Rebase(seq);
  auto key = static_cast<float>(std::log(-std::log(rng.NextOpenDouble())) -
                                time_decay_ * static_cast<double>(seq - base_seq_));
  double fill = static_cast<double>(size()) / capacity_;
  if (fill >= initial_accept_fraction_ && initial_accept_fraction_ < 1) {
    double accept = 1 - (fill - initial_accept_fraction_) / (1 - initial_accept_fraction_);
    if (rng.NextDouble() >= accept) return d;
  }
  d.accepted = true;
  pending_key_ = key;
  pending_evicts_ = false;
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
  w.Put<int64_t>(next_accept_);
  w.Put<uint8_t>(scheduled_ ? 1 : 0);
  w.PutVector(keys_);
  w.PutVector(leaves_);
}

Status Sampler::Load(ByteReader& r) {
  std::vector<float> keys;
  std::vector<uint16_t> leaves;
  int64_t base_seq = 0, next_accept = 0;
  uint8_t scheduled = 0;
  if (!r.Get(&base_seq) || !r.Get(&next_accept) || !r.Get(&scheduled) ||
      !r.GetVector(&keys, capacity_) || !r.GetVector(&leaves, capacity_)) {
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
  next_accept_ = next_accept;
  scheduled_ = scheduled != 0;
  leaves_ = std::move(leaves);
  pending_evicts_ = false;
  return Status::Ok();
}

}  // namespace osprey::models::rcf
