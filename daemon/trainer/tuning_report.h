// How `osprey train` shows a tuning job: the trials table printed at the end (one row per
// trial: its values, objective, status and time, the best marked) and the "tuning" member of
// the published model's metadata.json (the job's settings and every trial).
// Thread-safe: no state.
#pragma once

#include <ostream>
#include <string>

#include "config/tuning_options.h"
#include "models/ml/tuning/tuner.h"

namespace osprey::daemon::trainer {

void PrintTrials(std::ostream& out, const config::TuningOptions& options,
                 const models::ml::TuningResult& result);

// A JSON object (no trailing newline).
std::string TuningJson(const config::TuningOptions& options,
                       const models::ml::TuningResult& result);

std::string_view StrategyName(config::TuningStrategy strategy);

}  // namespace osprey::daemon::trainer
