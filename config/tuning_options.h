// TuningOptions: automatic model tuning for `osprey train` (the `tuning:` section of the train
// YAML), as SageMaker's hyperparameter tuning jobs describe it: a search strategy, ranges for
// some hyperparameters (continuous on a linear or log scale, integer, categorical), an objective
// metric to minimise or maximise, and a budget of jobs run max_parallel_jobs at a time.
// models/ml/tuning.h runs it. Plain structs.
// Thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/options.h"

namespace osprey::config {

enum class TuningStrategy {
  kBayesian,  // Gaussian process (Matérn 5/2) + expected improvement
  kRandom,    // independent uniform draws (on each range's scale)
  kGrid,      // the full product of the ranges' grids, in order
  kSobol,     // a quasi-random (Sobol, digitally shifted by the seed) sequence
};
enum class TuningParameterType { kContinuous, kInteger, kCategorical };
// SageMaker's ScalingType. kAuto = logarithmic when min > 0 and max / min >= 100, else linear.
// kReverseLogarithmic: log scale on 1 - value (for ranges in [0, 1) such as momentum).
enum class TuningScaling { kAuto, kLinear, kLogarithmic, kReverseLogarithmic };

struct TuningParameterRange {
  // The hyperparameter's name, as the algorithm reads it. Required; not also a static
  // hyperparameter.
  std::string name;
  TuningParameterType type = TuningParameterType::kContinuous;
  // continuous / integer: inclusive bounds, min < max (integer: min <= max). Logarithmic needs
  // min > 0; reverse logarithmic needs 0 <= min < max < 1.
  double min_value = 0.0;
  double max_value = 1.0;
  TuningScaling scaling = TuningScaling::kAuto;
  // categorical: the values, as strings. At least one, unique.
  std::vector<std::string> values;
  // grid strategy, continuous ranges: points evenly spaced on the range's scale, ends included.
  // Integer ranges use every integer (log scale: at most grid_points distinct ones), categorical
  // ranges every value. Default: 5.
  int grid_points = 5;
  SourceLocation location;  // the range's key in the file
};

struct TuningOptions {
  // Whether a `tuning:` section was given. Default: false (train once).
  bool enabled = false;
  TuningStrategy strategy = TuningStrategy::kBayesian;
  // "validation:<metric>" (the metric on the validation split) or "cross_validation:<metric>"
  // (the mean over the folds of preparation.cross_validation). Required.
  std::string objective_metric;
  // Minimise (rmse, mae, log loss, ...) or maximise (accuracy, auc, ...). Default: by metric
  // name (rmse, mae, mape, inertia, reconstruction_rmse are minimised, others maximised).
  bool minimize = false;
  // Trials in total; 0 = 20, or for grid the grid's size (a grid larger than a given max_jobs
  // is an error). Default: 0.
  int max_jobs = 0;
  // Trials run at once on a pool of threads. Default: 1.
  int max_parallel_jobs = 1;
  // Seeds the strategy (random draws, Sobol shift, the GP's optimiser). Default: 1.
  uint64_t seed = 1;
  // bayesian: the first trials come from the Sobol sequence; 0 = max(5, 2 * dimensions), at most
  // max_jobs. Default: 0.
  int initial_jobs = 0;
  std::vector<TuningParameterRange> ranges;
  SourceLocation location;  // the `tuning` key
};

}  // namespace osprey::config
