#include "daemon/decode/internal/decode_common.h"

#include <algorithm>

#include "daemon/decode/timestamp.h"

namespace osprey::daemon::decode_internal {

std::string QuoteForDetail(std::string_view text) {
  constexpr size_t kMaxShown = 64;
  constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  const size_t shown = std::min(text.size(), kMaxShown);
  for (size_t idx = 0; idx < shown; ++idx) {
    const auto byte = static_cast<unsigned char>(text[idx]);
    if (byte == '"' || byte == '\\') {
      out += '\\';
      out += static_cast<char>(byte);
    } else if (byte < 0x20 || byte >= 0x7f) {
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    } else {
      out += static_cast<char>(byte);
    }
  }
  out += '"';
  if (shown < text.size()) out += "... (" + std::to_string(text.size()) + " bytes)";
  return out;
}

std::string FieldRef(std::string_view name) { return "field '" + std::string(name) + "'"; }

Status SourceBinding::Validate(const config::SourceOptions& source) {
  const std::string where = "source '" + source.name + "': ";
  if (source.topics.empty()) return Status::InvalidArgument(where + "no topics");
  if (source.value_fields.empty()) return Status::InvalidArgument(where + "no value_fields");
  for (const std::string& field : source.value_fields) {
    if (field.empty()) return Status::InvalidArgument(where + "empty name in value_fields");
  }
  return Status::Ok();
}

SourceBinding::SourceBinding(const config::SourceOptions& source)
    : source_(source),
      uses_kafka_timestamp_(source.timestamp_field.empty() ||
                            source.timestamp_format == config::TimestampFormat::kKafka),
      schema_(std::make_shared<const operators::Schema>(operators::Schema{source.value_fields})) {}

bool SourceBinding::CheckPayload(const RawRecord& record, DecodeFailure& failure) const {
  if (record.payload.size() > kMaxPayloadBytes) {
    return Fail(failure, DecodeError::kTooLarge,
                "payload of " + std::to_string(record.payload.size()) + " bytes exceeds the " +
                    std::to_string(kMaxPayloadBytes) + "-byte limit");
  }
  if (record.payload.empty()) return Fail(failure, DecodeError::kMalformed, "empty payload");
  return true;
}

void SourceBinding::FillSchemaAndOrigin(const RawRecord& record, operators::Event& out) const {
  out.schema = schema_;
  const std::string* topic = &source_.topics.front();
  for (const std::string& candidate : source_.topics) {
    if (candidate == record.topic) {
      topic = &candidate;
      break;
    }
  }
  out.origin.topic = topic;
  out.origin.partition = record.partition;
  out.origin.offset = record.offset;
}

bool SourceBinding::KafkaTimestamp(const RawRecord& record, int64_t& out_ms,
                                   DecodeFailure& failure) const {
  if (record.timestamp_ms == -1) {
    return Fail(failure, DecodeError::kMissingField, "record has no Kafka timestamp");
  }
  out_ms = record.timestamp_ms;
  return true;
}

bool SourceBinding::TimestampFromText(std::string_view text, int64_t& out_ms,
                                      DecodeFailure& failure) const {
  Result<int64_t> parsed = ParseTimestampMillis(text, source_.timestamp_format);
  if (!parsed.ok()) {
    return Fail(failure, DecodeError::kBadValue,
                FieldRef(source_.timestamp_field) + ": " + parsed.status().message());
  }
  out_ms = *parsed;
  return true;
}

}  // namespace osprey::daemon::decode_internal
