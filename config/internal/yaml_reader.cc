#include "config/internal/yaml_reader.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <tuple>
#include <type_traits>

namespace osprey::config::internal {

namespace {

bool IsVarName(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

// Integral values print as integers ("1000000", not "1e+06").
std::string FormatDouble(double v) {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[32];
  auto fmt = (v == std::floor(v) && std::fabs(v) < 1e15) ? std::chars_format::fixed
                                                         : std::chars_format::general;
  auto res = std::to_chars(buf, buf + sizeof(buf), v, fmt);
  return std::string(buf, res.ptr);
}

std::string RangeText(std::string_view lo, bool lo_open, std::string_view hi, bool hi_open,
                      bool unbounded_above) {
  if (unbounded_above) return std::string(lo_open ? "must be > " : "must be >= ").append(lo);
  std::string out = "must be in ";
  out += lo_open ? '(' : '[';
  out.append(lo).append(", ").append(hi);
  out += hi_open ? ')' : ']';
  return out;
}

// "LINE:COLUMN", 1-based. Programmatic nodes carry a null mark (-1): report them at 1:1.
int Line(const YAML::Mark& mark) { return std::max(mark.line, 0) + 1; }
int Column(const YAML::Mark& mark) { return std::max(mark.column, 0) + 1; }
std::string LineColumn(const YAML::Mark& mark) {
  return std::to_string(Line(mark)) + ":" + std::to_string(Column(mark));
}

}  // namespace

bool Interpolate(std::string_view in, const Environment& env, std::string* out,
                 std::string* error) {
  out->clear();
  size_t pos = 0;
  while (pos < in.size()) {
    const size_t dollar = in.find('$', pos);
    out->append(in.substr(pos, dollar == std::string_view::npos ? in.size() - pos : dollar - pos));
    if (dollar == std::string_view::npos) break;
    const char next = dollar + 1 < in.size() ? in[dollar + 1] : '\0';
    if (next != '{') {  // "$$" is an escaped '$'; any other '$' is literal
      *out += '$';
      pos = dollar + (next == '$' ? 2 : 1);
      continue;
    }
    const size_t close = in.find('}', dollar + 2);
    if (close == std::string_view::npos) {
      *error = "unterminated '${' in '" + std::string(in) + "'";
      return false;
    }
    const std::string_view body = in.substr(dollar + 2, close - dollar - 2);
    const size_t colon = body.find(':');
    const std::string name(body.substr(0, colon));
    const std::string_view op = colon == std::string_view::npos ? "" : body.substr(colon, 2);
    if (!IsVarName(name) || (colon != std::string_view::npos && op != ":-" && op != ":?")) {
      *error = "invalid reference '${" + std::string(body) +
               "}' (expected ${VAR}, ${VAR:-default} or ${VAR:?message})";
      return false;
    }
    const std::optional<std::string> value = env.Get(name);
    const bool has_value = value.has_value() && !value->empty();
    const std::string_view arg = op.empty() ? "" : body.substr(colon + 2);
    if (op.empty()) {
      if (!value) {
        *error = "${" + name + "}: environment variable not set";
        return false;
      }
      *out += *value;
    } else if (op == ":-") {
      out->append(has_value ? std::string_view(*value) : arg);
    } else if (!has_value) {  // ":?"
      *error = "${" + name + "}: " + (arg.empty() ? "not set or empty" : std::string(arg));
      return false;
    } else {
      *out += *value;
    }
    pos = close + 1;
  }
  return true;
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t col = 0; col <= b.size(); ++col) row[col] = col;
  for (size_t a_idx = 1; a_idx <= a.size(); ++a_idx) {
    size_t diagonal = row[0];
    row[0] = a_idx;
    for (size_t b_idx = 1; b_idx <= b.size(); ++b_idx) {
      const size_t above = row[b_idx];
      row[b_idx] = std::min(
          {row[b_idx] + 1, row[b_idx - 1] + 1, diagonal + (a[a_idx - 1] == b[b_idx - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

void Context::Error(const YAML::Mark& mark, std::string_view path, std::string_view message) {
  const SourceLocation loc = Location(mark);
  std::string text = loc.ToString() + ": ";
  if (!path.empty()) text.append(path).append(": ");
  text.append(message);
  problems_.push_back(Problem{loc.line, loc.column, std::move(text)});
}

Status Context::ToStatus() const {
  std::vector<const Problem*> sorted;
  for (const auto& p : problems_) sorted.push_back(&p);
  std::stable_sort(sorted.begin(), sorted.end(), [](const Problem* a, const Problem* b) {
    return std::tie(a->line, a->column) < std::tie(b->line, b->column);
  });
  std::string message;
  for (const Problem* p : sorted) message.append(message.empty() ? "" : "\n").append(p->text);
  return Status::InvalidArgument(std::move(message));
}

SourceLocation Context::Location(const YAML::Mark& mark) const {
  return SourceLocation{file_, Line(mark), Column(mark)};
}

std::string_view TypeName(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Null:
      return "null";
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

bool ExpectType(Context& ctx, const Value& v, YAML::NodeType::value type) {
  if (v.node.Type() == type) return true;
  const std::string_view what = type == YAML::NodeType::Map        ? "a map"
                                : type == YAML::NodeType::Sequence ? "a list"
                                                                   : "a scalar";
  ctx.Error(v.mark, v.path,
            "expected " + std::string(what) + ", got " + std::string(TypeName(v.node)));
  return false;
}

std::optional<std::string> ReadScalar(Context& ctx, const Value& v, std::string_view what) {
  if (!v.node.IsScalar()) {
    ctx.Error(v.mark, v.path,
              "expected " + std::string(what) + ", got " + std::string(TypeName(v.node)));
    return std::nullopt;
  }
  std::string out;
  std::string error;
  if (!Interpolate(v.node.Scalar(), ctx.env(), &out, &error)) {
    ctx.Error(v.mark, v.path, error);
    return std::nullopt;
  }
  return out;
}

std::optional<std::string> ReadString(Context& ctx, const Value& v, bool non_empty) {
  auto text = ReadScalar(ctx, v, "a string");
  if (text && non_empty && text->empty()) {
    ctx.Error(v.mark, v.path, "must not be empty");
    return std::nullopt;
  }
  return text;
}

std::optional<bool> ReadBool(Context& ctx, const Value& v) {
  auto text = ReadScalar(ctx, v, "true or false");
  if (!text) return std::nullopt;
  for (std::string_view t : {"true", "True", "TRUE"}) {
    if (*text == t) return true;
  }
  for (std::string_view f : {"false", "False", "FALSE"}) {
    if (*text == f) return false;
  }
  ctx.Error(v.mark, v.path, "expected true or false, got '" + *text + "'");
  return std::nullopt;
}

template <typename T>
std::optional<T> ReadInt(Context& ctx, const Value& v, T lo, T hi) {
  const std::string_view what = std::is_signed_v<T> ? "an integer" : "a non-negative integer";
  auto text = ReadScalar(ctx, v, what);
  if (!text) return std::nullopt;
  std::string_view digits = *text;
  if (digits.size() > 1 && digits[0] == '+') digits.remove_prefix(1);
  T value{};
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  const bool whole = ptr == digits.data() + digits.size();
  if (ec == std::errc::invalid_argument || !whole || digits.empty()) {
    ctx.Error(v.mark, v.path, "expected " + std::string(what) + ", got '" + *text + "'");
    return std::nullopt;
  }
  if (ec == std::errc::result_out_of_range || value < lo || value > hi) {
    ctx.Error(v.mark, v.path,
              RangeText(std::to_string(lo), false, std::to_string(hi), false,
                        hi == std::numeric_limits<T>::max()) +
                  ", got " + *text);
    return std::nullopt;
  }
  return value;
}
template std::optional<int> ReadInt(Context&, const Value&, int, int);
template std::optional<int64_t> ReadInt(Context&, const Value&, int64_t, int64_t);
template std::optional<uint64_t> ReadInt(Context&, const Value&, uint64_t, uint64_t);

std::optional<double> ReadDouble(Context& ctx, const Value& v, const Range& range) {
  auto text = ReadScalar(ctx, v, "a number");
  if (!text) return std::nullopt;
  std::string_view digits = *text;
  if (digits.size() > 1 && digits[0] == '+') digits.remove_prefix(1);
  double value = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc() || ptr != digits.data() + digits.size() || !std::isfinite(value)) {
    ctx.Error(v.mark, v.path, "expected a number, got '" + *text + "'");
    return std::nullopt;
  }
  const bool above_lo = range.lo_open ? value > range.lo : value >= range.lo;
  const bool below_hi = range.hi_open ? value < range.hi : value <= range.hi;
  if (!above_lo || !below_hi) {
    ctx.Error(v.mark, v.path,
              RangeText(FormatDouble(range.lo), range.lo_open, FormatDouble(range.hi),
                        range.hi_open, std::isinf(range.hi)) +
                  ", got " + *text);
    return std::nullopt;
  }
  return value;
}

MapReader::MapReader(Context& ctx, Value map) : ctx_(ctx), map_(std::move(map)) {
  ok_ = ExpectType(ctx_, map_, YAML::NodeType::Map);
  if (!ok_) return;
  for (const auto& key_value : map_.node) {  // a temporary pair: bind by value, not it->first
    const YAML::Node key_node = key_value.first;
    if (!key_node.IsScalar()) {
      ctx_.Error(key_node.Mark(), map_.path,
                 "expected a scalar key, got " + std::string(TypeName(key_node)));
      continue;
    }
    const std::string& key = key_node.Scalar();
    auto [first, inserted] = index_.emplace(key, entries_.size());
    if (!inserted) {
      ctx_.Error(key_node.Mark(), ChildPath(key),
                 "duplicate key '" + key + "' (first defined at " +
                     LineColumn(entries_[first->second].key_mark) + ")");
      continue;
    }
    const YAML::Node node = key_value.second;
    const YAML::Mark key_mark = key_node.Mark();
    entries_.push_back(
        Entry{key, key_mark,
              Value{node, node.IsNull() ? key_mark : node.Mark(), ChildPath(key), key_mark}});
  }
}

std::string MapReader::ChildPath(std::string_view key) const {
  return map_.path.empty() ? std::string(key) : map_.path + "." + std::string(key);
}

std::optional<Value> MapReader::Get(std::string_view key) {
  known_.emplace(key);
  auto it = index_.find(key);
  if (it == index_.end()) return std::nullopt;
  return entries_[it->second].value;
}

std::optional<Value> MapReader::Require(std::string_view key) {
  auto v = Get(key);
  if (!v) ReportMissing(key);
  return v;
}

void MapReader::ReportMissing(std::string_view key, std::string_view hint) {
  std::string message = "missing required key '" + std::string(key) + "'";
  if (!hint.empty()) message.append(" (").append(hint).append(")");
  ctx_.Error(map_.key_mark, map_.path, message);
}

const std::vector<MapReader::Entry>& MapReader::Entries() {
  for (const auto& entry : entries_) known_.insert(entry.key);
  return entries_;
}

bool MapReader::String(std::string_view key, std::string* out, Need need) {
  return Field(key, out, need,
               [&](const Value& v) { return ReadString(ctx_, v, need != Need::kOptional); });
}

bool MapReader::Bool(std::string_view key, bool* out) {
  return Field(key, out, Need::kOptional, [&](const Value& v) { return ReadBool(ctx_, v); });
}

bool MapReader::Double(std::string_view key, double* out, const Range& range) {
  return Field(key, out, Need::kOptional,
               [&](const Value& v) { return ReadDouble(ctx_, v, range); });
}

bool MapReader::StringList(std::string_view key, std::vector<std::string>* out, Need need,
                           std::vector<Value>* where) {
  auto v = need == Need::kRequired ? Require(key) : Get(key);
  if (!v) return need != Need::kRequired;
  std::vector<std::string> items;
  std::vector<Value> values;
  bool ok = true;
  const bool is_list = ForEachElement(ctx_, *v, [&](const Value& element) {
    auto item = ReadString(ctx_, element, /*non_empty=*/true);
    if (!item) {
      ok = false;
    } else if (std::find(items.begin(), items.end(), *item) != items.end()) {
      ctx_.Error(element.mark, element.path, "duplicate entry '" + *item + "'");
      ok = false;
    } else {
      items.push_back(std::move(*item));
      values.push_back(element);
    }
  });
  ok = ok && is_list;
  if (ok && need != Need::kOptional && items.empty()) {
    ctx_.Error(v->mark, v->path, "must not be empty");
    ok = false;
  }
  if (!ok) return false;
  *out = std::move(items);
  if (where != nullptr) *where = std::move(values);
  return true;
}

bool MapReader::Properties(std::string_view key, std::map<std::string, std::string>* out) {
  auto v = Get(key);
  if (!v) return true;
  MapReader props(ctx_, std::move(*v));
  if (!props.ok()) return false;
  bool ok = true;
  for (const auto& entry : props.Entries()) {
    auto text = ReadScalar(ctx_, entry.value, "a string, number or boolean");
    if (text) {
      (*out)[entry.key] = std::move(*text);
    } else {
      ok = false;
    }
  }
  props.Finish();
  return ok;
}

void MapReader::Finish(bool check_unknown) {
  if (!check_unknown) return;
  FinishWith([](const std::string& key, const std::string* suggestion) {
    std::string message = "unknown key '" + key + "'";
    if (suggestion != nullptr) message += " (did you mean '" + *suggestion + "'?)";
    return message;
  });
}

void MapReader::FinishWith(const UnknownKeyMessage& message) {
  if (!ok_) return;
  for (const auto& entry : entries_) {
    if (known_.count(entry.key) != 0) continue;
    const std::string* best = nullptr;
    size_t best_distance = 0;
    for (const auto& candidate : known_) {
      const size_t d = EditDistance(entry.key, candidate);
      if (best == nullptr || d < best_distance) {
        best = &candidate;
        best_distance = d;
      }
    }
    // Close enough to be a typo: at most 2 edits, and fewer than half the candidate's length.
    const bool typo = best != nullptr && best_distance <= 2 && best_distance * 2 < best->size();
    ctx_.Error(entry.key_mark, ChildPath(entry.key), message(entry.key, typo ? best : nullptr));
  }
}

}  // namespace osprey::config::internal
