#include "daemon/decode/csv_decoder.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "daemon/decode/internal/decode_common.h"

namespace osprey::daemon {
namespace {

using decode_internal::Fail;
using decode_internal::FieldRef;
using decode_internal::QuoteForDetail;

// Per-thread scratch: Decode is const and runs concurrently.
struct CsvThreadState {
  std::vector<std::string_view> fields;
  std::string unescaped;  // quoted fields with "" escapes, unescaped
};

CsvThreadState& LocalCsvState() {
  thread_local CsvThreadState state;
  return state;
}

std::string ColumnRef(size_t column) { return "column " + std::to_string(column + 1); }

// Splits `line` into RFC 4180 fields. Views point into `line` or `state.unescaped`, which is
// reserved to line.size() up front so it never reallocates while views into it exist.
bool SplitCsvLine(std::string_view line, char delimiter, CsvThreadState& state,
                  DecodeFailure& failure) {
  state.fields.clear();
  state.unescaped.clear();
  state.unescaped.reserve(line.size());
  size_t pos = 0;
  while (true) {
    const size_t column = state.fields.size();
    if (pos < line.size() && line[pos] == '"') {
      const size_t begin = ++pos;
      bool has_escapes = false;
      while (true) {
        if (pos >= line.size()) {
          return Fail(failure, DecodeError::kMalformed,
                      "unterminated quoted field in " + ColumnRef(column));
        }
        if (line[pos] == '"') {
          if (pos + 1 < line.size() && line[pos + 1] == '"') {
            has_escapes = true;
            pos += 2;
            continue;
          }
          break;
        }
        ++pos;
      }
      const std::string_view raw = line.substr(begin, pos - begin);
      ++pos;  // the closing quote
      if (pos < line.size() && line[pos] != delimiter) {
        return Fail(failure, DecodeError::kMalformed,
                    "unexpected character after the closing quote of " + ColumnRef(column));
      }
      if (has_escapes) {
        const size_t start = state.unescaped.size();
        for (size_t idx = 0; idx < raw.size(); ++idx) {
          state.unescaped += raw[idx];
          if (raw[idx] == '"') ++idx;  // skip the second quote of ""
        }
        state.fields.emplace_back(state.unescaped.data() + start, state.unescaped.size() - start);
      } else {
        state.fields.push_back(raw);
      }
    } else {
      const size_t begin = pos;
      for (; pos < line.size() && line[pos] != delimiter; ++pos) {
        if (line[pos] == '"') {
          return Fail(failure, DecodeError::kMalformed,
                      "quote inside the unquoted " + ColumnRef(column));
        }
        if (line[pos] == '\n' || line[pos] == '\r') {
          return Fail(failure, DecodeError::kMalformed,
                      "line break outside quotes in " + ColumnRef(column));
        }
      }
      state.fields.push_back(line.substr(begin, pos - begin));
    }
    if (pos >= line.size()) return true;
    ++pos;  // the delimiter; a trailing one leaves a last, empty field
  }
}

// For text std::from_chars called out of range: true when its magnitude is below 1, i.e. it
// underflowed rather than overflowed. REQUIRES: `text` was consumed whole by from_chars.
bool MagnitudeBelowOne(std::string_view text) {
  size_t pos = !text.empty() && text[0] == '-' ? 1 : 0;
  // value = 0.d1d2... * 10^order with d1 != 0
  int64_t order = 0;
  bool significant = false;
  for (; pos < text.size() && text[pos] >= '0' && text[pos] <= '9'; ++pos) {
    if (significant || text[pos] != '0') {
      significant = true;
      ++order;
    }
  }
  if (pos < text.size() && text[pos] == '.') {
    for (++pos; pos < text.size() && text[pos] >= '0' && text[pos] <= '9'; ++pos) {
      if (significant) continue;
      if (text[pos] == '0') {
        --order;
      } else {
        significant = true;
      }
    }
  }
  int64_t exponent = 0;
  if (pos < text.size() && (text[pos] == 'e' || text[pos] == 'E')) {
    ++pos;
    const bool negative = pos < text.size() && text[pos] == '-';
    if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) ++pos;
    for (; pos < text.size() && text[pos] >= '0' && text[pos] <= '9'; ++pos) {
      // Saturates far beyond any digit count, where the outcome is fixed.
      if (exponent < (int64_t{1} << 50)) exponent = exponent * 10 + (text[pos] - '0');
    }
    if (negative) exponent = -exponent;
  }
  return order + exponent <= 0;
}

class CsvDecoder final : public Decoder {
 public:
  // REQUIRES: Validate(source).ok().
  explicit CsvDecoder(const config::SourceOptions& source) : binding_(source) {
    const auto& columns = source.csv_columns;
    const auto column_of = [&](const std::string& name) {
      return static_cast<int>(std::find(columns.begin(), columns.end(), name) - columns.begin());
    };
    for (const std::string& field : source.value_fields) {
      value_columns_.push_back(column_of(field));
    }
    if (!binding_.uses_kafka_key()) key_column_ = column_of(source.key_field);
    if (!binding_.uses_kafka_timestamp()) timestamp_column_ = column_of(source.timestamp_field);
  }

  static Status Validate(const config::SourceOptions& source) {
    OSPREY_RETURN_IF_ERROR(decode_internal::SourceBinding::Validate(source));
    const std::string where = "source '" + source.name + "': ";
    const char delimiter = source.csv_delimiter;
    if (delimiter == '"' || delimiter == '\r' || delimiter == '\n') {
      return Status::InvalidArgument(where + "csv_delimiter cannot be a quote or line break");
    }
    const auto& columns = source.csv_columns;
    if (columns.empty()) return Status::InvalidArgument(where + "no csv_columns");
    for (size_t idx = 0; idx < columns.size(); ++idx) {
      if (std::find(columns.begin(), columns.begin() + static_cast<std::ptrdiff_t>(idx),
                    columns[idx]) != columns.begin() + static_cast<std::ptrdiff_t>(idx)) {
        return Status::InvalidArgument(where + "duplicate csv column '" + columns[idx] + "'");
      }
    }
    const auto check = [&](const std::string& field, std::string_view role) {
      return std::find(columns.begin(), columns.end(), field) == columns.end()
                 ? Status::InvalidArgument(where + std::string(role) + " '" + field +
                                           "' is not in csv_columns")
                 : Status::Ok();
    };
    for (const std::string& field : source.value_fields) {
      OSPREY_RETURN_IF_ERROR(check(field, "value field"));
    }
    if (!source.key_field.empty()) OSPREY_RETURN_IF_ERROR(check(source.key_field, "key_field"));
    if (!source.timestamp_field.empty() &&
        source.timestamp_format != config::TimestampFormat::kKafka) {
      OSPREY_RETURN_IF_ERROR(check(source.timestamp_field, "timestamp_field"));
    }
    return Status::Ok();
  }

  bool Decode(const RawRecord& record, operators::Event& out,
              DecodeFailure& failure) const override {
    if (!binding_.CheckPayload(record, failure)) return false;
    std::string_view line = record.payload;
    if (line.ends_with("\r\n")) {
      line.remove_suffix(2);
    } else if (line.ends_with('\n')) {
      line.remove_suffix(1);
    }
    CsvThreadState& state = LocalCsvState();
    const config::SourceOptions& source = binding_.source();
    if (!SplitCsvLine(line, source.csv_delimiter, state, failure)) return false;
    const std::vector<std::string_view>& fields = state.fields;
    if (fields.size() != source.csv_columns.size()) {
      return Fail(failure, DecodeError::kMalformed,
                  "expected " + std::to_string(source.csv_columns.size()) + " columns, got " +
                      std::to_string(fields.size()));
    }

    if (key_column_ < 0) {
      out.key.assign(record.key);
    } else {
      out.key.assign(fields[static_cast<size_t>(key_column_)]);
    }

    if (timestamp_column_ < 0) {
      if (!binding_.KafkaTimestamp(record, out.event_time_ms, failure)) return false;
    } else {
      const std::string_view text = fields[static_cast<size_t>(timestamp_column_)];
      if (text.empty()) {
        return Fail(failure, DecodeError::kMissingField,
                    FieldRef(source.timestamp_field) + " is empty");
      }
      if (!binding_.TimestampFromText(text, out.event_time_ms, failure)) return false;
    }

    out.values.clear();
    out.values.reserve(value_columns_.size());
    for (size_t idx = 0; idx < value_columns_.size(); ++idx) {
      const std::string_view text = fields[static_cast<size_t>(value_columns_[idx])];
      const std::string& name = source.value_fields[idx];
      double value = 0;
      if (!ParseValue(text, name, value, failure)) return false;
      out.values.push_back(value);
    }
    binding_.FillSchemaAndOrigin(record, out);
    return true;
  }

 private:
  static bool ParseValue(std::string_view text, const std::string& name, double& value,
                         DecodeFailure& failure) {
    if (text.empty()) {
      return Fail(failure, DecodeError::kMissingField, FieldRef(name) + " is empty");
    }
    const char* end = text.data() + text.size();
    const std::from_chars_result parsed = std::from_chars(text.data(), end, value);
    if (parsed.ptr != end || parsed.ec == std::errc::invalid_argument) {
      return Fail(failure, DecodeError::kBadType,
                  FieldRef(name) + " must be a number, got " + QuoteForDetail(text));
    }
    if (parsed.ec == std::errc::result_out_of_range) {
      if (!MagnitudeBelowOne(text)) {
        return Fail(failure, DecodeError::kBadValue,
                    FieldRef(name) + " is out of range for a double: " + QuoteForDetail(text));
      }
      value = text[0] == '-' ? -0.0 : 0.0;
    }
    if (!std::isfinite(value)) {
      return Fail(failure, DecodeError::kBadValue,
                  FieldRef(name) + " must be finite, got " + QuoteForDetail(text));
    }
    return true;
  }

  // Constant after construction.
  decode_internal::SourceBinding binding_;
  std::vector<int> value_columns_;  // column index of each value field
  int key_column_ = -1;             // -1: the key is the Kafka record key
  int timestamp_column_ = -1;       // -1: event time is the Kafka record timestamp
};

}  // namespace

Result<std::unique_ptr<Decoder>> MakeCsvDecoder(const config::SourceOptions& source) {
  OSPREY_RETURN_IF_ERROR(CsvDecoder::Validate(source));
  return std::unique_ptr<Decoder>(std::make_unique<CsvDecoder>(source));
}

}  // namespace osprey::daemon
