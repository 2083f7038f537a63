// Replay: runs a CSV file through one pipeline's operators offline (no Kafka) and writes one
// scored row per input row; the engine of `osprey replay` and of the NAB benchmark
// (tests/nab/run_nab.sh). Processing time is the rows' event time, so a replay is deterministic
// and idle eviction behaves as it would live.
// Thread-safe: the functions keep no state.
#pragma once

#include <iosfwd>
#include <string>

#include "config/base/status.h"
#include "config/options.h"

namespace osprey::daemon {

struct ReplayOptions {
  std::string config_path;  // YAML configuration (config/loader.h)
  std::string input_path;   // CSV with a header line
  std::string output_path;  // scores CSV, overwritten
  std::string pipeline;     // empty = the configuration's first pipeline
};

// Input: a header line, then one row per event, comma-separated (a field may be double-quoted).
//  - timestamp: the column named by the source's timestamp field ("timestamp" when the source
//    uses the Kafka timestamp), parsed in the source's format (iso8601 when the source has none);
//    iso8601 also accepts NAB's "2014-04-01 00:00:00" (UTC).
//  - values: the source's value_fields columns; when the source has one value field that the
//    header lacks and the header has a column "value", that column is used.
//  - key: the source's key_field column when the header has it, else "replay".
// Output, one row per input row in input order: timestamp,<value columns>,anomaly_score,grade,
// with the timestamp and values echoed verbatim. The score comes from the pipeline's last
// detector:
//  - rcf: anomaly_score = grade (in [0, 1]; 0 unless the thresholded forest graded the row
//    anomalous); grade = the same.
//  - baseline: anomaly_score = 1 - exp(-max(0, |z| - 1) / 3) (monotone in the max |z| score,
//    0 for |z| <= 1, 0.63 at |z| = 4); grade left empty.
// A row the detector could not score (e.g. an "error" annotation) gets anomaly_score 0.
// Errors (InvalidArgument / IOError) name the file and line, e.g.
//   data.csv:17: column 'value': not a number 'abc'
Status ReplayCsv(const config::DaemonConfig& config, const config::PipelineOptions& pipeline,
                 std::istream& in, const std::string& input_name, std::ostream& out);

// Loads the configuration, picks the pipeline, and replays input_path into output_path.
Status Replay(const ReplayOptions& options);

}  // namespace osprey::daemon
