// Savepoints: a consistent, portable copy of the daemon's state store, to move a deployment to
// another machine, keep a known-good state, or start a second daemon where the first one was.
//   DIR/manifest.json  what it holds: formats, osprey version, creation time, configuration
//                      digest, pipelines, the next offset of every source partition, and the
//                      number of keys per state family
//   DIR/store/         a RocksDB checkpoint of the store (hard links when on the same filesystem)
// Every checkpoint Write is one atomic batch, so a RocksDB checkpoint holds whole checkpoints
// only: operator state and offsets always belong together. Daemon::Savepoint has every source
// runner checkpoint first, so the savepoint covers what was processed before the request.
// Thread-safe (free functions; the store is thread-safe).
#pragma once

#include <string>

#include "config/base/status.h"
#include "config/options.h"
#include "state/rocksdb_store.h"

namespace osprey::daemon {

// Version of the savepoint layout (manifest fields, store/ subdirectory).
inline constexpr int kSavepointFormatVersion = 1;

// Writes a savepoint of `store` into `dir`, which must not exist (its parent is created).
// Returns the manifest JSON.
Result<std::string> CreateSavepoint(state::RocksStore& store, const config::DaemonConfig& config,
                                    const std::string& dir);

// Copies the savepoint in `dir` into `state_dir` so that a daemon started on it resumes from the
// savepoint's offsets and state. Refuses (InvalidArgument) a `state_dir` that is not empty unless
// `force`, in which case its contents are deleted first; refuses a savepoint of a newer format.
// Returns the manifest JSON.
Result<std::string> RestoreSavepoint(const std::string& dir, const std::string& state_dir,
                                     bool force);

// The default directory of a savepoint made now: <state.dir>/savepoints/savepoint-<UTC time>.
std::string DefaultSavepointDir(const config::DaemonConfig& config, int64_t now_ms);

}  // namespace osprey::daemon
