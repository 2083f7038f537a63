// JsonWriter: appends compact JSON to a string, for hot-path output records. Strings are escaped
// per RFC 8259 (invalid UTF-8 is replaced by U+FFFD so output is always valid JSON); doubles are
// written in shortest round-trip form; NaN and infinities become null.
// Thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace osprey {

class JsonWriter {
 public:
  explicit JsonWriter(std::string* out) : out_(out) {}

  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  // Inside an object: the next member's name.
  JsonWriter& Key(std::string_view key);
  JsonWriter& String(std::string_view v);
  JsonWriter& Double(double v);
  JsonWriter& Int(int64_t v);
  JsonWriter& Bool(bool v);
  JsonWriter& Null();
  // A value that is already JSON (e.g. a stored document), appended as is.
  // REQUIRES: `json` is one valid JSON value.
  JsonWriter& Raw(std::string_view json);

 private:
  void Separate();

  std::string* out_;
  bool need_comma_ = false;
};

// Appends `v` as a quoted, escaped JSON string.
void AppendJsonString(std::string& out, std::string_view v);

}  // namespace osprey
