// Pieces shared by the JSON and CSV decoders: the source binding (schema, origin topic, Kafka
// key and timestamp fallbacks), the payload size limit, and the wording of failure details.
// Implementation-only: included by daemon/decode/*.cc, never by other modules.
// Thread-compatible: a SourceBinding is constant after construction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "config/base/status.h"
#include "config/options.h"
#include "daemon/decode/decoder.h"
#include "operators/event.h"

namespace osprey::daemon::decode_internal {

// Largest payload a decoder accepts; larger records fail with kTooLarge.
inline constexpr size_t kMaxPayloadBytes = size_t{8} << 20;

// `text` in double quotes for a failure detail: quotes and backslashes escaped, bytes outside
// printable ASCII as \xNN, and cut after 64 bytes ("..." and the full length follow).
std::string QuoteForDetail(std::string_view text);

// Fills `failure` and returns false, so decoders can `return Fail(...)`.
inline bool Fail(DecodeFailure& failure, DecodeError error, std::string detail) {
  failure.error = error;
  failure.detail = std::move(detail);
  return false;
}

class SourceBinding {
 public:
  // Checks what both decoders need: at least one topic and one value field, no empty field
  // names. InvalidArgument naming the source otherwise.
  static Status Validate(const config::SourceOptions& source);

  // REQUIRES: Validate(source).ok(). `source` must outlive this object.
  explicit SourceBinding(const config::SourceOptions& source);

  const config::SourceOptions& source() const { return source_; }
  // True when event time is the Kafka record timestamp (no timestamp field, or format kafka).
  bool uses_kafka_timestamp() const { return uses_kafka_timestamp_; }
  // True when the key is the Kafka record key (no key field).
  bool uses_kafka_key() const { return source_.key_field.empty(); }

  // kTooLarge over kMaxPayloadBytes, kMalformed when empty.
  bool CheckPayload(const RawRecord& record, DecodeFailure& failure) const;
  // Sets schema and origin; origin.topic is the configured topic equal to record.topic, or the
  // first configured topic when none is (e.g. a regex subscription or a test record).
  void FillSchemaAndOrigin(const RawRecord& record, operators::Event& out) const;
  // record.timestamp_ms, or kMissingField "record has no Kafka timestamp" when it is -1.
  bool KafkaTimestamp(const RawRecord& record, int64_t& out_ms, DecodeFailure& failure) const;
  // Parses the timestamp field's text per the configured format; kBadValue
  // "field 'ts': <ParseTimestampMillis message>" on failure.
  bool TimestampFromText(std::string_view text, int64_t& out_ms, DecodeFailure& failure) const;

 private:
  // Constant after construction.
  const config::SourceOptions& source_;
  const bool uses_kafka_timestamp_;
  const std::shared_ptr<const operators::Schema> schema_;
};

// "field 'name'" as used at the start of details.
std::string FieldRef(std::string_view name);

}  // namespace osprey::daemon::decode_internal
