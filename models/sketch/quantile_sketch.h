// QuantileSketch: a mergeable KLL quantile sketch (Karnin, Lang, Liberty, "Optimal Quantile
// Approximation in Streams", 2016), in the compactor-hierarchy form of Liberty's reference
// implementation: level h holds items of weight 2^h; a full level is sorted and every other
// item (random offset) moves up a level. Capacities shrink geometrically (k·(2/3)^depth) below
// the top level, so the sketch holds about 3k items whatever the stream length.
//
// Error bound: for any single query, |estimated rank − true rank| ≤ ε·n with probability
// ≥ 99 %, where ε = RankErrorBound(k) ≈ 2.5 / k^0.95 (1.7 % at k = 200, 0.45 % at k = 800); this
// is the KLL bound O(sqrt(log(1/δ))/k) with constants fitted on this implementation and
// checked by tests/models/sketch/quantile_sketch_test.cc. Merging preserves the bound. While no
// compaction has happened (n below ~k) the sketch is exact.
// Randomness comes from an internal seeded generator: results are reproducible.
// Thread-compatible.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "config/base/bytes.h"
#include "config/base/status.h"

namespace osprey::models {

class QuantileSketch {
 public:
  static constexpr uint8_t kFormatVersion = 1;

  // REQUIRES: 8 <= k <= 65535.
  explicit QuantileSketch(int k = 200, uint64_t seed = 0x6b6c6c5eedULL);

  // Adds one item; NaN is ignored.
  void Add(double x);
  // Folds `other` in. InvalidArgument when k differs.
  Status Merge(const QuantileSketch& other);

  // Items added (including merged).
  int64_t count() const { return n_; }
  bool empty() const { return n_ == 0; }
  // True while no compaction has happened: quantiles are exact.
  bool is_exact() const { return levels_.size() <= 1; }
  double min() const;
  double max() const;
  // The lower q-quantile: the smallest stored item whose estimated rank (items ≤ it) reaches
  // TargetRank(q, n). NaN when empty. O(S log S), S = stored items (≈ 3k).
  double Quantile(double q) const;
  // Appends the stored items with their weights (2^level), unsorted: the input of a quantile
  // query over the union of several sketches (sort, then walk cumulative weights to TargetRank).
  void AppendWeightedItems(std::vector<std::pair<double, int64_t>>* out) const;
  // Estimated fraction of items ≤ x, in [0, 1].
  double Rank(double x) const;
  // max(1, ceil(q·n)), clamped to n: the 1-based rank Quantile(q) targets.
  static int64_t TargetRank(double q, int64_t n);
  // ε of the error bound above.
  static double RankErrorBound(int k);

  int k() const { return k_; }
  size_t stored_items() const { return size_; }

  void Save(ByteWriter& w) const;
  static Result<QuantileSketch> Load(ByteReader& r);

 private:
  int Capacity(size_t level) const;
  void Grow();
  void Compress();
  bool NextBit();

  int k_;
  uint64_t rng_;
  int64_t n_ = 0;
  size_t size_ = 0;      // items stored over all levels
  size_t max_size_ = 0;  // sum of level capacities
  double min_ = 0;
  double max_ = 0;
  std::vector<std::vector<double>> levels_;
};

}  // namespace osprey::models
