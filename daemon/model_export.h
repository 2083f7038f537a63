// `osprey model export`: copies a live pipeline key's Random Cut Forest out of a running ospreyd
// (GET /v1/admin/pipelines/{p}/keys/{k}/model) into a model registry as a new version of kind
// "rcf" (models/serving/REGISTRY.md), with metadata naming its inputs and its source. The
// daemon serves it once its registry watcher or POST /v1/admin/models/reload picks it up.
// Thread-compatible.
#pragma once

#include <cstdint>
#include <string>

#include "config/base/status.h"

namespace osprey::daemon {

struct ModelExportOptions {
  // Base URL of the daemon, http://host:port. Default: http://127.0.0.1:8080.
  std::string url = "http://127.0.0.1:8080";
  std::string pipeline;
  std::string key;
  // The registry directory to publish into (the daemon's models.registry_dir).
  std::string registry_dir;
  // Model name in the registry. Default: "<pipeline>-<key>", characters outside
  // [A-Za-z0-9._-] replaced by '_'.
  std::string name;
  // Sent as "Authorization: Bearer <token>" when not empty.
  std::string token;
  // Budget for connecting and the whole exchange, ms.
  int64_t timeout_ms = 10000;
};

// Returns the published version. kInvalidArgument on bad options, kUnavailable when the daemon
// cannot be reached, kNotFound when it has no such pipeline or key (its message), kIOError
// when the registry cannot be written.
Result<int64_t> ExportModel(const ModelExportOptions& options);

}  // namespace osprey::daemon
