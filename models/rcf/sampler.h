// Sampler: one tree's time-decayed weighted reservoir (AWS CompactSampler design). Point t gets
// the priority key -lambda*t + ln(-ln(u)/w), u uniform in (0,1), and the sampler keeps the
// `capacity` smallest keys (a max-heap evicts the largest), i.e. a weighted sample without
// replacement with weights proportional to w*exp(lambda*t). While less than
// initial_accept_fraction full every point is accepted; then acceptance falls linearly to 0 at
// full. Entries name the tree leaf holding the point (16-bit). Once full, the sampler draws
// directly which later point will next enter (exponential jumps, Efraimidis-Spirakis A-ExpJ
// adapted to time-decayed weights) and that point's key conditioned on entering: rejected offers
// cost O(1) and no randomness, with the same distribution as drawing every key.
// Thread-compatible.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "config/base/bytes.h"
#include "config/base/status.h"
#include "models/rcf/rng.h"

namespace osprey::models::rcf {

class Sampler {
 public:
  // REQUIRES: 1 <= capacity <= 32767, time_decay >= 0, 0 < initial_accept_fraction <= 1.
  Sampler(int capacity, double time_decay, double initial_accept_fraction);

  struct Decision {
    bool accepted = false;
    bool evicts = false;  // when accepted: the sample was full and loses `evicted_leaf`
    uint16_t evicted_leaf = 0;
  };
  // Decides whether point `seq` (weight 1) enters the sample. After an accepting decision the
  // caller removes `evicted_leaf` from its tree (if evicts), inserts the point, and calls
  // Commit with the leaf now holding it, before the next Offer.
  Decision Offer(int64_t seq, Rng& rng);
  // True when Offer(seq, ...) would certainly reject without changing anything (a full sample
  // whose next acceptance is already scheduled later): the caller may skip the call.
  bool SkipsWithoutChange(int64_t seq) const { return scheduled_ && seq < next_accept_ && full(); }
  void Commit(uint16_t leaf);

  int size() const { return static_cast<int>(leaves_.size()); }
  int capacity() const { return capacity_; }
  bool full() const { return size() == capacity_; }
  // Entries in heap order; keys are relative to key_base_seq() (add -lambda * base). For tests.
  const std::vector<float>& keys() const { return keys_; }
  int64_t key_base_seq() const { return base_seq_; }
  const std::vector<uint16_t>& leaves() const { return leaves_; }

  size_t MemoryBytes() const;
  void Save(ByteWriter& w) const;
  Status Load(ByteReader& r);

 private:
  void SiftDown(size_t pos);
  void SiftUp(size_t pos);
  void Rebase(int64_t seq);
  // Draws the next accepted sequence number >= seq given the current threshold keys_[0].
  void ScheduleNext(int64_t seq, Rng& rng);

  // Constant after construction
  int capacity_;
  double time_decay_;
  double initial_accept_fraction_;
  // Max-heap on keys_ (parallel arrays). Keys are stored as float relative to base_seq_:
  // key = ln(-ln u) - lambda * (seq - base_seq_); the base moves forward (adding the same
  // constant to every key, which keeps the heap order) before lambda * (seq - base) gets large.
  std::vector<float> keys_;
  std::vector<uint16_t> leaves_;
  int64_t base_seq_ = 0;
  // When full: the next sequence number that enters (valid if scheduled_).
  int64_t next_accept_ = 0;
  bool scheduled_ = false;
  // Between an accepting Offer and its Commit.
  float pending_key_ = 0;
  bool pending_evicts_ = false;
};

}  // namespace osprey::models::rcf
