// Event-time parsing shared by the record decoders and the replay CLI: a field's text, or a
// JSON number, to milliseconds since the Unix epoch (UTC) per config::TimestampFormat.
// Hand-written: no locale, no std::get_time, no allocation unless it fails.
// Thread-safe: pure functions.
#pragma once

#include <cstdint>
#include <string_view>

#include "config/base/status.h"
#include "config/options.h"

namespace osprey::daemon {

// The format's name as written in the configuration: "kafka", "epoch_ms", "epoch_s",
// "epoch_us", "iso8601".
std::string_view TimestampFormatName(config::TimestampFormat format);

// Parses `text` as a timestamp in `format` and returns milliseconds since the epoch.
//  epoch_ms, epoch_s, epoch_us: a decimal number: optional '-', digits, optional '.digits',
//    optional exponent ("1706702400", "1706702400.25", "1.7067024e9"). No '+', no spaces, no
//    hex, no inf/nan. Computed exactly in decimal (no binary floating point); a sub-millisecond
//    remainder is floored (toward the past).
//  iso8601: "YYYY-MM-DD" then 'T', 't' or ' ', then "hh:mm[:ss[.fraction]]", then an optional
//    offset "Z", "z", "+hh", "+hh:mm" or "+hhmm" (or '-'). No offset means UTC. Years 0000..9999.
//    Calendar-checked (no Feb 30); leap seconds (:60) and 24:00 are rejected. Fraction digits
//    past milliseconds are dropped (floored).
//  kafka: always an error; the Kafka timestamp is a record attribute, not text.
// Failures are InvalidArgument quoting the text, e.g.
//   invalid iso8601 timestamp "2024-02-30T00:00:00Z": day 30 is out of range for 2024-02
//   invalid epoch_ms timestamp "12abc"
//   epoch_s timestamp "1e300" is out of range
Result<int64_t> ParseTimestampMillis(std::string_view text, config::TimestampFormat format);

// The same for a numeric value (a JSON number already parsed to double); epoch formats only.
// The value is read as its shortest round-trip decimal, so 1706702400.123 s gives
// 1706702400123 ms (not ...122 from binary rounding). Non-finite values and non-epoch formats
// are errors.
Result<int64_t> ParseTimestampMillis(double value, config::TimestampFormat format);

}  // namespace osprey::daemon
