#include "daemon/decode/json_decoder.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <simdjson.h>

#include "daemon/decode/internal/decode_common.h"
#include "daemon/decode/timestamp.h"

namespace osprey::daemon {
namespace {

namespace ondemand = simdjson::ondemand;
using decode_internal::Fail;
using decode_internal::FieldRef;
using decode_internal::QuoteForDetail;

constexpr int kMaxJsonDepth = 128;
// Per-thread buffers above this size are released after the record that needed them.
constexpr size_t kRetainedParserBytes = size_t{1} << 20;
constexpr size_t kMinParserBytes = size_t{64} << 10;

// One configured field path as a trie: nodes[0] is the document root.
struct PathNode {
  // Child components, sorted by name, with their node index.
  std::vector<std::pair<std::string, int>> children;
  // Slots whose path ends here, with their priority (higher wins; equal: first occurrence wins).
  std::vector<std::pair<int, int>> slot_priorities;
};

enum class JsonKind : uint8_t { kAbsent, kNull, kBool, kNumber, kString, kArray, kObject };

std::string_view KindName(JsonKind kind) {
  switch (kind) {
    case JsonKind::kAbsent:
      return "nothing";
    case JsonKind::kNull:
      return "null";
    case JsonKind::kBool:
      return "boolean";
    case JsonKind::kNumber:
      return "number";
    case JsonKind::kString:
      return "string";
    case JsonKind::kArray:
      return "array";
    case JsonKind::kObject:
      return "object";
  }
  return "unknown";
}

// What the walk found for one slot. Views point into the thread's parser or padded buffer and
// are valid until that thread's next parse.
struct FoundValue {
  JsonKind kind = JsonKind::kAbsent;
  int priority = -1;
  bool out_of_range = false;  // a valid JSON number beyond double's range
  double number = 0;
  std::string_view text;  // string contents, or a number's token
};

// Per-thread parse state: Decode is const and runs concurrently; a simdjson parser must not.
struct JsonThreadState {
  ondemand::parser parser;
  std::unique_ptr<char[]> buffer;  // the payload, then simdjson::SIMDJSON_PADDING zero bytes
  size_t buffer_bytes = 0;
  std::vector<FoundValue> slots;

  // Drops buffers a rare huge record grew, so each consumer thread does not keep ~10x 8 MiB.
  void ReleaseIfLarge() {
    if (parser.capacity() > kRetainedParserBytes) parser = ondemand::parser();
    if (buffer_bytes > kRetainedParserBytes + simdjson::SIMDJSON_PADDING) {
      buffer.reset();
      buffer_bytes = 0;
    }
  }
};

JsonThreadState& LocalJsonState() {
  thread_local JsonThreadState state;
  return state;
}

std::string_view TrimTrailingSpace(std::string_view text) {
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\n' ||
                           text.back() == '\r')) {
    text.remove_suffix(1);
  }
  return text;
}

bool IsDigitChar(char c) { return c >= '0' && c <= '9'; }

// True for JSON's integer grammar: -?(0|[1-9][0-9]*).
bool IsJsonInteger(std::string_view text) {
  if (!text.empty() && text[0] == '-') text.remove_prefix(1);
  if (text.empty() || (text[0] == '0' && text.size() > 1)) return false;
  return std::all_of(text.begin(), text.end(), IsDigitChar);
}

// True for JSON's number grammar: an integer, then optional .digits and exponent.
bool IsJsonNumber(std::string_view text) {
  size_t pos = text.find_first_of(".eE");
  if (!IsJsonInteger(text.substr(0, pos))) return false;
  const auto digits = [&] {
    const size_t begin = pos;
    while (pos < text.size() && IsDigitChar(text[pos])) ++pos;
    return pos > begin;
  };
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    if (!digits()) return false;
  }
  if (pos < text.size() && (text[pos] == 'e' || text[pos] == 'E')) {
    ++pos;
    if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) ++pos;
    if (!digits()) return false;
  }
  return pos >= text.size();
}

// Visits every value of the document once, in order, validating all of it and recording the
// values of configured paths into `slots`.
class JsonWalker {
 public:
  JsonWalker(const std::vector<PathNode>& nodes, std::vector<FoundValue>& slots,
             ondemand::document& doc, std::string_view input, DecodeFailure& failure)
      : nodes_(nodes), slots_(slots), doc_(doc), input_(input), failure_(failure) {}

  // `node` is the trie node of this object, or -1 when nothing below it is wanted.
  bool WalkObject(ondemand::object& object, int node, int depth) {
    for (auto field_result : object) {
      ondemand::field field;
      if (auto error = std::move(field_result).get(field)) return Malformed(error);
      std::string_view name;
      if (auto error = field.unescaped_key().get(name)) return Malformed(error);
      if (!WalkValue(field.value(), node < 0 ? -1 : FindChild(node, name), depth + 1)) {
        return false;
      }
    }
    return true;
  }

  // `at`: where the bad token starts, when known; else simdjson's current location.
  bool Malformed(simdjson::error_code error, const char* at = nullptr) {
    std::string detail = "invalid JSON";
    // For a document that ends early simdjson points at its start, which misleads.
    const char* location = at;
    if (error != simdjson::INCOMPLETE_ARRAY_OR_OBJECT &&
        (location != nullptr || doc_.current_location().get(location) == simdjson::SUCCESS) &&
        location >= input_.data() && location <= input_.data() + input_.size()) {
      detail += " at byte " + std::to_string(location - input_.data());
    }
    detail += ": ";
    detail += simdjson::error_message(error);
    return Fail(failure_, DecodeError::kMalformed, std::move(detail));
  }

 private:
  bool WalkValue(ondemand::value value, int node, int depth) {
    ondemand::json_type type;
    if (auto error = value.type().get(type)) return Malformed(error);
    FoundValue found;
    switch (type) {
      case ondemand::json_type::object: {
        if (depth > kMaxJsonDepth) return TooDeep();
        ondemand::object object;
        if (auto error = value.get_object().get(object)) return Malformed(error);
        found.kind = JsonKind::kObject;
        Record(node, found);
        return WalkObject(object, node >= 0 && !nodes_[node].children.empty() ? node : -1, depth);
      }
      case ondemand::json_type::array: {
        if (depth > kMaxJsonDepth) return TooDeep();
        ondemand::array array;
        if (auto error = value.get_array().get(array)) return Malformed(error);
        found.kind = JsonKind::kArray;
        Record(node, found);
        for (auto element_result : array) {
          ondemand::value element;
          if (auto error = element_result.get(element)) return Malformed(error);
          if (!WalkValue(element, -1, depth + 1)) return false;
        }
        return true;
      }
      case ondemand::json_type::number: {
        found.kind = JsonKind::kNumber;
        found.text = TrimTrailingSpace(value.raw_json_token());
        if (auto error = value.get_double().get(found.number)) {
          // simdjson refuses numbers beyond double's range; JSON's grammar does not.
          if (!IsJsonNumber(found.text)) return Malformed(error, found.text.data());
          found.out_of_range = true;
        }
        Record(node, found);
        return true;
      }
      case ondemand::json_type::string: {
        found.kind = JsonKind::kString;
        const char* start = value.raw_json_token().data();
        if (auto error = value.get_string().get(found.text)) return Malformed(error, start);
        Record(node, found);
        return true;
      }
      case ondemand::json_type::boolean: {
        found.kind = JsonKind::kBool;
        const char* start = value.raw_json_token().data();
        bool flag = false;
        if (auto error = value.get_bool().get(flag)) return Malformed(error, start);
        Record(node, found);
        return true;
      }
      case ondemand::json_type::null: {
        found.kind = JsonKind::kNull;
        const char* start = value.raw_json_token().data();
        bool is_null = false;
        if (auto error = value.is_null().get(is_null)) return Malformed(error, start);
        if (!is_null) return Malformed(simdjson::N_ATOM_ERROR, start);
        Record(node, found);
        return true;
      }
    }
    return Malformed(simdjson::INCORRECT_TYPE);
  }

  int FindChild(int node, std::string_view name) const {
    const auto& children = nodes_[node].children;
    const auto it =
        std::lower_bound(children.begin(), children.end(), name,
                         [](const std::pair<std::string, int>& child, std::string_view key) {
                           return std::string_view(child.first) < key;
                         });
    return it != children.end() && it->first == name ? it->second : -1;
  }

  void Record(int node, const FoundValue& found) {
    if (node < 0) return;
    for (const auto& [slot, priority] : nodes_[node].slot_priorities) {
      FoundValue& target = slots_[static_cast<size_t>(slot)];
      if (target.priority < priority) {
        target = found;
        target.priority = priority;
      }
    }
  }

  bool TooDeep() {
    return Fail(failure_, DecodeError::kMalformed,
                "JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  }

  const std::vector<PathNode>& nodes_;
  std::vector<FoundValue>& slots_;
  ondemand::document& doc_;
  std::string_view input_;
  DecodeFailure& failure_;
};

class JsonDecoder final : public Decoder {
 public:
  // REQUIRES: Validate(source).ok().
  explicit JsonDecoder(const config::SourceOptions& source) : binding_(source) {
    nodes_.emplace_back();
    const auto& values = source.value_fields;
    for (size_t idx = 0; idx < values.size(); ++idx) AddPath(values[idx], slot_count_++);
    if (!binding_.uses_kafka_key()) {
      key_slot_ = slot_count_++;
      AddPath(source.key_field, key_slot_);
    }
    if (!binding_.uses_kafka_timestamp()) {
      timestamp_slot_ = slot_count_++;
      AddPath(source.timestamp_field, timestamp_slot_);
    }
  }

  static Status Validate(const config::SourceOptions& source) {
    OSPREY_RETURN_IF_ERROR(decode_internal::SourceBinding::Validate(source));
    const auto check = [&](const std::string& path, std::string_view role) {
      const bool bad =
          path.front() == '.' || path.back() == '.' || path.find("..") != std::string::npos;
      return bad ? Status::InvalidArgument("source '" + source.name + "': " + std::string(role) +
                                           " '" + path + "' has an empty path component")
                 : Status::Ok();
    };
    for (const std::string& field : source.value_fields) {
      OSPREY_RETURN_IF_ERROR(check(field, "value field"));
    }
    if (!source.key_field.empty()) OSPREY_RETURN_IF_ERROR(check(source.key_field, "key_field"));
    if (!source.timestamp_field.empty()) {
      OSPREY_RETURN_IF_ERROR(check(source.timestamp_field, "timestamp_field"));
    }
    return Status::Ok();
  }

  bool Decode(const RawRecord& record, operators::Event& out,
              DecodeFailure& failure) const override {
    if (!binding_.CheckPayload(record, failure)) return false;
    JsonThreadState& state = LocalJsonState();
    const bool ok = DecodeWith(state, record, out, failure);
    state.ReleaseIfLarge();
    return ok;
  }

 private:
  void AddPath(const std::string& path, int slot) {
    // A dotted path also matches a top-level member literally named so, preferred (priority 1).
    if (path.find('.') != std::string::npos) {
      nodes_[static_cast<size_t>(ChildOf(0, path))].slot_priorities.emplace_back(slot, 1);
    }
    int node = 0;
    for (size_t begin = 0; begin <= path.size();) {
      const size_t end = std::min(path.find('.', begin), path.size());
      node = ChildOf(node, path.substr(begin, end - begin));
      begin = end + 1;
    }
    nodes_[static_cast<size_t>(node)].slot_priorities.emplace_back(slot, 0);
  }

  // The child of `node` named `name`, created when absent.
  int ChildOf(int node, const std::string& name) {
    auto& children = nodes_[static_cast<size_t>(node)].children;
    auto it = std::lower_bound(
        children.begin(), children.end(), name,
        [](const auto& child, const std::string& key) { return child.first < key; });
    if (it != children.end() && it->first == name) return it->second;
    const int child = static_cast<int>(nodes_.size());
    children.emplace(it, name, child);
    nodes_.emplace_back();  // invalidates `children`; not used below
    return child;
  }

  bool DecodeWith(JsonThreadState& state, const RawRecord& record, operators::Event& out,
                  DecodeFailure& failure) const {
    // librdkafka's buffers carry no padding and reading past them is undefined, so copy.
    const size_t size = record.payload.size();
    if (state.buffer_bytes < size + simdjson::SIMDJSON_PADDING) {
      state.buffer_bytes = std::max(size, std::max(2 * state.buffer_bytes, kMinParserBytes)) +
                           simdjson::SIMDJSON_PADDING;
      state.buffer = std::make_unique<char[]>(state.buffer_bytes);
    }
    std::memcpy(state.buffer.get(), record.payload.data(), size);
    std::memset(state.buffer.get() + size, 0, simdjson::SIMDJSON_PADDING);
    if (state.parser.capacity() < size) {
      const size_t capacity =
          std::max(size, std::max(2 * state.parser.capacity(), kMinParserBytes));
      if (auto error =
              state.parser.allocate(std::min(capacity, decode_internal::kMaxPayloadBytes))) {
        return Fail(failure, DecodeError::kTooLarge,
                    "cannot allocate a JSON parser for " + std::to_string(size) +
                        " bytes: " + simdjson::error_message(error));
      }
    }

    const std::string_view input(state.buffer.get(), size);
    ondemand::document doc;
    if (auto error = state.parser.iterate(input.data(), size, state.buffer_bytes).get(doc)) {
      return Fail(failure, DecodeError::kMalformed,
                  std::string("invalid JSON: ") + simdjson::error_message(error));
    }
    state.slots.assign(static_cast<size_t>(slot_count_), FoundValue{});
    JsonWalker walker(nodes_, state.slots, doc, input, failure);
    ondemand::json_type type;
    if (auto error = doc.type().get(type)) return walker.Malformed(error);
    if (type != ondemand::json_type::object) {
      JsonKind kind = JsonKind::kNull;
      switch (type) {
        case ondemand::json_type::array:
          kind = JsonKind::kArray;
          break;
        case ondemand::json_type::number:
          kind = JsonKind::kNumber;
          break;
        case ondemand::json_type::string:
          kind = JsonKind::kString;
          break;
        case ondemand::json_type::boolean:
          kind = JsonKind::kBool;
          break;
        case ondemand::json_type::null:
        case ondemand::json_type::object:
          break;
      }
      return Fail(failure, DecodeError::kMalformed,
                  "payload must be a JSON object, got " + std::string(KindName(kind)));
    }
    ondemand::object object;
    if (auto error = doc.get_object().get(object)) return walker.Malformed(error);
    if (!walker.WalkObject(object, 0, 1)) return false;
    const char* trailing = nullptr;
    if (doc.current_location().get(trailing) == simdjson::SUCCESS) {
      return Fail(failure, DecodeError::kMalformed,
                  "invalid JSON at byte " + std::to_string(trailing - input.data()) +
                      ": content after the object");
    }
    return Extract(state.slots, record, out, failure);
  }

  // Turns the walk's findings into the event, checking key, event time, then values in order.
  bool Extract(const std::vector<FoundValue>& slots, const RawRecord& record, operators::Event& out,
               DecodeFailure& failure) const {
    const config::SourceOptions& source = binding_.source();
    if (key_slot_ < 0) {
      out.key.assign(record.key);
    } else {
      const FoundValue& key = slots[static_cast<size_t>(key_slot_)];
      if (!CheckPresent(key, source.key_field, failure)) return false;
      // A string's contents, or an integer's token: both are the key's text.
      if (key.kind == JsonKind::kString ||
          (key.kind == JsonKind::kNumber && IsJsonInteger(key.text))) {
        out.key.assign(key.text);
      } else {
        std::string got(KindName(key.kind));
        if (key.kind == JsonKind::kNumber) got += " " + QuoteForDetail(key.text);
        return Fail(failure, DecodeError::kBadType,
                    FieldRef(source.key_field) + " must be a string or an integer, got " + got);
      }
    }

    if (timestamp_slot_ < 0) {
      if (!binding_.KafkaTimestamp(record, out.event_time_ms, failure)) return false;
    } else {
      const FoundValue& time = slots[static_cast<size_t>(timestamp_slot_)];
      if (!CheckPresent(time, source.timestamp_field, failure)) return false;
      const bool iso = source.timestamp_format == config::TimestampFormat::kIso8601;
      const JsonKind wanted = iso ? JsonKind::kString : JsonKind::kNumber;
      if (time.kind != wanted) {
        return Fail(failure, DecodeError::kBadType,
                    FieldRef(source.timestamp_field) + " must be a " +
                        std::string(KindName(wanted)) + " for timestamp format " +
                        std::string(TimestampFormatName(source.timestamp_format)) + ", got " +
                        std::string(KindName(time.kind)));
      }
      if (!binding_.TimestampFromText(time.text, out.event_time_ms, failure)) return false;
    }

    out.values.clear();
    out.values.reserve(source.value_fields.size());
    for (size_t idx = 0; idx < source.value_fields.size(); ++idx) {
      const FoundValue& value = slots[idx];
      const std::string& name = source.value_fields[idx];
      if (!CheckPresent(value, name, failure)) return false;
      if (value.kind != JsonKind::kNumber) {
        return Fail(failure, DecodeError::kBadType,
                    FieldRef(name) + " must be a number, got " + std::string(KindName(value.kind)));
      }
      if (value.out_of_range) {
        return Fail(
            failure, DecodeError::kBadValue,
            FieldRef(name) + " is out of range for a double: " + QuoteForDetail(value.text));
      }
      out.values.push_back(value.number);
    }
    binding_.FillSchemaAndOrigin(record, out);
    return true;
  }

  static bool CheckPresent(const FoundValue& found, const std::string& name,
                           DecodeFailure& failure) {
    if (found.kind == JsonKind::kAbsent) {
      return Fail(failure, DecodeError::kMissingField, FieldRef(name) + " is missing");
    }
    if (found.kind == JsonKind::kNull) {
      return Fail(failure, DecodeError::kMissingField, FieldRef(name) + " is null");
    }
    return true;
  }

  // Constant after construction.
  decode_internal::SourceBinding binding_;
  std::vector<PathNode> nodes_;  // the trie of configured paths; nodes_[0] is the root
  int slot_count_ = 0;           // value slots first, in value_fields order
  int key_slot_ = -1;            // -1: the key is the Kafka record key
  int timestamp_slot_ = -1;      // -1: event time is the Kafka record timestamp
};

}  // namespace

Result<std::unique_ptr<Decoder>> MakeJsonDecoder(const config::SourceOptions& source) {
  OSPREY_RETURN_IF_ERROR(JsonDecoder::Validate(source));
  return std::unique_ptr<Decoder>(std::make_unique<JsonDecoder>(source));
}

}  // namespace osprey::daemon
