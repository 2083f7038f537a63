// Implementation of the strict YAML loader (config/loader.cc), kept apart from the schema: error
// collection, ${VAR} interpolation, typed scalar readers with ranges, and MapReader, which reports
// unknown keys (with a "did you mean" hint), duplicate keys and missing required keys.
// Only config/*.cc may include this header (it exposes yaml-cpp, a PRIVATE dependency).
// Thread-compatible: one Context and its readers serve one load on one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "config/base/status.h"
#include "config/loader.h"
#include "config/options.h"

namespace osprey::config::internal {

// Expands ${VAR}, ${VAR:-default}, ${VAR:?message} and $$ in `in` (see config/loader.h).
// Returns false and sets *error (e.g. "${PORT}: environment variable not set") on failure.
bool Interpolate(std::string_view in, const Environment& env, std::string* out, std::string* error);

// Levenshtein distance, for "did you mean" hints.
size_t EditDistance(std::string_view a, std::string_view b);

// Collects every problem of one load, then renders them sorted by position.
class Context {
 public:
  // Caller keeps `env` alive for the lifetime of this object.
  Context(std::string file, const Environment& env) : file_(std::move(file)), env_(env) {}

  // Records "FILE:LINE:COLUMN: path: message" (no "path: " when `path` is empty).
  void Error(const YAML::Mark& mark, std::string_view path, std::string_view message);
  bool ok() const { return problems_.empty(); }
  // Problems recorded so far: compare before and after reading a part to tell whether it was
  // read cleanly.
  size_t error_count() const { return problems_.size(); }
  // InvalidArgument listing all problems, one per line, sorted by line then column.
  // REQUIRES: !ok().
  Status ToStatus() const;

  SourceLocation Location(const YAML::Mark& mark) const;
  const Environment& env() const { return env_; }

 private:
  struct Problem {
    int line;
    int column;
    std::string text;
  };

  const std::string file_;  // Constant after construction
  const Environment& env_;
  std::vector<Problem> problems_;
};

// A node together with where to report problems about it.
struct Value {
  YAML::Node node;
  YAML::Mark mark;  // the node's own mark, or its key's when the node is an implicit null
  std::string path;
  // The key the node sits under (a list element's or the root's own mark): where problems about
  // the node as a whole, such as a missing key, are reported.
  YAML::Mark key_mark;

  // Not assignable: YAML::Node::operator= writes through to the node it refers to, which would
  // silently rewrite the document. Construct a new Value (or emplace) instead.
  Value& operator=(const Value&) = delete;
};

// "a map", "a list", "a scalar", "null".
std::string_view TypeName(const YAML::Node& node);
// Reports "expected <what>, got <type>" unless `v` has type `type`.
bool ExpectType(Context& ctx, const Value& v, YAML::NodeType::value type);
// Calls fn(element_value) for each element of the list `v` (after checking that it is a list).
template <typename Fn>
bool ForEachElement(Context& ctx, const Value& v, Fn&& fn) {
  if (!ExpectType(ctx, v, YAML::NodeType::Sequence)) return false;
  size_t idx = 0;
  for (const auto& element : v.node) {
    const YAML::Node& node = element;  // the Node part of the iterator's value
    const YAML::Mark mark = node.IsNull() ? v.mark : node.Mark();
    fn(Value{node, mark, v.path + "[" + std::to_string(idx++) + "]", mark});
  }
  return true;
}

// Typed readers: nullopt after reporting the problem. All interpolate first.
// `what` names the expected kind in messages ("expected <what>, got ...").
std::optional<std::string> ReadScalar(Context& ctx, const Value& v, std::string_view what);
std::optional<std::string> ReadString(Context& ctx, const Value& v, bool non_empty);
std::optional<bool> ReadBool(Context& ctx, const Value& v);

// Integer in [lo, hi]. "must be in [1, 16], got 0" (or "must be >= 0, got -1" when hi is the
// type's maximum).
template <typename T>
std::optional<T> ReadInt(Context& ctx, const Value& v, T lo, T hi);
extern template std::optional<int> ReadInt(Context&, const Value&, int, int);
extern template std::optional<int64_t> ReadInt(Context&, const Value&, int64_t, int64_t);
extern template std::optional<uint64_t> ReadInt(Context&, const Value&, uint64_t, uint64_t);

// A finite double within an interval whose ends may be open; hi may be +infinity.
struct Range {
  double lo;
  double hi = std::numeric_limits<double>::infinity();
  bool lo_open = false;
  bool hi_open = false;
};
std::optional<double> ReadDouble(Context& ctx, const Value& v, const Range& range);

// Enums are read through a name table.
template <typename E>
struct EnumName {
  std::string_view name;
  E value;
};
template <typename E, size_t N>
std::optional<E> ReadEnum(Context& ctx, const Value& v, const EnumName<E> (&table)[N]) {
  std::string what = "one of ";
  for (size_t idx = 0; idx < N; ++idx) {
    what += (idx == 0 ? "" : "|");
    what += table[idx].name;
  }
  auto text = ReadScalar(ctx, v, what);
  if (!text) return std::nullopt;
  for (const auto& entry : table) {
    if (entry.name == *text) return entry.value;
  }
  ctx.Error(v.mark, v.path, "expected " + what + ", got '" + *text + "'");
  return std::nullopt;
}
template <typename E, size_t N>
std::string_view EnumToName(const EnumName<E> (&table)[N], E value) {
  for (const auto& entry : table) {
    if (entry.value == value) return entry.name;
  }
  return "?";
}

enum class Need {
  kOptional,  // may be absent; a string may be empty
  kNonEmpty,  // may be absent; a string or list must not be empty when present
  kRequired,  // must be present and not empty
};

// Reads one YAML map strictly. Every key looked up (present or not) becomes "known"; Finish()
// reports the keys present but never looked up as unknown. Duplicate keys are reported at
// construction; lookups see the first occurrence (as yaml-cpp does).
class MapReader {
 public:
  struct Entry {
    std::string key;
    YAML::Mark key_mark;
    Value value;
  };

  // Reports a type error when `map` is not a map (then ok() is false).
  MapReader(Context& ctx, Value map);

  bool ok() const { return ok_; }
  Context& ctx() const { return ctx_; }
  const Value& value() const { return map_; }
  std::string ChildPath(std::string_view key) const;

  // The value under `key`, or nullopt when absent.
  std::optional<Value> Get(std::string_view key);
  // Like Get, and reports "missing required key '<key>'" at this map when absent.
  std::optional<Value> Require(std::string_view key);
  void ReportMissing(std::string_view key, std::string_view hint = {});
  // All entries in file order, each key counted as known (for maps keyed by name).
  const std::vector<Entry>& Entries();

  // Typed fields: parse into *out when present and valid, keep *out otherwise. Return false
  // only when a problem was reported.
  bool String(std::string_view key, std::string* out, Need need = Need::kOptional);
  bool Bool(std::string_view key, bool* out);
  template <typename T>
  bool Int(std::string_view key, T* out, T lo, T hi) {
    return Field(key, out, Need::kOptional,
                 [&](const Value& v) { return ReadInt(ctx_, v, lo, hi); });
  }
  bool Double(std::string_view key, double* out, const Range& range);
  template <typename E, size_t N>
  bool Enum(std::string_view key, E* out, const EnumName<E> (&table)[N],
            Need need = Need::kOptional) {
    return Field(key, out, need, [&](const Value& v) { return ReadEnum(ctx_, v, table); });
  }
  // A list of unique strings. `where`, when given, receives each element's Value.
  bool StringList(std::string_view key, std::vector<std::string>* out, Need need,
                  std::vector<Value>* where = nullptr);
  // A map of scalar values, each kept as a string (librdkafka pass-through properties).
  bool Properties(std::string_view key, std::map<std::string, std::string>* out);

  // Words the problem for one unknown key; `suggestion` is a known key close enough to be the
  // intended one (a typo), or null.
  using UnknownKeyMessage =
      std::function<std::string(const std::string& key, const std::string* suggestion)>;

  // Reports unknown keys (unless `check_unknown` is false: the schema of this map could not be
  // determined, e.g. an operator of unknown type) as "unknown key 'k'", plus
  // " (did you mean 'x'?)" when a known key is close.
  void Finish(bool check_unknown = true);
  // As Finish(), with the problem for each unknown key worded by `message`.
  void FinishWith(const UnknownKeyMessage& message);

 private:
  template <typename T, typename Read>
  bool Field(std::string_view key, T* out, Need need, Read read) {
    auto v = need == Need::kRequired ? Require(key) : Get(key);
    if (!v) return need != Need::kRequired;
    auto parsed = read(*v);
    if (!parsed) return false;
    *out = std::move(*parsed);
    return true;
  }

  Context& ctx_;
  Value map_;
  bool ok_ = false;
  std::vector<Entry> entries_;
  std::map<std::string, size_t, std::less<>> index_;  // key -> entries_ index
  std::set<std::string, std::less<>> known_;
};

// Runs body(MapReader&) on the map under `key` when present, then Finish(). Returns whether the
// key was present.
template <typename Body>
bool Section(MapReader& parent, std::string_view key, Body&& body) {
  auto v = parent.Get(key);
  if (!v) return false;
  MapReader reader(parent.ctx(), std::move(*v));
  if (reader.ok()) {
    body(reader);
    reader.Finish();
  }
  return true;
}

}  // namespace osprey::config::internal
