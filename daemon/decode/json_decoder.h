// JsonDecoder: one Kafka record holding one JSON object -> one Event, with simdjson On Demand.
// Thread-compatible: Decode is const and may run concurrently (each thread parses with its own
// thread_local simdjson parser and padded buffer; the decoder itself is read-only).
//
// Rules (every failure names the field and is one DecodeError):
//  - The payload must be one JSON object (RFC 8259, UTF-8), at most 8 MiB (kTooLarge), nested
//    at most 128 levels. Anything else, including trailing content, is kMalformed with
//    simdjson's message and, when simdjson knows it, the byte offset. The whole document is
//    validated, not only the fields that are read.
//  - Field names are paths: "cpu" is a top-level member; "a.b" is member "b" of object "a" —
//    unless the document has a top-level member literally named "a.b", which is preferred.
//  - Duplicate members: the first occurrence wins.
//  - Value fields must be JSON numbers (a numeric string is kBadType); numbers beyond double's
//    range (1e400) are kBadValue; underflow (1e-400) reads as 0.
//  - Absent or null fields are kMissingField.
//  - Key: a string, or an integer rendered as its decimal text; without key_field, the Kafka
//    record key bytes.
//  - Event time: epoch formats need a JSON number (read exactly from its text), iso8601 a
//    string; see daemon/decode/timestamp.h. No timestamp_field, or format kafka: the Kafka
//    record timestamp (kMissingField when the record has none).
//  - origin.topic points at the configured topic equal to record.topic, or at the first
//    configured topic when none is (e.g. a test record or a future pattern subscription).
// On failure `out` is left partly written and must not be used.
#pragma once

#include <memory>

#include "config/base/status.h"
#include "config/options.h"
#include "daemon/decode/decoder.h"

namespace osprey::daemon {

// InvalidArgument when `source` names no topic, no value field, or a field path with an empty
// component ("a..b"). `source` must outlive the decoder.
Result<std::unique_ptr<Decoder>> MakeJsonDecoder(const config::SourceOptions& source);

}  // namespace osprey::daemon
