// RunningStats: count, compensated sum, Welford mean/variance, min/max and first/last of one
// stream of doubles; mergeable with Chan et al.'s pairwise formula, so partial aggregates (window
// panes, merged sessions) combine without loss of stability. Header-only, pure computation.
// Thread-compatible.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

#include "config/base/bytes.h"

namespace osprey::models {

class RunningStats {
 public:
  // Adds `x` observed at event time `time_ms`; `seq` is the arrival order (strictly increasing
  // per caller), used to break ties for first/last. First = least (time_ms, seq); last = greatest.
  void Add(double x, int64_t time_ms, int64_t seq) {
    ++count_;
    double delta = x - mean_;
    mean_ += delta / static_cast<double>(count_);
    m2_ += delta * (x - mean_);
    AddToSum(x);
    if (x < min_) min_ = x;
    if (x > max_) max_ = x;
    if (count_ == 1 || Before(time_ms, seq, first_time_ms_, first_seq_)) {
      first_ = x;
      first_time_ms_ = time_ms;
      first_seq_ = seq;
    }
    if (count_ == 1 || Before(last_time_ms_, last_seq_, time_ms, seq)) {
      last_ = x;
      last_time_ms_ = time_ms;
      last_seq_ = seq;
    }
  }

  // Folds `other` in (Chan, Golub, LeVeque 1979).
  void Merge(const RunningStats& other) {
    if (other.count_ == 0) return;
    if (count_ == 0) {
      *this = other;
      return;
    }
    double n_a = static_cast<double>(count_);
    double n_b = static_cast<double>(other.count_);
    double n = n_a + n_b;
    double delta = other.mean_ - mean_;
    mean_ += delta * n_b / n;
    m2_ += other.m2_ + delta * delta * n_a * n_b / n;
    count_ += other.count_;
    AddToSum(other.sum_);
    AddToSum(other.compensation_);
    if (other.min_ < min_) min_ = other.min_;
    if (other.max_ > max_) max_ = other.max_;
    if (Before(other.first_time_ms_, other.first_seq_, first_time_ms_, first_seq_)) {
      first_ = other.first_;
      first_time_ms_ = other.first_time_ms_;
      first_seq_ = other.first_seq_;
    }
    if (Before(last_time_ms_, last_seq_, other.last_time_ms_, other.last_seq_)) {
      last_ = other.last_;
      last_time_ms_ = other.last_time_ms_;
      last_seq_ = other.last_seq_;
    }
  }

  int64_t count() const { return count_; }
  // The statistics of an empty stream are NaN (count and sum are 0).
  double sum() const { return sum_ + compensation_; }
  double mean() const { return count_ > 0 ? mean_ : kNaN; }
  // Population variance.
  double variance() const { return count_ > 0 ? m2_ / static_cast<double>(count_) : kNaN; }
  double stddev() const { return std::sqrt(variance()); }
  double min() const { return count_ > 0 ? min_ : kNaN; }
  double max() const { return count_ > 0 ? max_ : kNaN; }
  double first() const { return count_ > 0 ? first_ : kNaN; }
  double last() const { return count_ > 0 ? last_ : kNaN; }

  // Fixed-size binary encoding (no version byte: the owner versions its snapshot).
  void Save(ByteWriter& w) const {
    w.Put(count_);
    w.Put(mean_);
    w.Put(m2_);
    w.Put(sum_);
    w.Put(compensation_);
    w.Put(min_);
    w.Put(max_);
    w.Put(first_);
    w.Put(first_time_ms_);
    w.Put(first_seq_);
    w.Put(last_);
    w.Put(last_time_ms_);
    w.Put(last_seq_);
  }
  [[nodiscard]] bool Load(ByteReader& r) {
    return r.Get(&count_) && r.Get(&mean_) && r.Get(&m2_) && r.Get(&sum_) &&
           r.Get(&compensation_) && r.Get(&min_) && r.Get(&max_) && r.Get(&first_) &&
           r.Get(&first_time_ms_) && r.Get(&first_seq_) && r.Get(&last_) &&
           r.Get(&last_time_ms_) && r.Get(&last_seq_) && count_ >= 0;
  }

 private:
  static constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

  static bool Before(int64_t t_a, int64_t seq_a, int64_t t_b, int64_t seq_b) {
    return t_a < t_b || (t_a == t_b && seq_a < seq_b);
  }
  // Neumaier's compensated summation.
  void AddToSum(double x) {
    double t = sum_ + x;
    if (std::abs(sum_) >= std::abs(x)) {
      compensation_ += (sum_ - t) + x;
    } else {
      compensation_ += (x - t) + sum_;
    }
    sum_ = t;
  }

  int64_t count_ = 0;
  double mean_ = 0;
  double m2_ = 0;
  double sum_ = 0;
  double compensation_ = 0;
  double min_ = std::numeric_limits<double>::infinity();
  double max_ = -std::numeric_limits<double>::infinity();
  double first_ = 0;
  int64_t first_time_ms_ = 0;
  int64_t first_seq_ = 0;
  double last_ = 0;
  int64_t last_time_ms_ = 0;
  int64_t last_seq_ = 0;
};

}  // namespace osprey::models
