// The schema of the config file, on top of the strict readers in config/internal/yaml_reader.h.
#include "config/loader.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <limits>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include <openssl/evp.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include "config/internal/yaml_reader.h"

namespace osprey::config {

namespace {

using internal::Context;
using internal::EnumName;
using internal::MapReader;
using internal::Need;
using internal::Range;
using internal::Section;
using internal::Value;

constexpr EnumName<RecordFormat> kRecordFormats[] = {{"json", RecordFormat::kJson},
                                                     {"csv", RecordFormat::kCsv}};
constexpr EnumName<TimestampFormat> kTimestampFormats[] = {
    {"kafka", TimestampFormat::kKafka},
    {"epoch_ms", TimestampFormat::kEpochMillis},
    {"epoch_s", TimestampFormat::kEpochSeconds},
    {"epoch_us", TimestampFormat::kEpochMicros},
    {"iso8601", TimestampFormat::kIso8601}};
constexpr EnumName<std::string_view> kSinkKinds[] = {{"kafka", "kafka"}};
constexpr EnumName<SinkSelect> kSinkSelects[] = {{"all", SinkSelect::kAll},
                                                 {"alerts", SinkSelect::kAlerts}};
constexpr EnumName<OperatorKind> kOperatorKinds[] = {{"baseline", OperatorKind::kBaseline},
                                                     {"rcf", OperatorKind::kRcf},
                                                     {"window", OperatorKind::kWindow},
                                                     {"hotspots", OperatorKind::kHotspots}};
constexpr EnumName<LogLevel> kLogLevels[] = {{"trace", LogLevel::kTrace},
                                             {"debug", LogLevel::kDebug},
                                             {"info", LogLevel::kInfo},
                                             {"warn", LogLevel::kWarn},
                                             {"error", LogLevel::kError}};
constexpr EnumName<LogFormat> kLogFormats[] = {{"text", LogFormat::kText},
                                               {"json", LogFormat::kJson}};

constexpr EnumName<HttpRole> kHttpRoles[] = {{"read", HttpRole::kRead},
                                             {"admin", HttpRole::kAdmin}};
constexpr EnumName<TlsVersion> kTlsVersions[] = {{"1.2", TlsVersion::kTls12},
                                                 {"1.3", TlsVersion::kTls13}};
// Shortest accepted bearer token, characters.
constexpr size_t kMinTokenChars = 16;

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

// A name that must resolve to a source or sink once everything is read.
struct NameRef {
  bool is_sink;
  std::string name;
  Value where;
  std::string owner;  // "pipeline 'main'"
};

// Reads a string naming a source or sink, and records it for the cross-reference check.
void ReadRef(MapReader& m, std::string_view key, bool is_sink, const std::string& owner,
             std::string* out, std::vector<NameRef>* refs) {
  if (m.String(key, out, Need::kRequired) && !out->empty()) {
    refs->push_back(NameRef{is_sink, *out, *m.Get(key), owner});
  }
}

// Reads a map keyed by name (sources, sinks, pipelines): each entry becomes one T, located at
// its key, and parsed by parse_one(MapReader&, T&).
template <typename T, typename ParseOne>
void ReadNamed(MapReader& top, std::string_view key, std::string_view noun, std::vector<T>* out,
               ParseOne parse_one) {
  auto v = top.Require(key);
  if (!v) return;
  Context& ctx = top.ctx();
  MapReader named(ctx, *v);
  if (!named.ok()) return;
  if (named.Entries().empty()) {
    ctx.Error(v->mark, v->path, "must define at least one " + std::string(noun));
  }
  for (const auto& entry : named.Entries()) {
    T& item = out->emplace_back();
    item.name = entry.key;
    item.location = ctx.Location(entry.key_mark);
    if (entry.key.empty()) {
      ctx.Error(entry.key_mark, v->path, std::string(noun) + " name must not be empty");
    }
    MapReader m(ctx, entry.value);
    if (!m.ok()) continue;
    parse_one(m, item);
    m.Finish();
  }
  named.Finish();
}

void ReadKafka(MapReader& top, KafkaOptions* kafka) {
  const bool present = Section(top, "kafka", [&](MapReader& k) {
    k.String("bootstrap_servers", &kafka->bootstrap_servers, Need::kNonEmpty);
    k.String("group_id", &kafka->group_id, Need::kNonEmpty);
    k.Int<int64_t>("commit_interval_ms", &kafka->commit_interval_ms, 50, 600'000);
    k.Properties("properties", &kafka->properties);
    k.Properties("consumer_properties", &kafka->consumer_properties);
    k.Properties("producer_properties", &kafka->producer_properties);
    EmbeddedBrokerOptions& embedded = kafka->embedded;
    bool enabled_ok = true;  // no "missing bootstrap_servers" after a bad `enabled`
    Section(k, "embedded", [&](MapReader& e) {
      enabled_ok = e.Bool("enabled", &embedded.enabled);
      e.Int("brokers", &embedded.brokers, 1, 16);
      auto topics = e.Get("topics");
      if (!topics) return;
      std::set<std::string> names;
      internal::ForEachElement(e.ctx(), *topics, [&](const Value& element) {
        MapReader t(e.ctx(), element);
        if (!t.ok()) return;
        EmbeddedTopic& topic = embedded.topics.emplace_back();
        if (t.String("name", &topic.name, Need::kRequired) && !names.insert(topic.name).second) {
          e.ctx().Error(element.mark, element.path, "duplicate topic '" + topic.name + "'");
        }
        t.Int("partitions", &topic.partitions, 1, 1024);
        t.Finish();
      });
    });
    if (enabled_ok && !embedded.enabled && !k.Get("bootstrap_servers")) {
      k.ReportMissing("bootstrap_servers", "or set embedded.enabled: true");
    }
  });
  if (!present) top.ReportMissing("kafka", "it must set bootstrap_servers or embedded.enabled");
}

void ReadSource(MapReader& m, SourceOptions* s, std::vector<NameRef>* refs) {
  Context& ctx = m.ctx();
  const std::string owner = "source '" + s->name + "'";
  m.StringList("topics", &s->topics, Need::kRequired);
  const bool format_ok = m.Enum("format", &s->format, kRecordFormats);
  s->timestamp_format = TimestampFormat::kKafka;  // when `timestamp` is omitted
  std::optional<Value> timestamp_field;
  Section(m, "timestamp", [&](MapReader& t) {
    s->timestamp_format = TimestampFormat::kEpochMillis;
    if (!t.Enum("format", &s->timestamp_format, kTimestampFormats)) {
      t.Get("field");  // a known key either way; its rule depends on the format
    } else if (s->timestamp_format == TimestampFormat::kKafka) {
      if (auto field = t.Get("field")) {
        ctx.Error(field->mark, field->path, "must be absent when format is kafka");
      }
    } else if (t.String("field", &s->timestamp_field, Need::kRequired)) {
      timestamp_field.emplace(*t.Get("field"));
    }
  });
  m.String("key_field", &s->key_field);
  std::vector<Value> value_where;
  m.StringList("value_fields", &s->value_fields, Need::kRequired, &value_where);
  const bool has_csv = Section(m, "csv", [&](MapReader& c) {
    c.StringList("columns", &s->csv_columns, Need::kRequired);
    std::string delimiter(1, s->csv_delimiter);
    auto d = c.Get("delimiter");
    if (c.String("delimiter", &delimiter) && d) {
      if (delimiter.size() == 1) {
        s->csv_delimiter = delimiter[0];
      } else {
        ctx.Error(d->mark, d->path, "must be exactly one character, got '" + delimiter + "'");
      }
    }
  });
  if (format_ok && s->format == RecordFormat::kCsv && !has_csv) {
    m.ReportMissing("csv", "format is csv");
  }
  if (format_ok && s->format != RecordFormat::kCsv && has_csv) {
    const Value csv = *m.Get("csv");
    ctx.Error(csv.mark, csv.path, "only allowed when format is csv");
  }
  // Every field read from a CSV record must be one of its columns.
  if (s->format == RecordFormat::kCsv && !s->csv_columns.empty()) {
    auto check = [&](const std::string& field, const Value& where) {
      if (std::find(s->csv_columns.begin(), s->csv_columns.end(), field) == s->csv_columns.end()) {
        ctx.Error(where.mark, where.path, "'" + field + "' is not one of csv.columns");
      }
    };
    if (timestamp_field) check(s->timestamp_field, *timestamp_field);
    if (!s->key_field.empty()) check(s->key_field, *m.Get("key_field"));
    for (size_t idx = 0; idx < value_where.size(); ++idx) {
      check(s->value_fields[idx], value_where[idx]);
    }
  }
  ReadRef(m, "dead_letter", /*is_sink=*/true, owner, &s->dead_letter, refs);
  Section(m, "demo", [&](MapReader& d) {
    DemoOptions& demo = s->demo.emplace();
    d.Double("rate_per_sec", &demo.rate_per_sec, Range{0, 1e6, /*lo_open=*/true});
    d.Int("keys", &demo.keys, 1, 100'000);
    d.Double("spike_probability", &demo.spike_probability, Range{0, 0.5});
    d.Int<int64_t>("level_shift_every", &demo.level_shift_every, 0, kInt64Max);
    d.Int<int64_t>("burst_every", &demo.burst_every, 0, kInt64Max);
    d.Int("burst_size", &demo.burst_size, 1, 1'000'000);
    d.Int<int64_t>("max_records", &demo.max_records, 0, kInt64Max);
    d.Int<uint64_t>("seed", &demo.seed, 0, std::numeric_limits<uint64_t>::max());
  });
}

void ReadSink(MapReader& m, SinkOptions* s) {
  std::string_view kind = s->kind;
  if (m.Enum("kind", &kind, kSinkKinds)) s->kind = std::string(kind);
  m.String("topic", &s->topic, Need::kRequired);
  m.Enum("select", &s->select, kSinkSelects);
}

// ---- Operators -------------------------------------------------------------------------------
// Each operator type has a table of fields. A row names the key, the function that reads it into
// the type's options struct (instantiated from a member pointer and its bounds), an optional
// Kinesis Data Analytics alias, and an optional condition under which the key is meaningful.
// Bounds that the options struct's Validate() owns are not repeated here: its message is
// reported at the field it names (ReportAtField).

using Baseline = BaselineDetectorOptions;
using Rcf = RcfOperatorOptions;
using Window = WindowOptions;
using Hotspots = HotspotOptions;

template <typename O>
using FieldFn = void (*)(MapReader& m, std::string_view key, O* out);

// "kind is hopping": holds(options) tells whether the setting `key` has (one of) the value(s)
// `value`.
template <typename O>
struct Condition {
  bool (*holds)(const O&);
  std::string_view key;
  std::string_view value;
};

template <typename O>
struct FieldSpec {
  std::string_view key;
  FieldFn<O> read;
  std::string_view alias = {};      // the Kinesis spelling; giving both is an error
  FieldFn<O> read_alias = nullptr;  // when the alias's value means something else; null = read
  // When set, the key may only be given when the condition holds.
  const Condition<O>* only_if = nullptr;
};

template <typename M>
struct MemberTraits;
template <typename O, typename T>
struct MemberTraits<T O::*> {
  using Owner = O;
  using Type = T;
};
template <typename T>
struct Unwrap {
  using Type = T;
};
template <typename T>
struct Unwrap<std::optional<T>> {
  using Type = T;
};
template <auto kMember>
using OwnerOf = typename MemberTraits<decltype(kMember)>::Owner;
// The field's value type: T for a std::optional<T> member.
template <auto kMember>
using ValueOf = typename Unwrap<typename MemberTraits<decltype(kMember)>::Type>::Type;

// Any finite number: for fields whose bounds the options struct's Validate() checks.
constexpr Range kAnyNumber{-std::numeric_limits<double>::infinity()};

// Field readers: store the value only when the key is present and the value valid.
template <auto kMember, ValueOf<kMember> kLo = std::numeric_limits<ValueOf<kMember>>::min(),
          ValueOf<kMember> kHi = std::numeric_limits<ValueOf<kMember>>::max()>
void IntField(MapReader& m, std::string_view key, OwnerOf<kMember>* out) {
  ValueOf<kMember> value{};
  if (m.Get(key) && m.Int(key, &value, kLo, kHi)) out->*kMember = value;
}
template <auto kMember, Range kRange = kAnyNumber>
void DoubleField(MapReader& m, std::string_view key, OwnerOf<kMember>* out) {
  double value = 0;
  if (m.Get(key) && m.Double(key, &value, kRange)) out->*kMember = value;
}
template <auto kMember>
void BoolField(MapReader& m, std::string_view key, OwnerOf<kMember>* out) {
  bool value = false;
  if (m.Get(key) && m.Bool(key, &value)) out->*kMember = value;
}
template <auto kMember, const auto& kTable>
void EnumField(MapReader& m, std::string_view key, OwnerOf<kMember>* out) {
  std::remove_cvref_t<decltype(kTable[0].value)> value{};
  if (m.Get(key) && m.Enum(key, &value, kTable)) out->*kMember = ValueOf<kMember>(value);
}

constexpr FieldSpec<Baseline> kBaselineFields[] = {
    {"half_life_events", DoubleField<&Baseline::half_life_events, Range{1, 1e9}>},
    {"warmup_events", IntField<&Baseline::warmup_events, 1, 1'000'000'000>},
    {"alert_threshold", DoubleField<&Baseline::alert_threshold, Range{0, 1e6, /*lo_open=*/true}>},
    {"min_stddev", DoubleField<&Baseline::min_stddev, Range{0, 1e6, /*lo_open=*/true}>},
};

constexpr EnumName<std::string_view> kRcfTransforms[] = {
    {"none", "none"},
    {"normalize", "normalize"},
    {"difference", "difference"},
    {"normalize_difference", "normalize_difference"}};
// Input values x shingle_size: the dimension of an RCF point.
constexpr size_t kMaxRcfDimensions = 10'000;

// Kinesis's timeDecay is a record count N; time_decay is the rate 1/N.
void TimeDecayRecords(MapReader& m, std::string_view key, Rcf* out) {
  int64_t records = 0;
  if (m.Get(key) && m.Int<int64_t>(key, &records, 1, kInt64Max)) {
    out->time_decay = 1.0 / static_cast<double>(records);
  }
}

constexpr FieldSpec<Rcf> kRcfFields[] = {
    {"number_of_trees", IntField<&Rcf::number_of_trees, 1, 1000>, "numberOfTrees"},
    {"sample_size", IntField<&Rcf::sample_size, 4, 32767>, "subSampleSize"},
    {"shingle_size", IntField<&Rcf::shingle_size, 1, 1024>, "shingleSize"},
    {"time_decay", DoubleField<&Rcf::time_decay, Range{0, 1}>, "timeDecay", TimeDecayRecords},
    {"output_after", IntField<&Rcf::output_after, 1, 1'000'000'000'000>},
    {"initial_accept_fraction",
     DoubleField<&Rcf::initial_accept_fraction, Range{0, 1, /*lo_open=*/true}>},
    {"random_seed", IntField<&Rcf::random_seed>},
    {"transform", EnumField<&Rcf::transform, kRcfTransforms>},
    {"z_factor", DoubleField<&Rcf::z_factor, Range{1, 100}>},
    {"absolute_threshold", DoubleField<&Rcf::absolute_threshold, Range{0, 100}>},
    {"alert_grade", DoubleField<&Rcf::alert_grade, Range{0, 1, /*lo_open=*/true}>},
    {"idle_eviction_ms", IntField<&Rcf::idle_eviction_ms, 0, 10'000'000'000>},
    {"memory_budget_bytes", IntField<&Rcf::memory_budget_bytes, 0>},
    {"forecast_horizon", IntField<&Rcf::forecast_horizon, 0, 1024>},
};

constexpr EnumName<WindowKind> kWindowKinds[] = {{"tumbling", WindowKind::kTumbling},
                                                 {"hopping", WindowKind::kHopping},
                                                 {"session", WindowKind::kSession}};
constexpr EnumName<TimeDomain> kTimeDomains[] = {{"event", TimeDomain::kEvent},
                                                 {"processing", TimeDomain::kProcessing}};
constexpr EnumName<LateEventPolicy> kLateEventPolicies[] = {
    {"dead_letter", LateEventPolicy::kDeadLetter}, {"drop", LateEventPolicy::kDrop}};
constexpr EnumName<EmitMode> kEmitModes[] = {{"on_close", EmitMode::kOnClose},
                                             {"early", EmitMode::kEarly}};
// The names of AggregateFnName().
constexpr EnumName<AggregateFn> kAggregateFns[] = {
    {"count", AggregateFn::kCount},      {"sum", AggregateFn::kSum},
    {"mean", AggregateFn::kMean},        {"min", AggregateFn::kMin},
    {"max", AggregateFn::kMax},          {"variance", AggregateFn::kVariance},
    {"stddev", AggregateFn::kStddev},    {"first", AggregateFn::kFirst},
    {"last", AggregateFn::kLast},        {"distinct", AggregateFn::kDistinctCount},
    {"quantile", AggregateFn::kQuantile}};

// aggregates: [{fn: quantile, field: cpu, q: 0.99}, ...]
void ReadAggregates(MapReader& m, std::string_view key, Window* out) {
  auto list = m.Get(key);
  if (!list) return;
  Context& ctx = m.ctx();
  internal::ForEachElement(ctx, *list, [&](const Value& element) {
    MapReader a(ctx, element);
    if (!a.ok()) return;
    AggregateSpec& spec = out->aggregates.emplace_back();
    const bool fn_ok = a.Enum("fn", &spec.fn, kAggregateFns, Need::kRequired);
    a.String("field", &spec.field);
    auto q = a.Get("q");
    if (q && fn_ok && spec.fn != AggregateFn::kQuantile) {
      ctx.Error(q->mark, q->path, "only allowed when fn is quantile");
    } else {
      a.Double("q", &spec.q, kAnyNumber);
    }
    a.Finish();
  });
}

constexpr Condition<Window> kHasSize{[](const Window& w) { return w.kind != WindowKind::kSession; },
                                     "kind", "tumbling or hopping"};
constexpr Condition<Window> kIsHopping{
    [](const Window& w) { return w.kind == WindowKind::kHopping; }, "kind", "hopping"};
constexpr Condition<Window> kIsSession{
    [](const Window& w) { return w.kind == WindowKind::kSession; }, "kind", "session"};
constexpr Condition<Window> kEmitsEarly{[](const Window& w) { return w.emit == EmitMode::kEarly; },
                                        "emit", "early"};

constexpr FieldSpec<Window> kWindowFields[] = {
    {"kind", EnumField<&Window::kind, kWindowKinds>},
    {"size_ms", IntField<&Window::size_ms>, {}, nullptr, &kHasSize},
    {"slide_ms", IntField<&Window::slide_ms>, {}, nullptr, &kIsHopping},
    {"gap_ms", IntField<&Window::gap_ms>, {}, nullptr, &kIsSession},
    {"time", EnumField<&Window::time, kTimeDomains>},
    {"max_out_of_orderness_ms", IntField<&Window::max_out_of_orderness_ms>},
    {"idle_timeout_ms", IntField<&Window::idle_timeout_ms>},
    {"allowed_lateness_ms", IntField<&Window::allowed_lateness_ms>},
    {"late_events", EnumField<&Window::late_events, kLateEventPolicies>},
    {"emit", EnumField<&Window::emit, kEmitModes>},
    {"early_every_events", IntField<&Window::early_every_events>, {}, nullptr, &kEmitsEarly},
    {"early_every_ms", IntField<&Window::early_every_ms>, {}, nullptr, &kEmitsEarly},
    {"aggregates", ReadAggregates},
    {"hll_precision", IntField<&Window::hll_precision>},
    {"quantile_k", IntField<&Window::quantile_k>},
};

constexpr FieldSpec<Hotspots> kHotspotFields[] = {
    {"window_size", IntField<&Hotspots::window_size>, "windowSize"},
    {"scan_radius", DoubleField<&Hotspots::scan_radius>, "scanRadius"},
    {"min_points", IntField<&Hotspots::min_points>, "minimumNumberOfPointsInAHotspot"},
    {"per_key", BoolField<&Hotspots::per_key>},
    {"alert_density", DoubleField<&Hotspots::alert_density>},
    {"max_dimensions", IntField<&Hotspots::max_dimensions>},
};

// Calls fn(field_table, member) with the field table of `kind` and the member of OperatorOptions
// it fills.
template <typename Fn>
void VisitSchema(OperatorKind kind, Fn&& fn) {
  switch (kind) {
    case OperatorKind::kBaseline:
      return fn(kBaselineFields, &OperatorOptions::baseline);
    case OperatorKind::kRcf:
      return fn(kRcfFields, &OperatorOptions::rcf);
    case OperatorKind::kWindow:
      return fn(kWindowFields, &OperatorOptions::window);
    case OperatorKind::kHotspots:
      return fn(kHotspotFields, &OperatorOptions::hotspots);
  }
}

// Reads every field of the table, under its canonical name or its alias; then rejects the keys
// given although their only_if condition does not hold.
template <typename O, size_t N>
void ReadFields(MapReader& m, const FieldSpec<O> (&fields)[N], O* out) {
  Context& ctx = m.ctx();
  std::set<std::string_view> invalid;  // keys whose value was reported
  for (const FieldSpec<O>& f : fields) {
    const size_t errors = ctx.error_count();
    const auto canonical = m.Get(f.key);
    const auto alias = f.alias.empty() ? std::nullopt : m.Get(f.alias);
    if (canonical && alias) {
      const Value& later = canonical->key_mark.pos > alias->key_mark.pos ? *canonical : *alias;
      ctx.Error(later.key_mark, later.path,
                "'" + std::string(f.alias) + "' and '" + std::string(f.key) +
                    "' are the same setting; give one");
    } else if (alias) {
      (f.read_alias != nullptr ? f.read_alias : f.read)(m, f.alias, out);
    } else {
      f.read(m, f.key, out);
    }
    if (ctx.error_count() != errors) invalid.insert(f.key);
  }
  // A condition on a setting whose value was invalid is not checked.
  for (const FieldSpec<O>& f : fields) {
    const Condition<O>* when = f.only_if;
    if (when == nullptr || invalid.count(f.key) != 0 || invalid.count(when->key) != 0 ||
        when->holds(*out)) {
      continue;
    }
    for (const std::string_view key : {f.key, f.alias}) {
      if (key.empty()) continue;
      if (auto v = m.Get(key)) {
        ctx.Error(
            v->mark, v->path,
            "only allowed when " + std::string(when->key) + " is " + std::string(when->value));
      }
    }
  }
}

// Checks after the fields were read, with the options structs' Validate() contract:
// InvalidArgument "field.path: problem". `input` is the pipeline's source when the operator is
// the first of its pipeline (its inputs are the source's value fields), else null.
Status CheckOperator(const Baseline& /*options*/, const SourceOptions* /*input*/) {
  return Status::Ok();  // the field ranges are all there is
}

Status CheckOperator(const Rcf& rcf, const SourceOptions* input) {
  if (rcf.forecast_horizon > 0 && rcf.shingle_size < 2) {
    return Status::InvalidArgument(
        "forecast_horizon: a forecast extrapolates the shingle, so it needs shingle_size >= 2, "
        "got shingle_size " + std::to_string(rcf.shingle_size));
  }
  if (input == nullptr) return Status::Ok();
  const size_t values = input->value_fields.size();
  const size_t dims = values * static_cast<size_t>(rcf.shingle_size);
  if (dims <= kMaxRcfDimensions) return Status::Ok();
  return Status::InvalidArgument(
      "shingle_size: input values x shingle_size must be <= " + std::to_string(kMaxRcfDimensions) +
      ", got " + std::to_string(values) + " x " + std::to_string(rcf.shingle_size) + " = " +
      std::to_string(dims));
}

Status CheckOperator(const Window& window, const SourceOptions* input) {
  OSPREY_RETURN_IF_ERROR(window.Validate());
  if (input == nullptr) return Status::Ok();
  const std::vector<std::string>& fields = input->value_fields;
  for (size_t idx = 0; idx < window.aggregates.size(); ++idx) {
    const std::string& field = window.aggregates[idx].field;
    if (field.empty() || std::find(fields.begin(), fields.end(), field) != fields.end()) continue;
    return Status::InvalidArgument("aggregates[" + std::to_string(idx) + "].field: '" + field +
                                   "' is not one of the value_fields of source '" + input->name +
                                   "'");
  }
  return Status::Ok();
}

Status CheckOperator(const Hotspots& hotspots, const SourceOptions* /*input*/) {
  return hotspots.Validate();
}

// Reports `message` ("field.path: problem", as from CheckOperator) at the value that the field
// path ("slide_ms", "aggregates[0].q") names in the operator map `m`, under the alias when the
// file used it. A field the file does not set is reported at the deepest part of its path that
// is set, at worst at the operator itself.
template <typename O, size_t N>
void ReportAtField(MapReader& m, const FieldSpec<O> (&fields)[N], std::string_view message) {
  const size_t colon = message.find(": ");
  if (colon == std::string_view::npos) {
    m.ctx().Error(m.value().mark, m.value().path, message);
    return;
  }
  const std::string_view field_path = message.substr(0, colon);
  const size_t top_end = std::min(field_path.find_first_of(".["), field_path.size());
  std::string top(field_path.substr(0, top_end));
  for (const FieldSpec<O>& f : fields) {
    if (f.key == top && !f.alias.empty() && !m.Get(f.key) && m.Get(f.alias)) top = f.alias;
  }
  std::string path = m.ChildPath(top);
  YAML::Mark mark = m.value().mark;
  // Never assigned: YAML::Node::operator= would write into the document (see Value).
  std::optional<YAML::Node> node;  // nullopt once a part of the path is not set
  if (auto v = m.Get(top)) {
    mark = v->mark;
    node.emplace(v->node);
  }
  std::string_view rest = field_path.substr(top_end);
  while (!rest.empty()) {
    const bool is_index = rest[0] == '[';
    const size_t close = rest.find(']');
    const size_t end = !is_index                         ? rest.find_first_of(".[", 1)
                       : close == std::string_view::npos ? rest.size()
                                                         : close + 1;
    const std::string_view part = rest.substr(0, end);
    rest.remove_prefix(part.size());
    path += part;
    std::optional<YAML::Node> child;
    if (node && is_index && node->IsSequence()) {
      size_t idx = 0;
      std::from_chars(part.data() + 1, part.data() + part.size() - 1, idx);
      if (idx < node->size()) child.emplace(std::as_const(*node)[idx]);
    } else if (node && !is_index && node->IsMap()) {
      const YAML::Node found = std::as_const(*node)[std::string(part.substr(1))];
      if (found.IsDefined()) child.emplace(found);
    }
    node.reset();
    if (!child) continue;
    if (!child->IsNull()) mark = child->Mark();
    node.emplace(*child);
  }
  m.ctx().Error(mark, path, message.substr(colon + 2));
}

// Reads the fields of an operator whose kind is known, then checks them as a whole. Problems
// that follow from an invalid field are not reported on top of it.
void ReadOperator(MapReader& m, OperatorOptions* op, const SourceOptions* input) {
  VisitSchema(op->kind, [&](const auto& fields, auto member) {
    auto& options = op->*member;
    const size_t errors = m.ctx().error_count();
    ReadFields(m, fields, &options);
    if (m.ctx().error_count() != errors) return;
    const Status status = CheckOperator(options, input);
    if (!status.ok()) ReportAtField(m, fields, status.message());
  });
}

// "unknown key 'k' for an operator of type 't'": plain for a key of another type, else with a
// "did you mean" hint or the list of the type's keys.
std::string UnknownOperatorKey(OperatorKind kind, const std::string& key,
                               const std::string* suggestion) {
  std::string message = "unknown key '" + key + "' for an operator of type '" +
                        std::string(internal::EnumToName(kOperatorKinds, kind)) + "'";
  bool other_type = false;
  for (const auto& type : kOperatorKinds) {
    VisitSchema(type.value, [&](const auto& fields, auto /*member*/) {
      for (const auto& f : fields) {
        other_type |= f.key == key || (!f.alias.empty() && f.alias == key);
      }
    });
  }
  if (other_type) return message;
  if (suggestion != nullptr) return message + " (did you mean '" + *suggestion + "'?)";
  message += " (expected one of: name";
  VisitSchema(kind, [&](const auto& fields, auto /*member*/) {
    for (const auto& f : fields) message.append(", ").append(f.key);
  });
  return message + ")";
}

void ReadPipeline(MapReader& m, const DaemonConfig& cfg, PipelineOptions* p,
                  std::vector<NameRef>* refs) {
  Context& ctx = m.ctx();
  const std::string owner = "pipeline '" + p->name + "'";
  ReadRef(m, "source", /*is_sink=*/false, owner, &p->source, refs);
  // The first operator sees the source's value fields (none when the source is in error).
  const SourceOptions* source = cfg.FindSource(p->source);
  if (source != nullptr && source->value_fields.empty()) source = nullptr;
  if (auto ops = m.Require("operators")) {
    std::set<std::string> names;
    const bool is_list = internal::ForEachElement(ctx, *ops, [&](const Value& element) {
      OperatorOptions& op = p->operators.emplace_back();
      const SourceOptions* input = p->operators.size() == 1 ? source : nullptr;
      op.location = ctx.Location(element.mark);
      MapReader o(ctx, element);
      if (!o.ok()) return;
      const bool kind_ok = o.Enum("type", &op.kind, kOperatorKinds, Need::kRequired);
      op.name = kind_ok ? std::string(internal::EnumToName(kOperatorKinds, op.kind)) : "";
      if (o.String("name", &op.name, Need::kNonEmpty) && kind_ok && !names.insert(op.name).second) {
        const Value where = o.Get("name").value_or(element);
        ctx.Error(where.mark, where.path, "duplicate operator name '" + op.name + "'");
      }
      if (!kind_ok) {
        o.Finish(/*check_unknown=*/false);
        return;
      }
      ReadOperator(o, &op, input);
      o.FinishWith([kind = op.kind](const std::string& key, const std::string* suggestion) {
        return UnknownOperatorKey(kind, key, suggestion);
      });
    });
    if (is_list && p->operators.empty()) ctx.Error(ops->mark, ops->path, "must not be empty");
  }
  Section(m, "history", [&](MapReader& h) {
    std::vector<Value> where;
    if (h.StringList("fields", &p->history.fields, Need::kRequired, &where) && source != nullptr) {
      for (size_t idx = 0; idx < p->history.fields.size(); ++idx) {
        const auto& fields = source->value_fields;
        if (std::find(fields.begin(), fields.end(), p->history.fields[idx]) == fields.end()) {
          ctx.Error(where[idx].mark, where[idx].path,
                    "'" + p->history.fields[idx] + "' is not a value field of source '" +
                        p->source + "'");
        }
      }
    }
    Section(h, "retention", [&](MapReader& r) {
      r.Int<int64_t>("max_age_ms", &p->history.max_age_ms, 0, 10LL * 366 * 24 * 3600 * 1000);
      r.Int<int64_t>("max_bytes", &p->history.max_bytes, 0, 16LL << 40);
    });
  });
  std::vector<Value> sink_where;
  if (m.StringList("sinks", &p->sinks, Need::kRequired, &sink_where)) {
    for (size_t idx = 0; idx < p->sinks.size(); ++idx) {
      refs->push_back(NameRef{/*is_sink=*/true, p->sinks[idx], sink_where[idx], owner});
    }
  }
}

// The secret of one token, from exactly one of value_env, value_file and value. Problems name
// the key, never the secret.
void ReadTokenSecret(MapReader& t, HttpTokenOptions* token) {
  Context& ctx = t.ctx();
  const std::optional<Value> env = t.Get("value_env");
  const std::optional<Value> file = t.Get("value_file");
  const std::optional<Value> literal = t.Get("value");
  const int given = (env ? 1 : 0) + (file ? 1 : 0) + (literal ? 1 : 0);
  if (given == 0) {
    t.ReportMissing("value_env", "a token needs one of value_env, value_file and value");
    return;
  }
  if (given > 1) {
    const Value& where = literal ? *literal : *file;
    ctx.Error(where.mark, where.path,
              "give exactly one of value_env, value_file and value for a token");
    return;
  }
  const Value& v = env ? *env : (file ? *file : *literal);
  std::string secret;
  if (env) {
    token->source = SecretSource::kEnv;
    auto name = internal::ReadString(ctx, v, /*non_empty=*/true);
    if (!name) return;
    std::optional<std::string> value = ctx.env().Get(*name);
    if (!value) {
      ctx.Error(v.mark, v.path, "environment variable " + *name + " is not set");
      return;
    }
    secret = std::move(*value);
  } else if (file) {
    token->source = SecretSource::kFile;
    auto path = internal::ReadString(ctx, v, /*non_empty=*/true);
    if (!path) return;
    std::FILE* f = std::fopen(path->c_str(), "rb");
    if (f == nullptr) {
      ctx.Error(v.mark, v.path,
                "cannot read '" + *path + "': " + std::generic_category().message(errno));
      return;
    }
    char buf[4096];
    size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0 && secret.size() < (1 << 16)) {
      secret.append(buf, n);
    }
    std::fclose(f);
    while (!secret.empty() && std::isspace(static_cast<unsigned char>(secret.back())) != 0) {
      secret.pop_back();
    }
  } else {
    token->source = SecretSource::kLiteral;
    auto value = internal::ReadString(ctx, v, /*non_empty=*/false);
    if (!value) return;
    secret = std::move(*value);
  }
  const std::string from = env ? "the environment variable" : (file ? "the file" : "the value");
  if (secret.empty()) {
    ctx.Error(v.mark, v.path, "the token is empty (" + from + " holds no secret)");
    return;
  }
  if (secret.size() < kMinTokenChars) {
    ctx.Error(v.mark, v.path,
              "the token is too short: use at least " + std::to_string(kMinTokenChars) +
                  " characters (e.g. `openssl rand -hex 32`)");
    return;
  }
  if (!std::all_of(secret.begin(), secret.end(), [](char c) { return c > ' ' && c < 127; })) {
    ctx.Error(v.mark, v.path,
              "the token must be visible ASCII characters only (no spaces or control "
              "characters): it is sent in an HTTP header");
    return;
  }
  token->value = std::move(secret);
}

void ReadHttpAuth(MapReader& a, HttpAuthOptions* auth) {
  auto tokens = a.Get("tokens");
  if (!tokens) return;
  Context& ctx = a.ctx();
  std::set<std::string> names;
  std::vector<Value> where;  // of each token read, for the duplicate-secret check
  internal::ForEachElement(ctx, *tokens, [&](const Value& element) {
    MapReader t(ctx, element);
    if (!t.ok()) return;
    HttpTokenOptions token;
    token.location = ctx.Location(element.mark);
    const size_t errors_before = ctx.error_count();
    if (t.String("name", &token.name, Need::kRequired) && !token.name.empty() &&
        !names.insert(token.name).second) {
      const Value v = *t.Get("name");
      ctx.Error(v.mark, v.path, "duplicate token name '" + token.name + "'");
    }
    t.Enum("role", &token.role, kHttpRoles, Need::kRequired);
    ReadTokenSecret(t, &token);
    t.Finish();
    if (ctx.error_count() != errors_before) return;
    for (size_t idx = 0; idx < auth->tokens.size(); ++idx) {
      if (auth->tokens[idx].value == token.value) {
        ctx.Error(element.mark, element.path,
                  "token '" + token.name + "' has the same secret as token '" +
                      auth->tokens[idx].name + "' (" + where[idx].path +
                      "): give each token its own");
        return;
      }
    }
    where.push_back(element);
    auth->tokens.push_back(std::move(token));
  });
}

// host:port, port 0..65535; the host may be a bracketed IPv6 address.
bool ValidListen(std::string_view listen) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == listen.size()) return false;
  const std::string_view host = listen.substr(0, colon);
  const std::string_view port = listen.substr(colon + 1);
  if (host.find(':') != std::string_view::npos && (host.front() != '[' || host.back() != ']')) {
    return false;
  }
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos) {
    return false;
  }
  return std::stoi(std::string(port)) <= 65535;
}

void ReadServices(MapReader& top, DaemonConfig* cfg) {
  Section(top, "http", [&](MapReader& h) {
    std::string listen = cfg->http.listen;
    if (h.String("listen", &listen)) {
      if (ValidListen(listen)) {
        cfg->http.listen = listen;
      } else {
        const Value v = *h.Get("listen");
        h.ctx().Error(v.mark, v.path,
                      "must be host:port with port in [0, 65535], got '" + listen + "'");
      }
    }
    h.Int("threads", &cfg->http.threads, 1, 64);
    Section(h, "auth", [&](MapReader& a) { ReadHttpAuth(a, &cfg->http.auth); });
    Section(h, "tls", [&](MapReader& t) {
      HttpTlsOptions& tls = cfg->http.tls;
      const bool has_cert = t.String("cert_file", &tls.cert_file, Need::kNonEmpty);
      const bool has_key = t.String("key_file", &tls.key_file, Need::kNonEmpty);
      t.Enum("min_version", &tls.min_version, kTlsVersions);
      if (has_cert && has_key && tls.cert_file.empty() != tls.key_file.empty()) {
        t.ReportMissing(tls.cert_file.empty() ? "cert_file" : "key_file",
                        "TLS needs both cert_file and key_file");
      }
    });
    Section(h, "limits", [&](MapReader& l) {
      HttpLimitOptions& limits = cfg->http.limits;
      l.Int<int64_t>("max_body_bytes", &limits.max_body_bytes, 1, int64_t{1} << 30);
      l.Int<int64_t>("header_timeout_ms", &limits.header_timeout_ms, 1, 3'600'000);
      l.Int<int64_t>("body_timeout_ms", &limits.body_timeout_ms, 1, 3'600'000);
      l.Int("max_connections", &limits.max_connections, 1, 1'000'000);
      l.Double("requests_per_second", &limits.requests_per_second, Range{0, 1e6});
      l.Int("burst", &limits.burst, 0, 1'000'000);
    });
  });
  Section(top, "state", [&](MapReader& s) {
    s.String("dir", &cfg->state.dir, Need::kNonEmpty);
    s.Int<int64_t>("checkpoint_interval_ms", &cfg->state.checkpoint_interval_ms, 10, 3'600'000);
    s.Int<int64_t>("block_cache_bytes", &cfg->state.block_cache_bytes, 1LL << 20, 64LL << 30);
    s.Int<int64_t>("write_buffer_bytes", &cfg->state.write_buffer_bytes, 64LL << 10, 4LL << 30);
    s.Bool("changelog", &cfg->state.changelog);
    s.String("changelog_prefix", &cfg->state.changelog_prefix, Need::kNonEmpty);
    s.Int<int64_t>("history_retention_interval_ms", &cfg->state.history_retention_interval_ms, 100,
                   86'400'000);
  });
  Section(top, "models", [&](MapReader& m) {
    m.String("registry_dir", &cfg->models.registry_dir);
    m.Int<int64_t>("poll_interval_ms", &cfg->models.poll_interval_ms, 0, 3'600'000);
    m.String("default_model", &cfg->models.default_model);
    m.Int("max_batch_rows", &cfg->models.max_batch_rows, 1, 1'000'000);
  });
  Section(top, "logging", [&](MapReader& l) {
    l.Enum("level", &cfg->logging.level, kLogLevels);
    l.Enum("format", &cfg->logging.format, kLogFormats);
  });
}

void ReadConfig(Context& ctx, const YAML::Node& root, DaemonConfig* cfg) {
  MapReader top(ctx, Value{root, root.Mark(), "", root.Mark()});
  if (!top.ok()) return;
  std::vector<NameRef> refs;
  ReadKafka(top, &cfg->kafka);
  ReadNamed(top, "sources", "source", &cfg->sources,
            [&](MapReader& m, SourceOptions& s) { ReadSource(m, &s, &refs); });
  ReadNamed(top, "sinks", "sink", &cfg->sinks,
            [&](MapReader& m, SinkOptions& s) { ReadSink(m, &s); });
  ReadNamed(top, "pipelines", "pipeline", &cfg->pipelines,
            [&](MapReader& m, PipelineOptions& p) { ReadPipeline(m, *cfg, &p, &refs); });
  ReadServices(top, cfg);
  top.Finish();
  for (const auto& ref : refs) {
    const bool found =
        ref.is_sink ? cfg->FindSink(ref.name) != nullptr : cfg->FindSource(ref.name) != nullptr;
    if (!found) {
      ctx.Error(ref.where.mark, ref.where.path,
                ref.owner + " names unknown " + (ref.is_sink ? "sink" : "source") + " '" +
                    ref.name + "'");
    }
  }
}

std::string Sha256Hex(std::string_view bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), md, &size, EVP_sha256(), nullptr) != 1) return "";
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int idx = 0; idx < size; ++idx) {
    out += kHex[md[idx] >> 4];
    out += kHex[md[idx] & 0xF];
  }
  return out;
}

}  // namespace

std::optional<std::string> ProcessEnvironment::Get(const std::string& name) const {
  const char* value = std::getenv(name.c_str());  // NOLINT(concurrency-mt-unsafe): read-only
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

std::optional<std::string> MapEnvironment::Get(const std::string& name) const {
  auto it = vars_.find(name);
  if (it == vars_.end()) return std::nullopt;
  return it->second;
}

Result<DaemonConfig> LoadConfigString(std::string_view yaml, const std::string& file_name,
                                      const Environment* env) {
  try {
    const ProcessEnvironment process_env;
    Context ctx(file_name, env != nullptr ? *env : process_env);
    std::vector<YAML::Node> docs;
    try {
      docs = YAML::LoadAll(std::string(yaml));
    } catch (const YAML::DeepRecursion& e) {  // its own message is "bad file"
      ctx.Error(e.mark, "yaml", "nested deeper than " + std::to_string(e.depth()) + " levels");
      return ctx.ToStatus();
    } catch (const YAML::ParserException& e) {
      ctx.Error(e.mark, "yaml", e.msg);  // "FILE:L:C: yaml: message"
      return ctx.ToStatus();
    }
    if (docs.empty() || (docs.size() == 1 && docs[0].IsNull())) {
      ctx.Error(YAML::Mark::null_mark(), "", "the file is empty");
      return ctx.ToStatus();
    }
    if (docs.size() > 1) ctx.Error(docs[1].Mark(), "", "expected a single YAML document");
    DaemonConfig cfg;
    ReadConfig(ctx, docs[0], &cfg);
    if (!ctx.ok()) return ctx.ToStatus();
    cfg.file = file_name;
    cfg.digest = Sha256Hex(yaml);
    return cfg;
  } catch (const std::exception& e) {
    return Status::Internal(file_name + ": unexpected error while loading: " + e.what());
  }
}

Result<DaemonConfig> LoadConfigFile(const std::string& path, const Environment* env) {
  std::string bytes;
  try {
    struct Closer {
      void operator()(std::FILE* f) const { std::fclose(f); }
    };
    errno = 0;
    std::unique_ptr<std::FILE, Closer> file(std::fopen(path.c_str(), "rb"));
    int error = file ? 0 : errno;
    char buf[1 << 16];
    while (error == 0) {  // -1 at end of file
      const size_t n = std::fread(buf, 1, sizeof(buf), file.get());
      bytes.append(buf, n);
      if (n < sizeof(buf)) error = std::ferror(file.get()) == 0 ? -1 : (errno != 0 ? errno : EIO);
    }
    if (error > 0) {
      return Status::IOError(path + ": cannot read: " + std::generic_category().message(error));
    }
  } catch (const std::exception& e) {
    return Status::IOError(path + ": cannot read: " + e.what());
  }
  return LoadConfigString(bytes, path, env);
}

}  // namespace osprey::config
