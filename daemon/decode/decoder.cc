#include "daemon/decode/decoder.h"

#include "daemon/decode/csv_decoder.h"
#include "daemon/decode/json_decoder.h"

namespace osprey::daemon {

std::string_view DecodeErrorName(DecodeError error) {
  switch (error) {
    case DecodeError::kMalformed:
      return "malformed";
    case DecodeError::kMissingField:
      return "missing_field";
    case DecodeError::kBadType:
      return "bad_type";
    case DecodeError::kBadValue:
      return "bad_value";
    case DecodeError::kTooLarge:
      return "too_large";
  }
  return "unknown";
}

Result<std::unique_ptr<Decoder>> MakeDecoder(const config::SourceOptions& source) {
  switch (source.format) {
    case config::RecordFormat::kJson:
      return MakeJsonDecoder(source);
    case config::RecordFormat::kCsv:
      return MakeCsvDecoder(source);
  }
  return Status::InvalidArgument("source '" + source.name + "': unknown record format");
}

}  // namespace osprey::daemon
