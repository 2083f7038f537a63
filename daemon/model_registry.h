// ModelRegistry: the served models, read from a registry directory (models/serving/REGISTRY.md)
// at start, re-read when it changes (polled) or on Reload(), and published as immutable
// snapshots: a request takes a shared_ptr to the current snapshot (or to one model version) and
// finishes on it even if a reload swaps in another meanwhile. An artifact that fails to load is
// logged and skipped; the version it would replace keeps serving.
// Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config/base/metrics.h"
#include "config/base/mutex.h"
#include "config/base/status.h"
#include "config/options.h"
#include "models/serving/metadata.h"
#include "models/serving/model.h"

namespace osprey::daemon {

// One loaded model version. Immutable.
struct LoadedModel {
  std::string name;
  int64_t version = 0;
  std::string metadata_json;  // as stored
  models::ModelMetadata metadata;
  std::shared_ptr<const models::ServedModel> model;
  int64_t loaded_at_ms = 0;
  // Names, sizes and modification times of the version's files: a changed fingerprint reloads.
  std::string fingerprint;
};

struct RegistrySnapshot {
  // name -> version -> model; every name has at least one version.
  std::map<std::string, std::map<int64_t, std::shared_ptr<const LoadedModel>>, std::less<>> models;
  // Problems of the reload that built this snapshot ("<name>/<version>: why").
  std::vector<std::string> errors;
  int64_t generation = 0;

  // The highest version of `name`, or nullptr.
  std::shared_ptr<const LoadedModel> Latest(std::string_view name) const;
  // nullptr when the name or version is unknown.
  std::shared_ptr<const LoadedModel> Find(std::string_view name, int64_t version) const;
};

// Publishes a new version of model `name` into the registry at `registry_dir` the way
// REGISTRY.md prescribes: every file written and fsynced into `<name>/.tmp-<version>-<pid>/`,
// then renamed to `<name>/<version>/`, version = the highest present + 1. `files` maps file
// names (no '/') to contents and must include metadata.json; its "version" is not rewritten.
// Returns the version. kInvalidArgument on a bad name, kIOError when writing fails (the temp
// directory is removed). Safe against concurrent readers, not against concurrent publishers
// of the same name.
Result<int64_t> PublishModelVersion(const std::string& registry_dir, const std::string& name,
                                    const std::map<std::string, std::string>& files);

// The version PublishModelVersion would use next for `name` (1 when it has none).
int64_t NextModelVersion(const std::string& registry_dir, const std::string& name);

class ModelRegistry {
 public:
  struct ReloadReport {
    int loaded = 0;     // versions (re)loaded
    int unchanged = 0;  // versions kept as they were
    int removed = 0;    // versions no longer served
    std::vector<std::string> errors;
  };

  // Reads `options.registry_dir` (created if missing; no registry when empty) with the loaders
  // of `kinds`, which the caller keeps alive for the lifetime of this object. Errors: kIOError
  // when the directory cannot be created or read. Bad artifacts are not errors (see above).
  static Result<std::unique_ptr<ModelRegistry>> Open(const config::ModelsOptions& options,
                                                     const models::ModelKindRegistry& kinds,
                                                     MetricsRegistry* metrics);
  ~ModelRegistry();  // stops watching

  ModelRegistry(const ModelRegistry&) = delete;
  ModelRegistry& operator=(const ModelRegistry&) = delete;

  // Starts the poll thread (no-op when poll_interval_ms is 0 or there is no directory).
  void StartWatching();
  void StopWatching();

  // Rescans the directory now and publishes the result. Reloads are serialised.
  ReloadReport Reload();

  std::shared_ptr<const RegistrySnapshot> snapshot() const;
  const config::ModelsOptions& options() const { return options_; }

 private:
  ModelRegistry(const config::ModelsOptions& options, const models::ModelKindRegistry& kinds,
                MetricsRegistry* metrics);
  void WatchLoop();

  // Constant after construction
  const config::ModelsOptions options_;
  const models::ModelKindRegistry& kinds_;
  MetricsRegistry* const metrics_;  // may be null

  Mutex reload_mu_;  // serialises Reload
  mutable Mutex mu_;
  std::shared_ptr<const RegistrySnapshot> current_ OSPREY_GUARDED_BY(mu_);
  std::mutex watch_mu_;
  bool stop_ = false;  // guarded by watch_mu_
  std::condition_variable wake_;
  std::thread watcher_;
};

}  // namespace osprey::daemon
