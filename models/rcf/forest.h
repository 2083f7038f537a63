// RandomCutForest: the online Random Cut Forest. Builds shingles of shingle_size consecutive
// inputs itself (internal shingling, values stored once in a shared PointStore), keeps per tree a
// time-decayed reservoir sample and a random cut tree over it, and answers: anomaly score,
// per-dimension directional attribution, imputation of missing values (conditional field) and
// forecasts by shingle extrapolation. Same seed + same input = bit-identical outputs; Save/Load
// round-trips the whole model (trees included) so a restored forest continues exactly.
// Thread-compatible: const methods may be called concurrently; mutation needs external sync.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/base/bytes.h"
#include "config/base/status.h"
#include "models/rcf/options.h"
#include "models/rcf/point_store.h"
#include "models/rcf/random_cut_tree.h"
#include "models/rcf/rng.h"
#include "models/rcf/sampler.h"

namespace osprey::models::rcf {

// Score split per dimension into the parts due to the point lying above (high) and below (low)
// the data; over all dimensions high + low sum to the scalar score.
struct DiVector {
  std::vector<double> high;
  std::vector<double> low;

  double Total() const;
  // high[d] + low[d].
  double At(size_t d) const { return high[d] + low[d]; }
};

// A forecast of `horizon` future inputs, row-major [step][value]: the median over trees and the
// 10% / 90% quantiles over trees.
struct ForecastResult {
  int horizon = 0;
  int input_dim = 0;
  std::vector<double> values;
  std::vector<double> lower;
  std::vector<double> upper;
};

class RandomCutForest {
 public:
  // Snapshot format version written by Save. Load also reads version 1 (point indices with
  // reference counts in the store; translated to locations on load).
  static constexpr uint8_t kFormatVersion = 2;

  // InvalidArgument when options.Validate() fails.
  static Result<std::unique_ptr<RandomCutForest>> Create(const RcfOptions& options);

  RandomCutForest(const RandomCutForest&) = delete;
  RandomCutForest& operator=(const RandomCutForest&) = delete;

  // Appends `input` (input_dim values) to the internal shingle and, once the shingle is full,
  // offers the shingle to every tree's sampler. InvalidArgument (state unchanged) on a wrong size
  // or a value that is not finite as a float. Amortised O(trees * (log sample + depth * dims)).
  Status Update(std::span<const double> input);

  // The following score the point that Update(input) would add, without changing the forest.
  // They return 0 (or zeros) until output_ready() and while the shingle is not yet full.
  // REQUIRES: input.size() == input_dim, finite values.
  double Score(std::span<const double> input) const;
  DiVector Attribution(std::span<const double> input) const;
  // The same on an explicit point of dimensions() values (oldest input first).
  double ScorePoint(std::span<const double> point) const;
  DiVector AttributionPoint(std::span<const double> point) const;
  // The point Update(input) would add (the shingle shifted by one input).
  std::vector<double> NextPoint(std::span<const double> input) const;

  // Conditional field: returns `point` with the dimensions listed in `missing` replaced by the
  // median, over trees, of the value in the leaf that best completes the known dimensions.
  // InvalidArgument on bad sizes or indices; Unavailable while the forest is empty.
  Result<std::vector<double>> ImputePoint(std::span<const double> point,
                                          std::span<const int> missing) const;
  // The same for the next input (input_dim values, `missing` indexes the input).
  Result<std::vector<double>> Impute(std::span<const double> input,
                                     std::span<const int> missing) const;
  // Forecast of the next `horizon` inputs by repeated imputation of the extrapolated shingle.
  // InvalidArgument if shingle_size < 2 or horizon not in [1, kMaxForecastHorizon]; Unavailable
  // before output_ready().
  static constexpr int kMaxForecastHorizon = 1024;
  Result<ForecastResult> Forecast(int horizon) const;

  const RcfOptions& options() const { return options_; }
  int input_dim() const { return options_.input_dim; }
  int dimensions() const { return dims_; }
  // Inputs seen by Update, and points (full shingles) offered to the trees.
  int64_t inputs_seen() const { return inputs_seen_; }
  int64_t updates() const { return updates_; }
  bool output_ready() const { return updates_ >= options_.EffectiveOutputAfter(); }
  // Bytes held by this forest (allocated capacity of every array).
  size_t MemoryBytes() const;

  // Versioned, checksummed binary snapshot of the whole model (options included).
  void Save(ByteWriter& w) const;
  std::string Save() const;
  // Corruption on a damaged or inconsistent snapshot, or an unknown format version.
  static Result<std::unique_ptr<RandomCutForest>> Load(ByteReader& r);
  static Result<std::unique_ptr<RandomCutForest>> Load(std::string_view snapshot);

  // Every tree's invariants plus sampler/tree/point-store consistency. Corruption if violated.
  Status CheckInvariants() const;
  int num_trees() const { return static_cast<int>(trees_.size()); }
  const RandomCutTree& tree(int idx) const { return trees_[idx]; }
  const Sampler& sampler(int idx) const { return samplers_[idx]; }
  const PointStore& point_store() const { return store_; }
  // Distinct points held by the trees. O(trees * sample_size * log).
  size_t live_points() const;

 private:
  explicit RandomCutForest(const RcfOptions& options);
  // Writes the next point for `input` into out[dims_] (floats).
  void BuildNext(std::span<const double> input, float* out) const;
  double ScoreFloat(const float* q) const;
  DiVector AttributionFloat(const float* q) const;
  // Per tree: the values of the missing dimensions in the chosen leaf, [dim][tree].
  void ConditionalValues(const float* q, const std::vector<uint8_t>& mask,
                         std::span<const int> missing, std::vector<double>* per_dim) const;
  void SavePayload(ByteWriter& w) const;
  Status LoadPayload(ByteReader& r, uint8_t version);
  // Drops every value no tree holds and rewrites the trees' point locations.
  void CompactStore();

  // Constant after construction
  RcfOptions options_;  // time_decay and output_after resolved
  int dims_;
  // Mutable state
  std::vector<float> shingle_;  // last shingle_size inputs, oldest first
  int64_t inputs_seen_ = 0;
  int64_t updates_ = 0;
  PointStore store_;
  std::vector<Rng> rngs_;
  std::vector<Sampler> samplers_;
  std::vector<RandomCutTree> trees_;
};

}  // namespace osprey::models::rcf
