// Event: the unit that flows through a pipeline. Decoders build one per consumed record; operators
// read it, annotate it (scores, alerts) or derive new ones (window results); sinks render it.
// Thread-compatible.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace osprey::operators {

// Names of an event's values, shared by all events of one source or operator output.
struct Schema {
  std::vector<std::string> value_names;
};

// The Kafka record an event came from. topic points at storage that outlives the event
// (the source's configuration).
struct Origin {
  const std::string* topic = nullptr;
  int32_t partition = -1;
  int64_t offset = -1;
};

struct Event {
  std::string key;
  int64_t event_time_ms = 0;
  std::vector<double> values;
  std::shared_ptr<const Schema> schema;
  Origin origin;
  // Monotonic time the record was consumed, for end-to-end latency.
  int64_t ingest_nanos = 0;

  // Set by detectors.
  std::optional<double> score;
  bool alert = false;
  // Extra JSON object members rendered by operators, without surrounding braces, e.g.
  // "\"grade\":0.4,\"z\":[1.2,0.3]". Appended verbatim to the output record.
  std::string annotations;
};

}  // namespace osprey::operators
