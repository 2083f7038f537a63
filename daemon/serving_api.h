// The scoring API over the model registry: the routes of /v1/models (list, describe, predict),
// SageMaker hosting (/ping, /invocations), the KServe Open Inference Protocol v2 (/v2/...), and
// POST /v1/admin/models/reload. Every handler takes one registry snapshot (or one model
// version) at its start and finishes on it, so a reload never changes a request midway.
// Predictions run on the HTTP I/O thread that received the request (small models: micro-
// seconds per row; http.threads sets the parallelism); batches are capped by
// models.max_batch_rows. Errors are JSON {"error":{"code","message"}}: 400 malformed input,
// 404 unknown model or version, 413 too many rows, 415 unsupported Content-Type.
// Thread-safe: handlers may run concurrently.
#pragma once

#include <string>
#include <vector>

#include "config/base/status.h"
#include "daemon/http_server.h"
#include "daemon/model_registry.h"

namespace osprey::daemon {

// Scores points against a live pipeline key's model without updating it (the
// /v1/pipelines/{p}/keys/{k}:score route). Implemented by the daemon over its source runners.
class LiveKeyScorer {
 public:
  virtual ~LiveKeyScorer() = default;
  // One JSON object per point: {"score":..,"grade":..,"attribution":[..],...}, as a JSON array
  // (the response's "results"). NotFound for an unknown pipeline or key, InvalidArgument for a
  // bad point. Thread-safe.
  virtual Result<std::string> ScoreKey(const std::string& pipeline, const std::string& key,
                                       const std::vector<std::vector<double>>& points) = 0;
};

// Adds the routes above to `router`. `registry` (and `live`, which may be null: the live route
// then answers 404) must outlive the server the router goes to.
void AddServingRoutes(HttpRouter& router, ModelRegistry& registry, LiveKeyScorer* live);

}  // namespace osprey::daemon
