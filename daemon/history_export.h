// `osprey history export`: writes one pipeline's history rows (state/history.h), in event-time
// order, as CSV or JSON Lines for the trainer. Reads a live daemon's store through a RocksDB
// secondary instance (the daemon keeps running and writing), or a stopped store, checkpoint or
// savepoint read-only.
//   CSV:   header event_time_ms,topic,partition,offset,key,<field>...  (fields as configured,
//          in order; a row without a field leaves its cell empty)
//   JSONL: {"event_time_ms":N,"topic":S,"partition":N,"offset":N,"key":S,"fields":{<field>:X}}
// Thread-compatible.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

#include "config/base/status.h"

namespace osprey::daemon {

struct HistoryExportOptions {
  std::string config_path;  // the daemon's configuration (state.dir, the pipeline's fields)
  std::string pipeline;
  std::string format = "csv";       // csv | jsonl
  std::optional<int64_t> since_ms;  // event time >= since_ms
  std::optional<int64_t> until_ms;  // event time < until_ms
  std::string output_path;          // "" or "-" = stdout
  // When set, the rows go here instead (output_path is ignored): `osprey train`'s history
  // source reads them in memory.
  std::ostream* sink = nullptr;
  // A store, checkpoint or savepoint directory to read instead of the configuration's live
  // state.dir (opened read-only: no process may be writing it).
  std::string store_dir;
};

// Returns the number of rows written.
Result<int64_t> ExportHistory(const HistoryExportOptions& options);

}  // namespace osprey::daemon
