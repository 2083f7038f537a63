#include "models/sketch/quantile_sketch.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "config/base/check.h"

namespace osprey::models {

QuantileSketch::QuantileSketch(int k, uint64_t seed) : k_(k), rng_(seed | 1) {
  OSPREY_CHECK(k >= 8 && k <= 65535) << k;
  Grow();
}

int QuantileSketch::Capacity(size_t level) const {
  size_t depth = levels_.size() - level - 1;
  return static_cast<int>(std::ceil(std::pow(2.0 / 3.0, static_cast<double>(depth)) * k_)) + 1;
}

void QuantileSketch::Grow() {
  levels_.emplace_back();
  if (levels_.size() == 1) {  // Capacity(0) of a one-level sketch, without pow()
    max_size_ = static_cast<size_t>(k_) + 1;
    return;
  }
  max_size_ = 0;
  for (size_t h = 0; h < levels_.size(); ++h) max_size_ += static_cast<size_t>(Capacity(h));
}

bool QuantileSketch::NextBit() {  // xorshift64
  rng_ ^= rng_ << 13;
  rng_ ^= rng_ >> 7;
  rng_ ^= rng_ << 17;
  return (rng_ >> 32) & 1;
}

void QuantileSketch::Add(double x) {
  if (std::isnan(x)) return;
  if (n_ == 0 || x < min_) min_ = x;
  if (n_ == 0 || x > max_) max_ = x;
  ++n_;
  levels_[0].push_back(x);
  ++size_;
  if (size_ >= max_size_) Compress();
}

void QuantileSketch::Compress() {
  for (size_t h = 0; h < levels_.size(); ++h) {
    std::vector<double>& level = levels_[h];
    if (level.size() < static_cast<size_t>(Capacity(h))) continue;
    if (h + 1 >= levels_.size()) Grow();  // may reallocate levels_
    std::vector<double>& cur = levels_[h];
    std::vector<double>& up = levels_[h + 1];
    std::sort(cur.begin(), cur.end());
    size_t keep = cur.size() % 2;  // an odd item (the smallest) stays at this level
    size_t offset = NextBit() ? 1 : 0;
    for (size_t idx = keep; idx + 1 < cur.size(); idx += 2) up.push_back(cur[idx + offset]);
    cur.resize(keep);
    size_ = 0;
    for (const auto& l : levels_) size_ += l.size();
    if (size_ < max_size_) break;
  }
}

Status QuantileSketch::Merge(const QuantileSketch& other) {
  if (other.k_ != k_) {
    return Status::InvalidArgument("quantile sketch merge: k " + std::to_string(other.k_) +
                                   " into " + std::to_string(k_));
  }
  if (other.n_ == 0) return Status::Ok();
  if (n_ == 0 || other.min_ < min_) min_ = other.min_;
  if (n_ == 0 || other.max_ > max_) max_ = other.max_;
  while (levels_.size() < other.levels_.size()) Grow();
  for (size_t h = 0; h < other.levels_.size(); ++h) {
    levels_[h].insert(levels_[h].end(), other.levels_[h].begin(), other.levels_[h].end());
  }
  n_ += other.n_;
  size_ += other.size_;
  while (size_ >= max_size_) {
    size_t before = size_;
    Compress();
    if (size_ == before) break;  // nothing compactable (cannot happen with capacities ≥ 2)
  }
  return Status::Ok();
}

double QuantileSketch::min() const {
  return n_ > 0 ? min_ : std::numeric_limits<double>::quiet_NaN();
}
double QuantileSketch::max() const {
  return n_ > 0 ? max_ : std::numeric_limits<double>::quiet_NaN();
}

int64_t QuantileSketch::TargetRank(double q, int64_t n) {
  auto target = static_cast<int64_t>(std::ceil(q * static_cast<double>(n)));
  return std::clamp<int64_t>(target, 1, std::max<int64_t>(n, 1));
}

double QuantileSketch::RankErrorBound(int k) { return 2.5 / std::pow(k, 0.95); }

double QuantileSketch::Quantile(double q) const {
  if (n_ == 0) return std::numeric_limits<double>::quiet_NaN();
  if (q <= 0) return min_;
  if (q >= 1) return max_;
  std::vector<std::pair<double, int64_t>> items;
  items.reserve(size_);
  for (size_t h = 0; h < levels_.size(); ++h) {
    for (double v : levels_[h]) items.emplace_back(v, int64_t{1} << h);
  }
  std::sort(items.begin(), items.end());
  int64_t target = TargetRank(q, n_);
  int64_t cumulative = 0;
  for (const auto& [v, w] : items) {
    cumulative += w;
    if (cumulative >= target) return v;
  }
  return items.back().first;
}

void QuantileSketch::AppendWeightedItems(std::vector<std::pair<double, int64_t>>* out) const {
  for (size_t h = 0; h < levels_.size(); ++h) {
    for (double v : levels_[h]) out->emplace_back(v, int64_t{1} << h);
  }
}

double QuantileSketch::Rank(double x) const {
  if (n_ == 0) return 0;
  int64_t below = 0;
  for (size_t h = 0; h < levels_.size(); ++h) {
    for (double v : levels_[h]) {
      if (v <= x) below += int64_t{1} << h;
    }
  }
  return static_cast<double>(below) / static_cast<double>(n_);
}

void QuantileSketch::Save(ByteWriter& w) const {
  w.Put<uint8_t>(kFormatVersion);
  w.Put<uint32_t>(static_cast<uint32_t>(k_));
  w.Put(rng_);
  w.Put(n_);
  w.Put(min_);
  w.Put(max_);
  w.PutVarint(levels_.size());
  for (const auto& level : levels_) w.PutVector(level);
}

Result<QuantileSketch> QuantileSketch::Load(ByteReader& r) {
  uint8_t version = 0;
  if (!r.Get(&version) || version != kFormatVersion) {
    return Status::Corruption("quantile sketch: missing or unsupported format version");
  }
  uint32_t k = 0;
  uint64_t rng = 0, levels = 0;
  int64_t n = 0;
  double min = 0, max = 0;
  if (!r.Get(&k) || !r.Get(&rng) || !r.Get(&n) || !r.Get(&min) || !r.Get(&max) ||
      !r.GetVarint(&levels) || rng == 0 || k < 8 || k > 65535 || n < 0 || levels < 1 || levels > 62) {
    return Status::Corruption("quantile sketch: bad header");
  }
  QuantileSketch sketch(static_cast<int>(k));
  sketch.rng_ = rng;
  while (sketch.levels_.size() < levels) sketch.Grow();
  int64_t weight = 0;
  for (size_t h = 0; h < levels; ++h) {
    if (!sketch.levels_[h].empty() || !r.GetVector(&sketch.levels_[h], 1 << 20)) {
      return Status::Corruption("quantile sketch: truncated level");
    }
    sketch.size_ += sketch.levels_[h].size();
    weight += static_cast<int64_t>(sketch.levels_[h].size()) << h;
  }
  if (weight != n || sketch.size_ > sketch.max_size_ + 1) {
    return Status::Corruption("quantile sketch: weights do not add up to the count");
  }
  sketch.n_ = n;
  sketch.min_ = min;
  sketch.max_ = max;
  return sketch;
}

}  // namespace osprey::models
