#include "daemon/decode/timestamp.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <string>

#include "daemon/decode/internal/decode_common.h"

namespace osprey::daemon {
namespace {

using decode_internal::QuoteForDetail;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Larger than the length of any text, so a saturated exponent decides like the true one.
constexpr int64_t kExponentCap = int64_t{1} << 50;

enum class DecimalResult { kOk, kInvalid, kOutOfRange };

// Reads a decimal number (grammar in the header), multiplies it by 10^scale and floors it to an
// int64, exactly. Linear in the text length.
DecimalResult ParseScaledDecimal(std::string_view text, int scale, int64_t& out) {
  size_t pos = 0;
  const bool negative = !text.empty() && text[0] == '-';
  if (negative) ++pos;
  const size_t int_begin = pos;
  while (pos < text.size() && IsDigit(text[pos])) ++pos;
  const std::string_view int_digits = text.substr(int_begin, pos - int_begin);
  if (int_digits.empty()) return DecimalResult::kInvalid;
  std::string_view frac_digits;
  if (pos < text.size() && text[pos] == '.') {
    const size_t frac_begin = ++pos;
    while (pos < text.size() && IsDigit(text[pos])) ++pos;
    frac_digits = text.substr(frac_begin, pos - frac_begin);
    if (frac_digits.empty()) return DecimalResult::kInvalid;
  }
  int64_t exponent = 0;
  if (pos < text.size() && (text[pos] == 'e' || text[pos] == 'E')) {
    ++pos;
    const bool exp_negative = pos < text.size() && text[pos] == '-';
    if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) ++pos;
    const size_t exp_begin = pos;
    for (; pos < text.size() && IsDigit(text[pos]); ++pos) {
      // Saturates far beyond any digit count, where the outcome (0, -1 or overflow) is fixed.
      if (exponent < kExponentCap) exponent = exponent * 10 + (text[pos] - '0');
    }
    if (pos == exp_begin) return DecimalResult::kInvalid;
    if (exp_negative) exponent = -exponent;
  }
  if (pos != text.size()) return DecimalResult::kInvalid;

  // The digits of int_digits + frac_digits, read as an integer, times 10^shift.
  const int64_t shift = exponent + scale - static_cast<int64_t>(frac_digits.size());
  const size_t total = int_digits.size() + frac_digits.size();
  const auto digit_at = [&](size_t idx) {
    return idx < int_digits.size() ? int_digits[idx] : frac_digits[idx - int_digits.size()];
  };
  size_t first = 0;
  while (first < total && digit_at(first) == '0') ++first;
  if (first == total) {
    out = 0;
    return DecimalResult::kOk;
  }
  const uint64_t limit = negative ? uint64_t{1} << 63 : (uint64_t{1} << 63) - 1;
  // Significant digits left of the decimal point once the shift is applied.
  const int64_t whole_digits = static_cast<int64_t>(total - first) + shift;
  uint64_t magnitude = 0;
  bool has_fraction = false;
  for (size_t idx = first; idx < total; ++idx) {
    const int digit = digit_at(idx) - '0';
    if (static_cast<int64_t>(idx - first) < whole_digits) {
      if (magnitude > (limit - static_cast<uint64_t>(digit)) / 10)
        return DecimalResult::kOutOfRange;
      magnitude = magnitude * 10 + static_cast<uint64_t>(digit);
    } else if (digit != 0) {
      has_fraction = true;
    }
  }
  for (int64_t zeros = static_cast<int64_t>(total - first); zeros < whole_digits; ++zeros) {
    if (magnitude > limit / 10) return DecimalResult::kOutOfRange;
    magnitude *= 10;
  }
  if (negative && has_fraction) {
    if (magnitude == limit) return DecimalResult::kOutOfRange;
    ++magnitude;  // floor toward the past
  }
  out = negative ? static_cast<int64_t>(0 - magnitude) : static_cast<int64_t>(magnitude);
  return DecimalResult::kOk;
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t year, int month, int day) {
  year -= month <= 2 ? 1 : 0;
  const int64_t era = (year >= 0 ? year : year - 399) / 400;
  const int64_t year_of_era = year - era * 400;  // [0, 399]
  const int64_t day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
  const int64_t day_of_era =
      year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;  // [0, 146096]
  return era * 146097 + day_of_era - 719468;
}

int DaysInMonth(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

Result<int64_t> ParseIso8601(std::string_view text) {
  const auto fail = [&](const std::string& reason) -> Result<int64_t> {
    return Status::InvalidArgument("invalid iso8601 timestamp " + QuoteForDetail(text) + ": " +
                                   reason);
  };
  size_t pos = 0;
  const auto accept = [&](char c) {
    if (pos >= text.size() || text[pos] != c) return false;
    ++pos;
    return true;
  };
  const auto digits = [&](size_t count, int& value) {
    if (text.size() - pos < count) return false;
    value = 0;
    for (size_t idx = 0; idx < count; ++idx, ++pos) {
      if (!IsDigit(text[pos])) return false;
      value = value * 10 + (text[pos] - '0');
    }
    return true;
  };

  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!digits(4, year) || !accept('-') || !digits(2, month) || !accept('-') || !digits(2, day)) {
    return fail("expected YYYY-MM-DD");
  }
  if (!accept('T') && !accept('t') && !accept(' ')) return fail("expected 'T' after the date");
  if (!digits(2, hour) || !accept(':') || !digits(2, minute)) return fail("expected hh:mm");
  int64_t millis = 0;
  if (accept(':')) {
    if (!digits(2, second)) return fail("expected two-digit seconds");
    if (accept('.') || accept(',')) {
      size_t count = 0;
      for (; pos < text.size() && IsDigit(text[pos]); ++pos, ++count) {
        if (count < 3) millis = millis * 10 + (text[pos] - '0');
      }
      if (count == 0) return fail("expected digits after the decimal point");
      for (; count < 3; ++count) millis *= 10;
    }
  }
  int offset_minutes = 0;
  if (!accept('Z') && !accept('z') && pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    const int sign = text[pos] == '-' ? -1 : 1;
    ++pos;
    int offset_hours = 0, offset_mins = 0;
    if (!digits(2, offset_hours)) return fail("expected offset hh[:mm]");
    if ((accept(':') || pos < text.size()) && !digits(2, offset_mins)) {
      return fail("expected offset hh[:mm]");
    }
    if (offset_hours > 23 || offset_mins > 59) return fail("offset out of range");
    offset_minutes = sign * (offset_hours * 60 + offset_mins);
  }
  if (pos != text.size()) return fail("unexpected characters after the time");

  if (month < 1 || month > 12) return fail("month " + std::to_string(month) + " is out of range");
  if (day < 1 || day > DaysInMonth(year, month)) {
    return fail("day " + std::to_string(day) + " is out of range for " +
                std::string(text.substr(0, 7)));
  }
  if (hour > 23) return fail("hour " + std::to_string(hour) + " is out of range");
  if (minute > 59) return fail("minute " + std::to_string(minute) + " is out of range");
  if (second > 59) return fail("second " + std::to_string(second) + " is out of range");

  const int64_t seconds = DaysFromCivil(year, month, day) * 86400 + int64_t{hour} * 3600 +
                          int64_t{minute} * 60 + second - int64_t{offset_minutes} * 60;
  return seconds * 1000 + millis;
}

}  // namespace

std::string_view TimestampFormatName(config::TimestampFormat format) {
  switch (format) {
    case config::TimestampFormat::kKafka:
      return "kafka";
    case config::TimestampFormat::kEpochMillis:
      return "epoch_ms";
    case config::TimestampFormat::kEpochSeconds:
      return "epoch_s";
    case config::TimestampFormat::kEpochMicros:
      return "epoch_us";
    case config::TimestampFormat::kIso8601:
      return "iso8601";
  }
  return "unknown";
}

Result<int64_t> ParseTimestampMillis(std::string_view text, config::TimestampFormat format) {
  int scale = 0;
  switch (format) {
    case config::TimestampFormat::kIso8601:
      return ParseIso8601(text);
    case config::TimestampFormat::kKafka:
      return Status::InvalidArgument("timestamp format kafka takes no field value");
    case config::TimestampFormat::kEpochMillis:
      scale = 0;
      break;
    case config::TimestampFormat::kEpochSeconds:
      scale = 3;
      break;
    case config::TimestampFormat::kEpochMicros:
      scale = -3;
      break;
  }
  int64_t millis = 0;
  switch (ParseScaledDecimal(text, scale, millis)) {
    case DecimalResult::kOk:
      return millis;
    case DecimalResult::kInvalid:
      return Status::InvalidArgument("invalid " + std::string(TimestampFormatName(format)) +
                                     " timestamp " + QuoteForDetail(text));
    case DecimalResult::kOutOfRange:
      break;
  }
  return Status::InvalidArgument(std::string(TimestampFormatName(format)) + " timestamp " +
                                 QuoteForDetail(text) + " is out of range");
}

Result<int64_t> ParseTimestampMillis(double value, config::TimestampFormat format) {
  if (format == config::TimestampFormat::kIso8601 || format == config::TimestampFormat::kKafka) {
    return Status::InvalidArgument("timestamp format " + std::string(TimestampFormatName(format)) +
                                   " takes no numeric value");
  }
  if (!std::isfinite(value)) {
    return Status::InvalidArgument(std::string(TimestampFormatName(format)) +
                                   " timestamp is not finite");
  }
  char buf[std::numeric_limits<double>::max_digits10 + 16];
  const std::to_chars_result printed = std::to_chars(buf, buf + sizeof(buf), value);
  return ParseTimestampMillis(std::string_view(buf, static_cast<size_t>(printed.ptr - buf)),
                              format);
}

}  // namespace osprey::daemon
