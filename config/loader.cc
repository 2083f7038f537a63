// The schema of the config file, on top of the strict readers in config/internal/yaml_reader.h.
#include "config/loader.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <limits>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <system_error>
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
constexpr EnumName<OperatorKind> kOperatorKinds[] = {{"baseline", OperatorKind::kBaseline}};
constexpr EnumName<LogLevel> kLogLevels[] = {{"trace", LogLevel::kTrace},
                                             {"debug", LogLevel::kDebug},
                                             {"info", LogLevel::kInfo},
                                             {"warn", LogLevel::kWarn},
                                             {"error", LogLevel::kError}};
constexpr EnumName<LogFormat> kLogFormats[] = {{"text", LogFormat::kText},
                                               {"json", LogFormat::kJson}};

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

void ReadBaseline(MapReader& m, BaselineDetectorOptions* b) {
  m.Double("half_life_events", &b->half_life_events, Range{1, 1e9});
  m.Int<int64_t>("warmup_events", &b->warmup_events, 1, 1'000'000'000);
  m.Double("alert_threshold", &b->alert_threshold, Range{0, 1e6, /*lo_open=*/true});
  m.Double("min_stddev", &b->min_stddev, Range{0, 1e6, /*lo_open=*/true});
}

void ReadPipeline(MapReader& m, PipelineOptions* p, std::vector<NameRef>* refs) {
  Context& ctx = m.ctx();
  const std::string owner = "pipeline '" + p->name + "'";
  ReadRef(m, "source", /*is_sink=*/false, owner, &p->source, refs);
  if (auto ops = m.Require("operators")) {
    std::set<std::string> names;
    const bool is_list = internal::ForEachElement(ctx, *ops, [&](const Value& element) {
      OperatorOptions& op = p->operators.emplace_back();
      op.location = ctx.Location(element.mark);
      MapReader o(ctx, element);
      if (!o.ok()) return;
      const bool kind_ok = o.Enum("type", &op.kind, kOperatorKinds, Need::kRequired);
      op.name = kind_ok ? std::string(internal::EnumToName(kOperatorKinds, op.kind)) : "";
      if (o.String("name", &op.name, Need::kNonEmpty) && kind_ok && !names.insert(op.name).second) {
        const Value where = o.Get("name").value_or(element);
        ctx.Error(where.mark, where.path, "duplicate operator name '" + op.name + "'");
      }
      if (kind_ok) {
        switch (op.kind) {
          case OperatorKind::kBaseline:
            ReadBaseline(o, &op.baseline);
            break;
        }
      }
      o.Finish(/*check_unknown=*/kind_ok);
    });
    if (is_list && p->operators.empty()) ctx.Error(ops->mark, ops->path, "must not be empty");
  }
  std::vector<Value> sink_where;
  if (m.StringList("sinks", &p->sinks, Need::kRequired, &sink_where)) {
    for (size_t idx = 0; idx < p->sinks.size(); ++idx) {
      refs->push_back(NameRef{/*is_sink=*/true, p->sinks[idx], sink_where[idx], owner});
    }
  }
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
    h.Int<int64_t>("max_body_bytes", &cfg->http.max_body_bytes, 1, int64_t{1} << 30);
    h.Int<int64_t>("read_timeout_ms", &cfg->http.read_timeout_ms, 1, 3'600'000);
    h.Int("max_connections", &cfg->http.max_connections, 1, 1'000'000);
    h.Int("threads", &cfg->http.threads, 1, 64);
  });
  Section(top, "state", [&](MapReader& s) {
    s.String("dir", &cfg->state.dir, Need::kNonEmpty);
    s.Int<int64_t>("checkpoint_interval_ms", &cfg->state.checkpoint_interval_ms, 10, 3'600'000);
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
            [&](MapReader& m, PipelineOptions& p) { ReadPipeline(m, &p, &refs); });
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
