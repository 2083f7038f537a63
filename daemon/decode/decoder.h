// Decoders turn a consumed Kafka record into an Event, or say precisely why they cannot.
// A Decoder is built once per source from its SourceOptions and is thread-compatible: Decode is
// const and may run concurrently on different records.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "config/base/status.h"
#include "config/options.h"
#include "operators/event.h"

namespace osprey::daemon {

// A consumed record as the decoder sees it. Views stay valid for the duration of Decode only.
struct RawRecord {
  std::string_view topic;
  int32_t partition = -1;
  int64_t offset = -1;
  std::string_view key;      // empty when the record has no key
  std::string_view payload;  // the record value
  int64_t timestamp_ms = -1; // the Kafka record timestamp; -1 when absent
};

// Reasons are short machine-stable codes, carried in the dead-letter header
// "osprey.error.reason"; the Status message is the human-readable detail.
enum class DecodeError {
  kMalformed,       // not valid JSON / CSV
  kMissingField,    // a required field (value, key, timestamp) is absent or null
  kBadType,         // a field holds the wrong type (e.g. a string where a number is needed)
  kBadValue,        // a number that is not finite, or a timestamp that cannot be parsed
  kTooLarge,        // payload larger than the decoder accepts
};
std::string_view DecodeErrorName(DecodeError error);

struct DecodeFailure {
  DecodeError error;
  std::string detail;  // e.g. "field 'cpu' is missing"
};

class Decoder {
 public:
  virtual ~Decoder() = default;
  // Fills `out` (all fields but ingest_nanos, score, alert, annotations) and returns true, or
  // fills `failure` and returns false. Never throws, never crashes on any input bytes.
  virtual bool Decode(const RawRecord& record, operators::Event& out,
                      DecodeFailure& failure) const = 0;
};

// `source` must outlive the decoder (events point at its topic names).
Result<std::unique_ptr<Decoder>> MakeDecoder(const config::SourceOptions& source);

}  // namespace osprey::daemon
