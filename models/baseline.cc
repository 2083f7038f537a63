#include "models/baseline.h"

#include <algorithm>
#include <cmath>

#include "config/base/bytes.h"

namespace osprey::models {

EwmaBaseline::EwmaBaseline(const config::BaselineDetectorOptions& options)
    : alpha_(1.0 - std::exp2(-1.0 / options.half_life_events)),
      warmup_(options.warmup_events),
      min_stddev_(options.min_stddev) {}

double EwmaBaseline::ScoreAndUpdate(std::span<const double> values, std::vector<double>* z) {
  if (mean_.empty()) {
    mean_.assign(values.begin(), values.end());
    var_.assign(values.size(), 0.0);
  }
  if (z != nullptr) z->assign(values.size(), 0.0);
  double score = 0;
  // Until 1/alpha points have been seen, weigh them equally (a plain running mean and variance);
  // a pure EWMA started from the first point underestimates the variance early and alarms.
  const double alpha = std::max(alpha_, 1.0 / static_cast<double>(count_ + 1));
  for (size_t idx = 0; idx < values.size(); ++idx) {
    double diff = values[idx] - mean_[idx];
    if (count_ >= warmup_) {
      double zi = diff / std::max(std::sqrt(var_[idx]), min_stddev_);
      if (z != nullptr) (*z)[idx] = zi;
      score = std::max(score, std::abs(zi));
    }
    // West's incremental exponentially weighted mean and variance.
    double incr = alpha * diff;
    mean_[idx] += incr;
    var_[idx] = (1.0 - alpha) * (var_[idx] + diff * incr);
  }
  ++count_;
  return score;
}

std::vector<double> EwmaBaseline::stddev() const {
  std::vector<double> out(var_.size());
  for (size_t idx = 0; idx < var_.size(); ++idx) out[idx] = std::sqrt(var_[idx]);
  return out;
}

void EwmaBaseline::Save(std::string* out) const {
  ByteWriter w(out);
  w.Put<uint8_t>(kFormatVersion);
  w.Put<int64_t>(count_);
  w.PutVector(mean_);
  w.PutVector(var_);
}

Status EwmaBaseline::Restore(std::string_view snapshot) {
  ByteReader r(snapshot);
  uint8_t version = 0;
  if (!r.Get(&version)) return Status::Corruption("baseline snapshot: empty");
  if (version != kFormatVersion) {
    return Status::Corruption("baseline snapshot: format version " + std::to_string(version) +
                              " is not supported (this build reads " +
                              std::to_string(kFormatVersion) + ")");
  }
  int64_t count = 0;
  std::vector<double> mean, var;
  if (!r.Get(&count) || !r.GetVector(&mean) || !r.GetVector(&var) || !r.done() ||
      mean.size() != var.size() || count < 0) {
    return Status::Corruption("baseline snapshot: truncated or inconsistent");
  }
  count_ = count;
  mean_ = std::move(mean);
  var_ = std::move(var);
  return Status::Ok();
}

}  // namespace osprey::models
