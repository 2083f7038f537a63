#include "daemon/decode/decoder.h"

namespace osprey::daemon {

std::string_view DecodeErrorName(DecodeError error) {
  switch (error) {
    case DecodeError::kMalformed: return "malformed";
    case DecodeError::kMissingField: return "missing_field";
    case DecodeError::kBadType: return "bad_type";
    case DecodeError::kBadValue: return "bad_value";
    case DecodeError::kTooLarge: return "too_large";
  }
  return "unknown";
}

}  // namespace osprey::daemon
