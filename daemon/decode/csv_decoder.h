// CsvDecoder: one Kafka record holding one CSV line -> one Event.
// Thread-compatible: Decode is const and may run concurrently (per-thread scratch buffers; the
// decoder itself is read-only).
//
// Rules (every failure names the field or column and is one DecodeError):
//  - RFC 4180 fields: the configured single-byte delimiter separates them; a field may be
//    quoted ("a,b"), with "" for a quote inside; quoted fields may contain the delimiter and
//    line breaks. One trailing "\r\n" or "\n" is stripped. A quote inside an unquoted field, text
//    after a closing quote, an unterminated quote, or a line break outside quotes is kMalformed.
//    No header line: columns are `csv_columns`, by position; any other count is kMalformed
//    "expected 4 columns, got 3". Payloads over 8 MiB are kTooLarge; an empty one kMalformed.
//  - Value fields: std::from_chars of the whole field (no spaces, no '+'): "12abc" is kBadType,
//    an empty field kMissingField, inf/nan and overflow (1e400) kBadValue; underflow reads as 0.
//  - Key: the field's text (possibly empty); without key_field, the Kafka record key bytes.
//  - Event time: the field's text per the format (epoch formats as decimal text); an empty
//    field is kMissingField. See daemon/decode/timestamp.h. Kafka timestamp and origin.topic
//    as in json_decoder.h.
// On failure `out` is left partly written and must not be used.
#pragma once

#include <memory>

#include "config/base/status.h"
#include "config/options.h"
#include "daemon/decode/decoder.h"

namespace osprey::daemon {

// InvalidArgument when `source` names no topic, no value field, no columns, a duplicate column,
// a field that is not a column, or a delimiter that is '"', '\r' or '\n'.
// `source` must outlive the decoder.
Result<std::unique_ptr<Decoder>> MakeCsvDecoder(const config::SourceOptions& source);

}  // namespace osprey::daemon
