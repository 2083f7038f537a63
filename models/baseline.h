// EwmaBaseline: the streaming baseline detector. Exponentially weighted mean and variance per
// value; each point is scored as |z| against the state before it (max over values), then folded
// in. It stays as the yardstick RCF is compared against.
// Thread-compatible.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/base/status.h"
#include "config/options.h"

namespace osprey::models {

class EwmaBaseline {
 public:
  // Snapshot format version written by Save.
  static constexpr uint8_t kFormatVersion = 1;

  explicit EwmaBaseline(const config::BaselineDetectorOptions& options);

  // Scores `values` against the state before them and then updates the state. Returns the
  // largest |z| over the values, or 0 while fewer than warmup_events points have been seen.
  // `z` (optional) receives the signed z per value.
  // REQUIRES: every call passes the same number of values.
  double ScoreAndUpdate(std::span<const double> values, std::vector<double>* z = nullptr);

  int64_t count() const { return count_; }
  const std::vector<double>& mean() const { return mean_; }
  // Standard deviation per value (before the floor is applied).
  std::vector<double> stddev() const;

  // Versioned binary snapshot of the state (options are not stored; they come from config).
  void Save(std::string* out) const;
  Status Restore(std::string_view snapshot);

 private:
  double alpha_;          // Constant after construction
  int64_t warmup_;        // Constant after construction
  double min_stddev_;     // Constant after construction
  int64_t count_ = 0;
  std::vector<double> mean_;
  std::vector<double> var_;
};

}  // namespace osprey::models
