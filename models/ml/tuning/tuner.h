// Automatic model tuning, as SageMaker's hyperparameter tuning jobs: Tune() proposes
// hyperparameter values from the ranges of config::TuningOptions with the chosen strategy
// (bayesian, random, grid, sobol), runs up to max_parallel_jobs trials at once on a pool of
// threads, and returns every trial and the best by the objective.
//
// Deterministic for a seed (given a deterministic trial function): trial i is proposed only
// once trials 0 .. i - max_parallel_jobs have finished, from their results alone (the trials in
// between count as pending: the GP "believes" its own mean there), so timing never changes
// which values are tried.
// Thread-safe: no shared state; the trial function is called from the pool's threads, at most
// max_parallel_jobs calls at once.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "config/base/status.h"
#include "config/tuning_options.h"
#include "models/ml/hyperparameters.h"

namespace osprey::models::ml {

// What a trial reports: the objective and, for the record, any other metrics.
struct TrialOutcome {
  double objective = 0.0;
  std::vector<std::pair<std::string, double>> metrics;
};

// Runs one trial with the tuned hyperparameters' values (only the ranged ones; the caller adds
// its static ones). An error with code kInvalidArgument stops the whole tuning job (the setup
// is wrong, e.g. an unknown objective metric); any other error, or a non-finite objective,
// marks just this trial failed.
using TrialFunction = std::function<Result<TrialOutcome>(const Hyperparameters& values, int trial)>;

struct Trial {
  int id = 0;
  Hyperparameters values;
  std::vector<double> point;  // in the unit cube, one coordinate per range
  bool ok = false;
  double objective = 0.0;
  std::vector<std::pair<std::string, double>> metrics;
  std::string error;     // when !ok
  double seconds = 0.0;  // wall time of the trial
};

struct TuningResult {
  std::vector<Trial> trials;  // by id
  int best = -1;              // index of the best successful trial (lowest id on ties)
};

// Called on the pool's threads (serialised) after each trial: the trial, trials finished so
// far, and the total.
using TrialCallback = std::function<void(const Trial& trial, int done, int total)>;

// Checks the ranges (names unique, bounds, scales, categorical values), the counts and the grid
// size against max_jobs.
Status ValidateTuningOptions(const config::TuningOptions& options);
// The trials Tune() will run: max_jobs (default 20), or the grid's size.
int PlannedJobs(const config::TuningOptions& options);

// REQUIRES: ValidateTuningOptions(options).ok() (else returns its error).
// Fails when every trial failed (with the first failure) or a trial stopped the job.
Result<TuningResult> Tune(const config::TuningOptions& options, const TrialFunction& trial,
                          const TrialCallback& on_trial = {});

// The value of `range` at unit coordinate u in [0, 1] (on the range's scale), as a
// hyperparameter string.
std::string DecodeRangeValue(const config::TuningParameterRange& range, double u);

// The grid strategy's points, in order: the product of the ranges' grids, the first range
// varying slowest.
std::vector<std::vector<double>> GridPoints(const config::TuningOptions& options);

}  // namespace osprey::models::ml
