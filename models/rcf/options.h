// Options of the online Random Cut Forest (RcfOptions) and of its thresholded wrapper
// (ThresholdedOptions): plain structs with AWS random-cut-forest-by-aws defaults and bounds.
// The YAML loader in config/ maps user keys (and the Kinesis aliases) onto these fields.
// Thread-compatible.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>

#include "config/base/status.h"

namespace osprey::models::rcf {

struct RcfOptions {
  // Values per input vector. Range 1..10000. Default: 1. Reloadable: no.
  int input_dim = 1;
  // Consecutive input vectors joined into one point (internal shingling); points have
  // input_dim * shingle_size dimensions, at most 10000. Range 1..1024. Default: 1. Reloadable: no.
  int shingle_size = 1;
  // Trees in the forest. Range 1..1000. Default: 50. Reloadable: no.
  int number_of_trees = 50;
  // Points kept per tree (reservoir size). Range 4..32767. Default: 256. Reloadable: no.
  int sample_size = 256;
  // Exponential time decay of the sampler per point (lambda). Range [0, 1]. 0 keeps a uniform
  // sample of the whole stream. Default: 1 / (10 * sample_size). Reloadable: no.
  std::optional<double> time_decay;
  // Points (shingles) the forest must have absorbed before scores are non-zero.
  // Range 1..1e12. Default: sample_size / 4. Reloadable: no.
  std::optional<int64_t> output_after;
  // While a sampler is less full than this fraction every point is accepted; then acceptance
  // falls linearly to 0 at full. Range (0, 1]. Default: 0.125. Reloadable: no.
  double initial_accept_fraction = 0.125;
  // Seed of all randomness; the same seed and input give bit-identical outputs. Default: 42.
  // Reloadable: no.
  uint64_t random_seed = 42;
  // Internal tree nodes holding at least this many points cache their bounding box; smaller
  // subtrees recompute it when needed (memory/speed trade-off, as AWS's bounding-box cache
  // fraction). 2 caches every box. Range 2..32767. Default: 10. Reloadable: no.
  int box_cache_min_mass = 10;

  int dimensions() const { return input_dim * shingle_size; }
  double EffectiveTimeDecay() const { return time_decay ? *time_decay : 0.1 / sample_size; }
  int64_t EffectiveOutputAfter() const {
    return output_after ? *output_after : std::max<int64_t>(1, sample_size / 4);
  }
  // InvalidArgument naming the first field out of range.
  Status Validate() const;
};

// How ThresholdedForest transforms each input before the forest sees it.
enum class TransformMethod {
  kNone,                 // raw values
  kNormalize,            // (x - mean) / stddev, discounted statistics per value
  kDifference,           // x[t] - x[t-1]
  kNormalizeDifference,  // normalised first differences
};

struct ThresholdedOptions {
  RcfOptions forest;
  // Input transform. Default: kNone. Reloadable: no.
  TransformMethod transform = TransformMethod::kNone;
  // Surprise, in deviations of the discounted score statistics, above which a score is graded
  // as anomalous. Range [1, 100]. Default: 3.0 (AWS BasicThresholder). Reloadable: yes.
  double z_factor = 3.0;
  // Scores below this are never anomalous. Range [0, 100]. Default: 0.8 (AWS). Reloadable: yes.
  double absolute_threshold = 0.8;
  // Threshold used until minimum_scores scores have been seen. Range [0, 100]. Default: 1.5.
  // Reloadable: yes.
  double initial_threshold = 1.5;
  // Scores (after the forest's output_after) before the dynamic threshold is used; grades are
  // 0 before that. Range 1..1e9. Default: 10 (AWS). Reloadable: no.
  int minimum_scores = 10;
  // Discount of the score and normalisation statistics per point. Range (0, 1].
  // Default: the forest's effective time decay. Reloadable: no.
  std::optional<double> statistics_decay;
  // A candidate anomaly is dropped when every value of the flagged input is within
  // max(ignore_near_expected_absolute, ignore_near_expected_relative * |expected|) of the value
  // the forest expected there. This keeps constant or near-constant streams from alarming on tiny
  // changes. Ranges [0, inf). Defaults: 1e-9 and 1e-4. Reloadable: yes.
  double ignore_near_expected_absolute = 1e-9;
  double ignore_near_expected_relative = 1e-4;
  // ... or within this many discounted standard deviations of the value's own one-step changes,
  // i.e. ordinary noise of the stream (as AWS's noise suppression). Range [0, 100]. Default: 2.
  // Reloadable: yes.
  double ignore_near_expected_noise_factor = 2.0;
  // Normalised values are clipped to +-this. Range [1, 1e6]. Default: 100 (AWS). Reloadable: no.
  double normalize_clip = 100.0;

  double EffectiveStatisticsDecay() const {
    return statistics_decay ? *statistics_decay : forest.EffectiveTimeDecay();
  }
  Status Validate() const;
};

}  // namespace osprey::models::rcf
