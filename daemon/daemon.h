// Daemon: ospreyd's composition root as a library, so tests and benchmarks run the real thing
// in-process. It starts, in order: the embedded broker (when configured), the producer, one
// SourceRunner per source that a pipeline reads, the demo streams, and the HTTP server
// (/healthz, /readyz, /metrics, /v1/info, POST /v1/admin/savepoint, and the model registry's
// scoring API: daemon/serving_api.h). Shutdown runs in the reverse order: stop consuming,
// flush outputs, commit offsets, close.
// Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "config/base/metrics.h"
#include "config/base/status.h"
#include "config/options.h"

namespace osprey::state {
struct WriteFaults;
}  // namespace osprey::state

namespace osprey::daemon {

class EmbeddedBroker;

// Seams for tests; production leaves them empty.
struct DaemonHooks {
  // Injects write failures into the state store (see state::WriteFaults).
  std::shared_ptr<state::WriteFaults> store_faults;
};

class Daemon {
 public:
  static Result<std::unique_ptr<Daemon>> Start(config::DaemonConfig config, DaemonHooks hooks = {});
  ~Daemon();  // Shutdown()s

  // Ordered, graceful stop; idempotent. Returns the health status at the time of stopping.
  Status Shutdown();

  // OK while every source is healthy; otherwise the first fatal error.
  Status health() const;
  // True when every source has partitions assigned and nothing is fatal.
  bool ready() const;
  uint16_t http_port() const;
  // The bootstrap servers every client uses (the embedded broker's when there is one).
  const std::string& bootstrap_servers() const;
  // Null unless kafka.embedded.enabled.
  EmbeddedBroker* embedded_broker() const;
  MetricsRegistry& metrics();
  const config::DaemonConfig& config() const;
  // Writes a savepoint of the state store into `dir` ("" = <state.dir>/savepoints/<time>), which
  // must not exist; returns its manifest JSON (see daemon/savepoint.h). Also served as
  // POST /v1/admin/savepoint.
  Result<std::string> Savepoint(const std::string& dir);

 private:
  struct Impl;
  explicit Daemon(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The version string of this build ("0.1.0").
const char* OspreyVersion();

}  // namespace osprey::daemon
