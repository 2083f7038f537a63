// History: the consumed events a pipeline keeps for the trainer, in the store's "history" family.
// One row per (pipeline, event time, source topic, partition, offset); keys sort by pipeline,
// then event time, so one pipeline's rows read back in time order and retention deletes a key
// range. Rows are written in the checkpoint's WriteBatch (daemon/history_recorder.h): a replay
// writes the same keys again, so each consumed record has exactly one row.
// Value layout (version 1): u8 version, string record key, varint n, n x (string name, f64).
// Thread-safe (free functions; the store is thread-safe).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/base/status.h"
#include "state/rocksdb_store.h"

namespace osprey::state {

inline constexpr char kHistoryFamily[] = "history";

struct HistoryRow {
  std::string pipeline;
  int64_t event_time_ms = 0;
  std::string topic;
  int32_t partition = -1;
  int64_t offset = -1;
  std::string key;  // the record's key (key_field)
  std::vector<std::pair<std::string, double>> fields;
};

std::string EncodeHistoryKey(std::string_view pipeline, int64_t event_time_ms,
                             std::string_view topic, int32_t partition, int64_t offset);
// The first key of `pipeline`'s rows with event time >= `event_time_ms`.
std::string HistoryTimeBound(std::string_view pipeline, int64_t event_time_ms);
// Keys of `pipeline`'s rows are in [HistoryBegin, HistoryEnd).
std::string HistoryBegin(std::string_view pipeline);
std::string HistoryEnd(std::string_view pipeline);

std::string EncodeHistoryValue(std::string_view record_key,
                               const std::vector<std::pair<std::string, double>>& fields);
// Corruption on a key or value that does not decode.
Result<HistoryRow> DecodeHistoryRow(std::string_view key, std::string_view value);

struct HistoryRetention {
  int64_t max_age_ms = 0;  // 0 = none
  int64_t max_bytes = 0;   // 0 = none
};

// Deletes `pipeline`'s rows older than the newest row's event time minus max_age_ms, then the
// oldest rows while the rest takes more than max_bytes (RocksDB's size estimate), and compacts
// the deleted range so the space is returned. Returns the event time before which rows are gone
// (INT64_MIN when nothing was deleted).
Result<int64_t> EnforceHistoryRetention(RocksStore& store, std::string_view pipeline,
                                        const HistoryRetention& retention);

}  // namespace osprey::state
