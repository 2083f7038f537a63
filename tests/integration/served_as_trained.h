// Serving parity over HTTP for `osprey train`: a model the trainer published is served by a
// running daemon with the trainer's own predictions (its --predictions-out file), on the model's
// route (POST /v1/models/{name}:predict) and on SageMaker's (POST /invocations with
// X-Amzn-SageMaker-Target-Model; Accept JSON, JSON lines and CSV), in the response shapes of
// its task. Failures are gtest failures naming the model, the route and the row.
// Thread-compatible.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "daemon/daemon.h"
#include "models/serving/model.h"

namespace osprey::testing {

// The file `osprey train --predictions-out` writes: a header, then per test row the model's
// inputs followed by the trainer's predictions (score; closest_cluster, distance_to_cluster;
// projection_0..).
struct TrainerPredictions {
  std::vector<std::string> columns;
  std::vector<std::vector<double>> rows;
};

// Reads `path`; a missing file or a non-numeric cell is a test failure (rows stop there).
TrainerPredictions ReadTrainerPredictions(const std::string& path);

// Loads the latest version of `name` from `registry` in-process, with the daemon's model kinds,
// and predicts `rows`; expects the model to take `inputs` inputs. Empty (and a test failure) when
// it does not load or predict.
std::vector<models::Prediction> PredictWithRegistryModel(
    const std::string& registry, const std::string& name,
    const std::vector<models::FeatureRow>& rows, size_t inputs);

// Starts a daemon that serves `registry_dir` (models.poll_interval_ms 0: loaded at start and
// on POST /v1/admin/models/reload) on an embedded broker, with its state in `state_dir`.
// Null (and a test failure) when it does not start.
std::unique_ptr<daemon::Daemon> StartServingDaemon(const std::string& registry_dir,
                                                   const std::string& state_dir);

// Expects the daemon on `port` to serve the latest version of `name`, whose first `inputs`
// columns of `trainer` are its inputs, with the trainer's predictions for every row: equal within
// `tolerance` * max(1, |value|), labels and clusters exactly.
void ExpectServedAsTrained(uint16_t port, const std::string& name,
                           const TrainerPredictions& trainer, size_t inputs, double tolerance);

}  // namespace osprey::testing
