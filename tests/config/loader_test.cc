// Tests of the strict YAML loader: every error class with its exact message, multi-error
// reporting, interpolation, a full round trip, and that every file in config/examples/ loads.
#include "config/loader.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "tests/testing/fake_clock.h"

namespace osprey::config {
namespace {

// A minimal valid config. Error tests change one line of it, so line numbers stay put:
constexpr std::string_view kMinimal = R"(kafka:
  embedded: {enabled: true}
sources:
  m:
    topics: [t]
    value_fields: [v]
    dead_letter: dlq
sinks:
  dlq: {topic: d}
pipelines:
  p:
    source: m
    operators: [{type: baseline}]
    sinks: [dlq]
)";

// `yaml` with the one occurrence of `from` replaced by `to`.
std::string Replace(std::string yaml, std::string_view from, std::string_view to) {
  const size_t pos = yaml.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  EXPECT_EQ(yaml.find(from, pos + 1), std::string::npos) << "ambiguous: " << from;
  if (pos != std::string::npos) yaml.replace(pos, from.size(), to);
  return yaml;
}

// kMinimal with the one occurrence of `from` replaced by `to`.
std::string With(std::string_view from, std::string_view to) {
  return Replace(std::string(kMinimal), from, to);
}

// kMinimal with the pipeline's operators given by `block`: list items from line 14 on, e.g.
// "      - type: rcf\n        shingle_size: 4\n".
std::string WithOperators(std::string_view block) {
  return With("    operators: [{type: baseline}]\n", "    operators:\n" + std::string(block));
}

// The error message of loading `yaml` as "t.yaml"; fails the test if it loads.
std::string Errors(const std::string& yaml, const Environment* env = nullptr) {
  MapEnvironment empty;
  auto result = LoadConfigString(yaml, "t.yaml", env != nullptr ? env : &empty);
  EXPECT_FALSE(result.ok()) << yaml;
  if (result.ok()) return "";
  EXPECT_EQ(result.status().code(), Status::Code::kInvalidArgument);
  return result.status().message();
}

DaemonConfig Load(const std::string& yaml, const Environment* env = nullptr) {
  MapEnvironment empty;
  auto result = LoadConfigString(yaml, "t.yaml", env != nullptr ? env : &empty);
  EXPECT_TRUE(result.ok()) << result.status().ToString() << "\n" << yaml;
  return result.ok() ? std::move(result).value() : DaemonConfig{};
}

TEST(LoaderTest, MinimalConfigGetsDefaultsAndLocations) {
  const DaemonConfig cfg = Load(std::string(kMinimal));
  EXPECT_EQ(cfg.file, "t.yaml");
  EXPECT_EQ(cfg.digest, "9ee1ac6227083febaebb9ab03c0245356afb87795f076640de644966b0f941f1");
  EXPECT_TRUE(cfg.kafka.embedded.enabled);
  EXPECT_EQ(cfg.kafka.embedded.brokers, 1);
  EXPECT_EQ(cfg.kafka.group_id, "ospreyd");
  EXPECT_EQ(cfg.kafka.commit_interval_ms, 1000);
  ASSERT_EQ(cfg.sources.size(), 1u);
  const SourceOptions& s = cfg.sources[0];
  EXPECT_EQ(s.name, "m");
  EXPECT_EQ(s.location.ToString(), "t.yaml:4:3");
  EXPECT_EQ(s.format, RecordFormat::kJson);
  EXPECT_EQ(s.timestamp_format, TimestampFormat::kKafka);
  EXPECT_EQ(s.timestamp_field, "");
  EXPECT_EQ(s.key_field, "");
  EXPECT_FALSE(s.demo.has_value());
  ASSERT_EQ(cfg.sinks.size(), 1u);
  EXPECT_EQ(cfg.sinks[0].location.ToString(), "t.yaml:9:3");
  EXPECT_EQ(cfg.sinks[0].kind, "kafka");
  EXPECT_EQ(cfg.sinks[0].select, SinkSelect::kAll);
  ASSERT_EQ(cfg.pipelines.size(), 1u);
  EXPECT_EQ(cfg.pipelines[0].location.ToString(), "t.yaml:11:3");
  ASSERT_EQ(cfg.pipelines[0].operators.size(), 1u);
  const OperatorOptions& op = cfg.pipelines[0].operators[0];
  EXPECT_EQ(op.name, "baseline");  // defaults to the type
  EXPECT_EQ(op.location.ToString(), "t.yaml:13:17");
  EXPECT_EQ(op.baseline.half_life_events, 100);
  EXPECT_EQ(cfg.http.listen, "0.0.0.0:8080");
  EXPECT_EQ(cfg.http.limits.max_body_bytes, 1 << 20);
  EXPECT_EQ(cfg.http.limits.requests_per_second, 0);  // unlimited
  EXPECT_FALSE(cfg.http.auth.enabled());
  EXPECT_FALSE(cfg.http.tls.enabled());
  EXPECT_EQ(cfg.state.dir, "./osprey-state");
  EXPECT_EQ(cfg.logging.level, LogLevel::kInfo);
  EXPECT_EQ(cfg.FindSink("dlq"), &cfg.sinks[0]);
}

TEST(LoaderTest, FullConfigRoundTripsEveryField) {
  const DaemonConfig cfg = Load(R"(kafka:
  bootstrap_servers: "b1:9092,b2:9092"
  group_id: g1
  commit_interval_ms: 2500
  properties: {session.timeout.ms: "6000", enable.idempotence: true, retries: 5}
  consumer_properties: {auto.offset.reset: earliest}
  producer_properties: {linger.ms: 5}
  embedded:
    enabled: false
    brokers: 3
    topics: [{name: a, partitions: 4}, {name: b}]
sources:
  json_src:
    topics: [t1, t2]
    format: json
    timestamp: {field: ts, format: iso8601}
    key_field: host
    value_fields: [cpu, mem]
    dead_letter: dlq
    demo: {rate_per_sec: 12.5, keys: 3, spike_probability: 0.25, level_shift_every: 0,
           burst_every: 7, burst_size: 9, max_records: 1000, seed: 18446744073709551615}
  csv_src:
    topics: [t3]
    format: csv
    csv: {columns: [when, k, x], delimiter: ";"}
    timestamp: {field: when, format: epoch_us}
    key_field: k
    value_fields: [x]
    dead_letter: dlq
    demo: {}
  kafka_ts:
    topics: [t4]
    timestamp: {format: kafka}
    value_fields: [y]
    dead_letter: dlq
sinks:
  out: {kind: kafka, topic: o, select: alerts}
  dlq: {topic: d}
pipelines:
  p1:
    source: json_src
    operators:
      - {type: baseline, name: z1, half_life_events: 50, warmup_events: 10,
         alert_threshold: 3.5, min_stddev: 1e-6}
      - type: baseline
    sinks: [out, dlq]
  p2:
    source: csv_src
    operators: [{type: baseline}]
    sinks: [out]
http: {listen: "[::1]:0", threads: 4, limits: {max_body_bytes: 2048, header_timeout_ms: 500,
       body_timeout_ms: 700, max_connections: 10, requests_per_second: 2.5, burst: 7}}
state: {dir: /var/lib/x, checkpoint_interval_ms: 20, block_cache_bytes: 134217728, write_buffer_bytes: 8388608,
        changelog: true, changelog_prefix: acme}
logging: {level: debug, format: json}
)");
  const KafkaOptions& k = cfg.kafka;
  EXPECT_EQ(k.bootstrap_servers, "b1:9092,b2:9092");
  EXPECT_EQ(k.group_id, "g1");
  EXPECT_EQ(k.commit_interval_ms, 2500);
  EXPECT_EQ(k.properties,
            (std::map<std::string, std::string>{
                {"session.timeout.ms", "6000"}, {"enable.idempotence", "true"}, {"retries", "5"}}));
  EXPECT_EQ(k.consumer_properties.at("auto.offset.reset"), "earliest");
  EXPECT_EQ(k.producer_properties.at("linger.ms"), "5");
  EXPECT_FALSE(k.embedded.enabled);
  EXPECT_EQ(k.embedded.brokers, 3);
  ASSERT_EQ(k.embedded.topics.size(), 2u);
  EXPECT_EQ(k.embedded.topics[0].name, "a");
  EXPECT_EQ(k.embedded.topics[0].partitions, 4);
  EXPECT_EQ(k.embedded.topics[1].name, "b");
  EXPECT_EQ(k.embedded.topics[1].partitions, 1);

  ASSERT_EQ(cfg.sources.size(), 3u);  // in file order
  const SourceOptions& j = cfg.sources[0];
  EXPECT_EQ(j.name, "json_src");
  EXPECT_EQ(j.topics, (std::vector<std::string>{"t1", "t2"}));
  EXPECT_EQ(j.format, RecordFormat::kJson);
  EXPECT_EQ(j.timestamp_field, "ts");
  EXPECT_EQ(j.timestamp_format, TimestampFormat::kIso8601);
  EXPECT_EQ(j.key_field, "host");
  EXPECT_EQ(j.value_fields, (std::vector<std::string>{"cpu", "mem"}));
  EXPECT_EQ(j.dead_letter, "dlq");
  ASSERT_TRUE(j.demo.has_value());
  EXPECT_EQ(j.demo->rate_per_sec, 12.5);
  EXPECT_EQ(j.demo->keys, 3);
  EXPECT_EQ(j.demo->spike_probability, 0.25);
  EXPECT_EQ(j.demo->level_shift_every, 0);
  EXPECT_EQ(j.demo->burst_every, 7);
  EXPECT_EQ(j.demo->burst_size, 9);
  EXPECT_EQ(j.demo->max_records, 1000);
  EXPECT_EQ(j.demo->seed, 18446744073709551615u);
  const SourceOptions& c = cfg.sources[1];
  EXPECT_EQ(c.format, RecordFormat::kCsv);
  EXPECT_EQ(c.csv_columns, (std::vector<std::string>{"when", "k", "x"}));
  EXPECT_EQ(c.csv_delimiter, ';');
  EXPECT_EQ(c.timestamp_format, TimestampFormat::kEpochMicros);
  ASSERT_TRUE(c.demo.has_value());  // `demo: {}` = all defaults
  EXPECT_EQ(c.demo->rate_per_sec, 200);
  EXPECT_EQ(c.demo->seed, 42u);
  EXPECT_EQ(cfg.sources[2].timestamp_format, TimestampFormat::kKafka);
  EXPECT_EQ(cfg.sources[2].timestamp_field, "");

  ASSERT_EQ(cfg.sinks.size(), 2u);
  EXPECT_EQ(cfg.sinks[0].name, "out");
  EXPECT_EQ(cfg.sinks[0].topic, "o");
  EXPECT_EQ(cfg.sinks[0].select, SinkSelect::kAlerts);

  ASSERT_EQ(cfg.pipelines.size(), 2u);
  const PipelineOptions& p = cfg.pipelines[0];
  EXPECT_EQ(p.source, "json_src");
  EXPECT_EQ(p.sinks, (std::vector<std::string>{"out", "dlq"}));
  ASSERT_EQ(p.operators.size(), 2u);
  EXPECT_EQ(p.operators[0].name, "z1");
  EXPECT_EQ(p.operators[0].kind, OperatorKind::kBaseline);
  EXPECT_EQ(p.operators[0].baseline.half_life_events, 50);
  EXPECT_EQ(p.operators[0].baseline.warmup_events, 10);
  EXPECT_EQ(p.operators[0].baseline.alert_threshold, 3.5);
  EXPECT_EQ(p.operators[0].baseline.min_stddev, 1e-6);
  EXPECT_EQ(p.operators[1].name, "baseline");
  EXPECT_EQ(p.operators[1].location.ToString(), "t.yaml:45:9");
  EXPECT_EQ(cfg.FindPipeline("p2")->source, "csv_src");

  EXPECT_EQ(cfg.http.listen, "[::1]:0");
  EXPECT_EQ(cfg.http.limits.max_body_bytes, 2048);
  EXPECT_EQ(cfg.http.limits.header_timeout_ms, 500);
  EXPECT_EQ(cfg.http.limits.body_timeout_ms, 700);
  EXPECT_EQ(cfg.http.limits.max_connections, 10);
  EXPECT_EQ(cfg.http.limits.requests_per_second, 2.5);
  EXPECT_EQ(cfg.http.limits.burst, 7);
  EXPECT_EQ(cfg.http.threads, 4);
  EXPECT_EQ(cfg.state.dir, "/var/lib/x");
  EXPECT_EQ(cfg.state.checkpoint_interval_ms, 20);
  EXPECT_EQ(cfg.state.block_cache_bytes, 134217728);
  EXPECT_EQ(cfg.state.write_buffer_bytes, 8388608);
  EXPECT_TRUE(cfg.state.changelog);
  EXPECT_EQ(cfg.state.changelog_prefix, "acme");
  EXPECT_EQ(cfg.logging.level, LogLevel::kDebug);
  EXPECT_EQ(cfg.logging.format, LogFormat::kJson);
}

TEST(LoaderTest, UnknownKeysAreErrorsWithSuggestion) {
  EXPECT_EQ(Errors(With("    topics: [t]", "    topcs: [t]")),
            "t.yaml:4:3: sources.m: missing required key 'topics'\n"
            "t.yaml:5:5: sources.m.topcs: unknown key 'topcs' (did you mean 'topics'?)");
  EXPECT_EQ(Errors(With("  dlq: {topic: d}", "  dlq: {topic: d, colour: red}")),
            "t.yaml:9:19: sinks.dlq.colour: unknown key 'colour'");
  EXPECT_EQ(Errors(std::string(kMinimal) + "loging: {level: info}\n"),
            "t.yaml:15:1: loging: unknown key 'loging' (did you mean 'logging'?)");
  // Keys are never interpolated.
  EXPECT_EQ(Errors(std::string(kMinimal) + "${X}: 1\n"), "t.yaml:15:1: ${X}: unknown key '${X}'");
}

TEST(LoaderTest, WrongTypesAreErrors) {
  EXPECT_EQ(Errors(With("topics: [t]", "topics: t")),
            "t.yaml:5:13: sources.m.topics: expected a list, got a scalar");
  EXPECT_EQ(Errors(With("{enabled: true}", "{enabled: true, brokers: abc}")),
            "t.yaml:2:38: kafka.embedded.brokers: expected an integer, got 'abc'");
  EXPECT_EQ(Errors(With("{enabled: true}", "{enabled: yes}")),
            "t.yaml:2:23: kafka.embedded.enabled: expected true or false, got 'yes'");
  EXPECT_EQ(Errors(std::string(kMinimal) + "http: []\n"),
            "t.yaml:15:7: http: expected a map, got a list");
  EXPECT_EQ(Errors(With("[{type: baseline}]", "{type: baseline}")),
            "t.yaml:13:16: pipelines.p.operators: expected a list, got a map");
  EXPECT_EQ(
      Errors(With("[{type: baseline}]", "[{type: baseline, alert_threshold: high}]")),
      "t.yaml:13:51: pipelines.p.operators[0].alert_threshold: expected a number, got 'high'");
  EXPECT_EQ(Errors(With("    value_fields: [v]\n", "    format: xml\n    value_fields: [v]\n")),
            "t.yaml:6:13: sources.m.format: expected one of json|csv, got 'xml'");
  EXPECT_EQ(Errors(With("    value_fields: [v]", "    value_fields:")),
            "t.yaml:6:5: sources.m.value_fields: expected a list, got null");
  EXPECT_EQ(Errors(With("    value_fields: [v]", "    value_fields: [[v], \"\"]")),
            "t.yaml:6:20: sources.m.value_fields[0]: expected a string, got a list\n"
            "t.yaml:6:25: sources.m.value_fields[1]: must not be empty");
  EXPECT_EQ(Errors(With("  embedded: {enabled: true}",
                        "  embedded: {enabled: true}\n  properties: {a: [1]}")),
            "t.yaml:3:19: kafka.properties.a: expected a string, number or boolean, got a list");
  EXPECT_EQ(Errors("- a\n- b\n"), "t.yaml:1:1: expected a map, got a list");
}

TEST(LoaderTest, OutOfRangeValuesAreErrors) {
  EXPECT_EQ(Errors(With("{enabled: true}", "{enabled: true, brokers: 0}")),
            "t.yaml:2:38: kafka.embedded.brokers: must be in [1, 16], got 0");
  EXPECT_EQ(Errors(With("{enabled: true}", "{enabled: true, commit_interval_ms: 1}")),
            "t.yaml:2:29: kafka.embedded.commit_interval_ms: unknown key 'commit_interval_ms'");
  EXPECT_EQ(Errors(With("  embedded: {enabled: true}",
                        "  embedded: {enabled: true}\n  commit_interval_ms: 99999999999999999999")),
            "t.yaml:3:23: kafka.commit_interval_ms: must be in [50, 600000], got "
            "99999999999999999999");
  EXPECT_EQ(Errors(With("    dead_letter: dlq",
                        "    dead_letter: dlq\n"
                        "    demo: {rate_per_sec: 0, level_shift_every: -1, seed: -1, keys: 0,\n"
                        "           spike_probability: 0.6}")),
            "t.yaml:8:26: sources.m.demo.rate_per_sec: must be in (0, 1000000], got 0\n"
            "t.yaml:8:48: sources.m.demo.level_shift_every: must be >= 0, got -1\n"
            "t.yaml:8:58: sources.m.demo.seed: expected a non-negative integer, got '-1'\n"
            "t.yaml:8:68: sources.m.demo.keys: must be in [1, 100000], got 0\n"
            "t.yaml:9:31: sources.m.demo.spike_probability: must be in [0, 0.5], got 0.6");
  EXPECT_EQ(Errors(With("[{type: baseline}]", "[{type: baseline, min_stddev: 0}]")),
            "t.yaml:13:46: pipelines.p.operators[0].min_stddev: must be in (0, 1000000], got 0");
  EXPECT_EQ(Errors(std::string(kMinimal) + "http: {listen: 'localhost:70000', threads: 65}\n"),
            "t.yaml:15:16: http.listen: must be host:port with port in [0, 65535], got "
            "'localhost:70000'\n"
            "t.yaml:15:44: http.threads: must be in [1, 64], got 65");
  EXPECT_EQ(Errors(std::string(kMinimal) + "http: {listen: '8080'}\n"),
            "t.yaml:15:16: http.listen: must be host:port with port in [0, 65535], got '8080'");
}

TEST(LoaderTest, MissingRequiredKeysAreReportedAtTheParent) {
  std::string no_pipelines(kMinimal.substr(0, kMinimal.find("pipelines:")));
  EXPECT_EQ(Errors(no_pipelines), "t.yaml:1:1: missing required key 'pipelines'");
  EXPECT_EQ(Errors(With("{topic: d}", "{select: all}")),
            "t.yaml:9:3: sinks.dlq: missing required key 'topic'");
  EXPECT_EQ(Errors(With("{type: baseline}", "{name: x}")),
            "t.yaml:13:17: pipelines.p.operators[0]: missing required key 'type'");
  EXPECT_EQ(Errors(With("  embedded: {enabled: true}", "  group_id: g")),
            "t.yaml:1:1: kafka: missing required key 'bootstrap_servers' (or set "
            "embedded.enabled: true)");
  EXPECT_EQ(Errors(With("kafka:\n  embedded: {enabled: true}\n", "")),
            "t.yaml:1:1: missing required key 'kafka' (it must set bootstrap_servers or "
            "embedded.enabled)");
  EXPECT_EQ(Errors(With("operators: [{type: baseline}]", "operators: []")),
            "t.yaml:13:16: pipelines.p.operators: must not be empty");
  EXPECT_EQ(Errors(With("sinks: [dlq]", "sinks: []")),
            "t.yaml:14:12: pipelines.p.sinks: must not be empty");
  EXPECT_EQ(Errors(With("pipelines:\n  p:\n    source: m\n    operators: [{type: baseline}]\n"
                        "    sinks: [dlq]\n",
                        "pipelines: {}\n")),
            "t.yaml:10:12: pipelines: must define at least one pipeline");
}

TEST(LoaderTest, DanglingNamesAreErrors) {
  EXPECT_EQ(Errors(With("sinks: [dlq]", "sinks: [dlq, alrts]")),
            "t.yaml:14:18: pipelines.p.sinks[1]: pipeline 'p' names unknown sink 'alrts'");
  EXPECT_EQ(Errors(With("source: m", "source: mm")),
            "t.yaml:12:13: pipelines.p.source: pipeline 'p' names unknown source 'mm'");
  EXPECT_EQ(Errors(With("dead_letter: dlq", "dead_letter: dl")),
            "t.yaml:7:18: sources.m.dead_letter: source 'm' names unknown sink 'dl'");
}

TEST(LoaderTest, DuplicatesAreErrors) {
  EXPECT_EQ(Errors(With("    dead_letter: dlq", "    dead_letter: dlq\n    topics: [u]")),
            "t.yaml:8:5: sources.m.topics: duplicate key 'topics' (first defined at 5:5)");
  EXPECT_EQ(Errors(With("  dlq: {topic: d}", "  dlq: {topic: d, topic: e}")),
            "t.yaml:9:19: sinks.dlq.topic: duplicate key 'topic' (first defined at 9:9)");
  EXPECT_EQ(Errors(With("  dlq: {topic: d}", "  dlq: {topic: d}\n  dlq: {topic: e}")),
            "t.yaml:10:3: sinks.dlq: duplicate key 'dlq' (first defined at 9:3)");
  EXPECT_EQ(Errors(With("value_fields: [v]", "value_fields: [v, w, v]")),
            "t.yaml:6:26: sources.m.value_fields[2]: duplicate entry 'v'");
  EXPECT_EQ(Errors(With("[{type: baseline}]", "[{type: baseline}, {type: baseline}]")),
            "t.yaml:13:35: pipelines.p.operators[1]: duplicate operator name 'baseline'");
  EXPECT_EQ(Errors(With("{enabled: true}", "{enabled: true, topics: [{name: a}, {name: a}]}")),
            "t.yaml:2:49: kafka.embedded.topics[1]: duplicate topic 'a'");
}

TEST(LoaderTest, SourceFieldRules) {
  // CSV needs a csv block, whose columns hold every field read.
  EXPECT_EQ(Errors(With("    value_fields: [v]", "    format: csv\n    value_fields: [v]")),
            "t.yaml:4:3: sources.m: missing required key 'csv' (format is csv)");
  EXPECT_EQ(Errors(With("    value_fields: [v]",
                        "    format: csv\n"
                        "    csv: {columns: [a, v], delimiter: '::'}\n"
                        "    timestamp: {field: ts}\n"
                        "    key_field: k\n"
                        "    value_fields: [v, w]")),
            "t.yaml:7:39: sources.m.csv.delimiter: must be exactly one character, got '::'\n"
            "t.yaml:8:24: sources.m.timestamp.field: 'ts' is not one of csv.columns\n"
            "t.yaml:9:16: sources.m.key_field: 'k' is not one of csv.columns\n"
            "t.yaml:10:23: sources.m.value_fields[1]: 'w' is not one of csv.columns");
  EXPECT_EQ(Errors(With("    value_fields: [v]", "    csv: {columns: [v]}\n    value_fields: [v]")),
            "t.yaml:6:10: sources.m.csv: only allowed when format is csv");
  // The Kafka timestamp takes no field; any other format needs one.
  EXPECT_EQ(Errors(With("    value_fields: [v]",
                        "    timestamp: {format: kafka, field: ts}\n    value_fields: [v]")),
            "t.yaml:6:39: sources.m.timestamp.field: must be absent when format is kafka");
  EXPECT_EQ(Errors(With("    value_fields: [v]",
                        "    timestamp: {format: epoch_s}\n    value_fields: [v]")),
            "t.yaml:6:5: sources.m.timestamp: missing required key 'field'");
  EXPECT_EQ(Errors(With("    value_fields: [v]",
                        "    timestamp: {field: ts, format: unix}\n    value_fields: [v]")),
            "t.yaml:6:36: sources.m.timestamp.format: expected one of "
            "kafka|epoch_ms|epoch_s|epoch_us|iso8601, got 'unix'");
}

TEST(LoaderTest, UnknownOperatorTypeDoesNotCascade) {
  EXPECT_EQ(Errors(With("[{type: baseline}]", "[{type: iforest, trees: 100}]")),
            "t.yaml:13:24: pipelines.p.operators[0].type: expected one of "
            "baseline|rcf|window|hotspots, got 'iforest'");
}

TEST(LoaderTest, RcfOperatorReadsEveryField) {
  const DaemonConfig cfg =
      Load(WithOperators("      - type: rcf\n"
                         "        name: forest\n"
                         "        number_of_trees: 100\n"
                         "        sample_size: 512\n"
                         "        shingle_size: 8\n"
                         "        time_decay: 0.001\n"
                         "        output_after: 32\n"
                         "        initial_accept_fraction: 0.25\n"
                         "        random_seed: 7\n"
                         "        transform: normalize_difference\n"
                         "        z_factor: 2.5\n"
                         "        absolute_threshold: 0.5\n"
                         "        alert_grade: 0.75\n"
                         "        idle_eviction_ms: 60000\n"
                         "        memory_budget_bytes: 1000000\n"
                         "        forecast_horizon: 12\n"
                         "      - {type: rcf, name: defaults}\n"));
  ASSERT_EQ(cfg.pipelines.size(), 1u);
  ASSERT_EQ(cfg.pipelines[0].operators.size(), 2u);
  const OperatorOptions& op = cfg.pipelines[0].operators[0];
  EXPECT_EQ(op.kind, OperatorKind::kRcf);
  EXPECT_EQ(op.name, "forest");
  EXPECT_EQ(op.location.ToString(), "t.yaml:14:9");
  const RcfOperatorOptions& r = op.rcf;
  EXPECT_EQ(r.number_of_trees, 100);
  EXPECT_EQ(r.sample_size, 512);
  EXPECT_EQ(r.shingle_size, 8);
  EXPECT_EQ(r.time_decay, 0.001);
  EXPECT_EQ(r.output_after, 32);
  EXPECT_EQ(r.initial_accept_fraction, 0.25);
  EXPECT_EQ(r.random_seed, 7u);
  EXPECT_EQ(r.transform, "normalize_difference");
  EXPECT_EQ(r.z_factor, 2.5);
  EXPECT_EQ(r.absolute_threshold, 0.5);
  EXPECT_EQ(r.alert_grade, 0.75);
  EXPECT_EQ(r.idle_eviction_ms, 60000);
  EXPECT_EQ(r.memory_budget_bytes, 1000000);
  EXPECT_EQ(r.forecast_horizon, 12);

  const RcfOperatorOptions& d = cfg.pipelines[0].operators[1].rcf;
  const RcfOperatorOptions defaults;
  EXPECT_EQ(d.number_of_trees, defaults.number_of_trees);
  EXPECT_EQ(d.sample_size, defaults.sample_size);
  EXPECT_EQ(d.shingle_size, 1);
  EXPECT_FALSE(d.time_decay.has_value());  // derived from sample_size by the operator
  EXPECT_FALSE(d.output_after.has_value());
  EXPECT_EQ(d.transform, "none");
  EXPECT_EQ(d.alert_grade, 0.5);
  EXPECT_EQ(d.forecast_horizon, 0);
}

TEST(LoaderTest, RcfForecastHorizonNeedsAShingle) {
  EXPECT_EQ(Errors(WithOperators("      - {type: rcf, forecast_horizon: 4}\n")),
            "t.yaml:14:39: pipelines.p.operators[0].forecast_horizon: a forecast extrapolates the "
            "shingle, so it needs shingle_size >= 2, got shingle_size 1");
  EXPECT_EQ(Errors(WithOperators("      - {type: rcf, shingle_size: 2, forecast_horizon: 1025}\n")),
            "t.yaml:14:56: pipelines.p.operators[0].forecast_horizon: must be in [0, 1024], got "
            "1025");
  Load(WithOperators("      - {type: rcf, shingle_size: 2, forecast_horizon: 1024}\n"));
}

TEST(LoaderTest, KinesisAliasesAreAccepted) {
  const DaemonConfig cfg = Load(WithOperators(
      "      - {type: rcf, numberOfTrees: 30, subSampleSize: 64, shingleSize: 2, timeDecay: 1000}\n"
      "      - {type: hotspots, windowSize: 200, scanRadius: 0.5,\n"
      "         minimumNumberOfPointsInAHotspot: 5}\n"));
  ASSERT_EQ(cfg.pipelines[0].operators.size(), 2u);
  const RcfOperatorOptions& r = cfg.pipelines[0].operators[0].rcf;
  EXPECT_EQ(r.number_of_trees, 30);
  EXPECT_EQ(r.sample_size, 64);
  EXPECT_EQ(r.shingle_size, 2);
  EXPECT_EQ(r.time_decay, 0.001);  // timeDecay is a record count N: time_decay = 1/N
  const HotspotOptions& h = cfg.pipelines[0].operators[1].hotspots;
  EXPECT_EQ(h.window_size, 200);
  EXPECT_EQ(h.scan_radius, 0.5);
  EXPECT_EQ(h.min_points, 5);

  EXPECT_EQ(Errors(WithOperators("      - {type: rcf, timeDecay: 0, subSampleSize: 2}\n")),
            "t.yaml:14:32: pipelines.p.operators[0].timeDecay: must be >= 1, got 0\n"
            "t.yaml:14:50: pipelines.p.operators[0].subSampleSize: must be in [4, 32767], got 2");
}

TEST(LoaderTest, AliasAndNameTogetherAreAnError) {
  // Reported at whichever of the two comes second.
  EXPECT_EQ(Errors(WithOperators("      - {type: rcf, number_of_trees: 10, numberOfTrees: 20}\n")),
            "t.yaml:14:42: pipelines.p.operators[0].numberOfTrees: 'numberOfTrees' and "
            "'number_of_trees' are the same setting; give one");
  EXPECT_EQ(Errors(WithOperators("      - type: hotspots\n"
                                 "        scanRadius: 1\n"
                                 "        scan_radius: 2\n"
                                 "        timeDecay: 5\n")),
            "t.yaml:16:9: pipelines.p.operators[0].scan_radius: 'scanRadius' and 'scan_radius' "
            "are the same setting; give one\n"
            "t.yaml:17:9: pipelines.p.operators[0].timeDecay: unknown key 'timeDecay' for an "
            "operator of type 'hotspots'");
}

TEST(LoaderTest, RcfRangeErrors) {
  EXPECT_EQ(Errors(WithOperators("      - type: rcf\n"
                                 "        number_of_trees: 0\n"
                                 "        sample_size: 3\n"
                                 "        shingle_size: 1025\n"
                                 "        time_decay: 1.5\n"
                                 "        output_after: 0\n"
                                 "        initial_accept_fraction: 0\n"
                                 "        random_seed: -1\n"
                                 "        transform: log\n"
                                 "        z_factor: 0.5\n"
                                 "        absolute_threshold: 101\n"
                                 "        alert_grade: 0\n"
                                 "        idle_eviction_ms: 10000000001\n"
                                 "        memory_budget_bytes: -1\n")),
            "t.yaml:15:26: pipelines.p.operators[0].number_of_trees: must be in [1, 1000], got 0\n"
            "t.yaml:16:22: pipelines.p.operators[0].sample_size: must be in [4, 32767], got 3\n"
            "t.yaml:17:23: pipelines.p.operators[0].shingle_size: must be in [1, 1024], got 1025\n"
            "t.yaml:18:21: pipelines.p.operators[0].time_decay: must be in [0, 1], got 1.5\n"
            "t.yaml:19:23: pipelines.p.operators[0].output_after: must be in [1, 1000000000000], "
            "got 0\n"
            "t.yaml:20:34: pipelines.p.operators[0].initial_accept_fraction: must be in (0, 1], "
            "got 0\n"
            "t.yaml:21:22: pipelines.p.operators[0].random_seed: expected a non-negative integer, "
            "got '-1'\n"
            "t.yaml:22:20: pipelines.p.operators[0].transform: expected one of "
            "none|normalize|difference|normalize_difference, got 'log'\n"
            "t.yaml:23:19: pipelines.p.operators[0].z_factor: must be in [1, 100], got 0.5\n"
            "t.yaml:24:29: pipelines.p.operators[0].absolute_threshold: must be in [0, 100], got "
            "101\n"
            "t.yaml:25:22: pipelines.p.operators[0].alert_grade: must be in (0, 1], got 0\n"
            "t.yaml:26:27: pipelines.p.operators[0].idle_eviction_ms: must be in [0, 10000000000], "
            "got 10000000001\n"
            "t.yaml:27:30: pipelines.p.operators[0].memory_budget_bytes: must be >= 0, got -1");
}

TEST(LoaderTest, RcfInputDimensionsAreBounded) {
  // 10 value fields x shingle_size 1001 = 10010 dimensions; the check needs the input's width,
  // known only for the first operator of the pipeline.
  const std::string wide = Replace(std::string(kMinimal), "value_fields: [v]",
                                   "value_fields: [a, b, c, d, e, f, g, h, i, j]");
  EXPECT_EQ(Errors(Replace(wide, "[{type: baseline}]", "[{type: rcf, shingle_size: 1001}]")),
            "t.yaml:13:43: pipelines.p.operators[0].shingle_size: input values x shingle_size "
            "must be <= 10000, got 10 x 1001 = 10010");
  EXPECT_EQ(Errors(Replace(wide, "[{type: baseline}]", "[{type: rcf, shingleSize: 1001}]")),
            "t.yaml:13:42: pipelines.p.operators[0].shingleSize: input values x shingle_size "
            "must be <= 10000, got 10 x 1001 = 10010");
  Load(Replace(wide, "[{type: baseline}]", "[{type: rcf, shingle_size: 1000}]"));
  Load(Replace(wide, "[{type: baseline}]", "[{type: baseline}, {type: rcf, shingle_size: 1001}]"));
}

TEST(LoaderTest, WindowOperatorReadsEveryField) {
  const DaemonConfig cfg = Load(WithOperators(
      "      - type: window\n"
      "        name: w\n"
      "        kind: hopping\n"
      "        size_ms: 60000\n"
      "        slide_ms: 15000\n"
      "        time: processing\n"
      "        max_out_of_orderness_ms: 1000\n"
      "        idle_timeout_ms: 0\n"
      "        allowed_lateness_ms: 30000\n"
      "        late_events: drop\n"
      "        emit: early\n"
      "        early_every_events: 100\n"
      "        early_every_ms: 500\n"
      "        hll_precision: 14\n"
      "        quantile_k: 400\n"
      "        aggregates:\n"
      "          - {fn: count}\n"
      "          - {fn: quantile, field: v, q: 0.99}\n"
      "          - {fn: distinct, field: v}\n"
      "      - {type: window, name: s, kind: session, gap_ms: 1000, aggregates: [{fn: mean, "
      "field: v_p99}]}\n"));
  ASSERT_EQ(cfg.pipelines[0].operators.size(), 2u);
  const OperatorOptions& op = cfg.pipelines[0].operators[0];
  EXPECT_EQ(op.kind, OperatorKind::kWindow);
  EXPECT_EQ(op.name, "w");
  const WindowOptions& w = op.window;
  EXPECT_EQ(w.kind, WindowKind::kHopping);
  EXPECT_EQ(w.size_ms, 60000);
  EXPECT_EQ(w.slide_ms, 15000);
  EXPECT_EQ(w.time, TimeDomain::kProcessing);
  EXPECT_EQ(w.max_out_of_orderness_ms, 1000);
  EXPECT_EQ(w.idle_timeout_ms, 0);
  EXPECT_EQ(w.allowed_lateness_ms, 30000);
  EXPECT_EQ(w.late_events, LateEventPolicy::kDrop);
  EXPECT_EQ(w.emit, EmitMode::kEarly);
  EXPECT_EQ(w.early_every_events, 100);
  EXPECT_EQ(w.early_every_ms, 500);
  EXPECT_EQ(w.hll_precision, 14);
  EXPECT_EQ(w.quantile_k, 400);
  ASSERT_EQ(w.aggregates.size(), 3u);
  EXPECT_EQ(w.aggregates[0].fn, AggregateFn::kCount);
  EXPECT_EQ(w.aggregates[0].field, "");
  EXPECT_EQ(w.aggregates[1].fn, AggregateFn::kQuantile);
  EXPECT_EQ(w.aggregates[1].field, "v");
  EXPECT_EQ(w.aggregates[1].q, 0.99);
  EXPECT_EQ(w.aggregates[1].OutputName(), "v_p99");
  EXPECT_EQ(w.aggregates[2].fn, AggregateFn::kDistinctCount);

  // A later operator reads the window's outputs, so its fields are not checked against the
  // source's.
  const WindowOptions& s = cfg.pipelines[0].operators[1].window;
  EXPECT_EQ(s.kind, WindowKind::kSession);
  EXPECT_EQ(s.gap_ms, 1000);
  EXPECT_EQ(s.time, TimeDomain::kEvent);
  EXPECT_EQ(s.late_events, LateEventPolicy::kDeadLetter);
  EXPECT_EQ(s.emit, EmitMode::kOnClose);
  ASSERT_EQ(s.aggregates.size(), 1u);
  EXPECT_EQ(s.aggregates[0].field, "v_p99");
}

TEST(LoaderTest, AggregateNamesAreThoseOfAggregateFnName) {
  const std::vector<std::string> names = {"count", "sum",      "mean",    "min",
                                          "max",   "variance", "stddev",  "first",
                                          "last",  "distinct", "quantile"};
  std::string aggregates;
  for (const auto& name : names) {
    aggregates += (aggregates.empty() ? "{fn: " : ", {fn: ") + name + ", field: v}";
  }
  const DaemonConfig cfg =
      Load(With("[{type: baseline}]", "[{type: window, aggregates: [" + aggregates + "]}]"));
  const std::vector<AggregateSpec>& specs = cfg.pipelines[0].operators[0].window.aggregates;
  ASSERT_EQ(specs.size(), names.size());
  for (size_t idx = 0; idx < names.size(); ++idx) {
    EXPECT_EQ(AggregateFnName(specs[idx].fn), names[idx]);
  }
  EXPECT_EQ(Errors(With("[{type: baseline}]", "[{type: window, aggregates: [{fn: avg}]}]")),
            "t.yaml:13:50: pipelines.p.operators[0].aggregates[0].fn: expected one of "
            "count|sum|mean|min|max|variance|stddev|first|last|distinct|quantile, got 'avg'");
}

TEST(LoaderTest, WindowValidationIsReportedAtTheField) {
  // Validate()'s bounds, at the value they are about, with the key path.
  auto window = [](std::string_view fields) {
    return Errors(WithOperators("      - {type: window, " + std::string(fields) + "}\n"));
  };
  EXPECT_EQ(window("aggregates: [{fn: quantile, field: v, q: 1.5}]"),
            "t.yaml:14:65: pipelines.p.operators[0].aggregates[0].q: must be in [0, 1]");
  EXPECT_EQ(window("kind: hopping, size_ms: 1000, slide_ms: 2000, aggregates: [{fn: count}]"),
            "t.yaml:14:64: pipelines.p.operators[0].slide_ms: must be in 1..size_ms");
  EXPECT_EQ(window("size_ms: 0, aggregates: [{fn: count}]"),
            "t.yaml:14:33: pipelines.p.operators[0].size_ms: must be in 1..2592000000 (30 days)");
  EXPECT_EQ(window("emit: early, aggregates: [{fn: count}]"),
            "t.yaml:14:30: pipelines.p.operators[0].emit: early needs early_every_events or "
            "early_every_ms > 0");
  EXPECT_EQ(window("aggregates: [{fn: max, field: v}, {fn: max, field: v}]"),
            "t.yaml:14:58: pipelines.p.operators[0].aggregates[1]: duplicate output 'v_max'");
  // Not set at all: at the deepest part of the path that is, at worst the operator.
  EXPECT_EQ(window("aggregates: [{fn: mean}]"),
            "t.yaml:14:37: pipelines.p.operators[0].aggregates[0].field: required for mean");
  EXPECT_EQ(window("kind: tumbling"),
            "t.yaml:14:9: pipelines.p.operators[0].aggregates: at least one is required");
  // The first operator reads the source's value fields.
  EXPECT_EQ(window("aggregates: [{fn: count}, {fn: max, field: cpu}]"),
            "t.yaml:14:67: pipelines.p.operators[0].aggregates[1].field: 'cpu' is not one of the "
            "value_fields of source 'm'");
  // The path of a later operator.
  EXPECT_EQ(Errors(WithOperators("      - type: baseline\n"
                                 "      - type: window\n"
                                 "        aggregates:\n"
                                 "          - {fn: quantile, field: cpu, q: -0.5}\n")),
            "t.yaml:17:43: pipelines.p.operators[1].aggregates[0].q: must be in [0, 1]");
}

TEST(LoaderTest, WindowKeysMustMatchTheirMode) {
  EXPECT_EQ(
      Errors(WithOperators("      - type: window\n"
                           "        slide_ms: 1000\n"
                           "        gap_ms: 1000\n"
                           "        early_every_ms: 100\n"
                           "        aggregates: [{fn: count}, {fn: mean, field: v, q: 0.5}]\n")),
      "t.yaml:15:19: pipelines.p.operators[0].slide_ms: only allowed when kind is hopping\n"
      "t.yaml:16:17: pipelines.p.operators[0].gap_ms: only allowed when kind is session\n"
      "t.yaml:17:25: pipelines.p.operators[0].early_every_ms: only allowed when emit is "
      "early\n"
      "t.yaml:18:59: pipelines.p.operators[0].aggregates[1].q: only allowed when fn is "
      "quantile");
  // Not checked against a kind that is itself invalid.
  EXPECT_EQ(Errors(WithOperators("      - {type: window, kind: sliding, slide_ms: 5, "
                                 "aggregates: [{fn: count}]}\n")),
            "t.yaml:14:30: pipelines.p.operators[0].kind: expected one of "
            "tumbling|hopping|session, got 'sliding'");
  EXPECT_EQ(Errors(WithOperators("      - {type: window, kind: session, size_ms: 5, "
                                 "aggregates: [{fn: count}]}\n")),
            "t.yaml:14:48: pipelines.p.operators[0].size_ms: only allowed when kind is tumbling "
            "or hopping");
  EXPECT_EQ(Errors(WithOperators("      - {type: window, aggregates: [{field: v}, {fn: count, "
                                 "fiel: v}], size_ms: 1m}\n")),
            "t.yaml:14:37: pipelines.p.operators[0].aggregates[0]: missing required key 'fn'\n"
            "t.yaml:14:61: pipelines.p.operators[0].aggregates[1].fiel: unknown key 'fiel' (did "
            "you mean 'field'?)\n"
            "t.yaml:14:81: pipelines.p.operators[0].size_ms: expected an integer, got '1m'");
}

TEST(LoaderTest, HotspotsOperatorReadsEveryFieldAndValidates) {
  const DaemonConfig cfg = Load(WithOperators(
      "      - {type: hotspots, name: h, window_size: 200, scan_radius: 0.5, min_points: 5,\n"
      "         per_key: true, alert_density: 3.5, max_dimensions: 2}\n"
      "      - {type: hotspots}\n"));
  ASSERT_EQ(cfg.pipelines[0].operators.size(), 2u);
  const OperatorOptions& op = cfg.pipelines[0].operators[0];
  EXPECT_EQ(op.kind, OperatorKind::kHotspots);
  EXPECT_EQ(op.name, "h");
  EXPECT_EQ(op.hotspots.window_size, 200);
  EXPECT_EQ(op.hotspots.scan_radius, 0.5);
  EXPECT_EQ(op.hotspots.min_points, 5);
  EXPECT_TRUE(op.hotspots.per_key);
  EXPECT_EQ(op.hotspots.alert_density, 3.5);
  EXPECT_EQ(op.hotspots.max_dimensions, 2);
  EXPECT_EQ(cfg.pipelines[0].operators[1].name, "hotspots");
  EXPECT_EQ(cfg.pipelines[0].operators[1].hotspots.window_size, 1000);

  auto hotspots = [](std::string_view fields) {
    return Errors(WithOperators("      - {type: hotspots, " + std::string(fields) + "}\n"));
  };
  EXPECT_EQ(hotspots("window_size: 50"),
            "t.yaml:14:39: pipelines.p.operators[0].window_size: must be in 100..1000");
  EXPECT_EQ(hotspots("scan_radius: 0"),
            "t.yaml:14:39: pipelines.p.operators[0].scan_radius: must be finite and > 0");
  // Under the alias the file used.
  EXPECT_EQ(hotspots("windowSize: 100, minimumNumberOfPointsInAHotspot: 101"),
            "t.yaml:14:76: pipelines.p.operators[0].minimumNumberOfPointsInAHotspot: must be in "
            "2..window_size");
  EXPECT_EQ(hotspots("per_key: sometimes"),
            "t.yaml:14:35: pipelines.p.operators[0].per_key: expected true or false, got "
            "'sometimes'");
}

TEST(LoaderTest, UnknownOperatorKeysNameTheType) {
  // A key of another operator type.
  EXPECT_EQ(Errors(With("[{type: baseline}]",
                        "[{type: window, sample_size: 5, aggregates: [{fn: count}]}]")),
            "t.yaml:13:32: pipelines.p.operators[0].sample_size: unknown key 'sample_size' for an "
            "operator of type 'window'");
  EXPECT_EQ(Errors(With("[{type: baseline}]", "[{type: hotspots, numberOfTrees: 5}]")),
            "t.yaml:13:34: pipelines.p.operators[0].numberOfTrees: unknown key 'numberOfTrees' "
            "for an operator of type 'hotspots'");
  // A typo of one of the type's keys.
  EXPECT_EQ(Errors(With("[{type: baseline}]", "[{type: rcf, shingle_sise: 4}]")),
            "t.yaml:13:29: pipelines.p.operators[0].shingle_sise: unknown key 'shingle_sise' for "
            "an operator of type 'rcf' (did you mean 'shingle_size'?)");
  // Anything else lists the type's keys, and only those.
  EXPECT_EQ(Errors(With("[{type: baseline}]", "[{type: baseline, colour: red}]")),
            "t.yaml:13:34: pipelines.p.operators[0].colour: unknown key 'colour' for an operator "
            "of type 'baseline' (expected one of: name, half_life_events, warmup_events, "
            "alert_threshold, min_stddev)");
  EXPECT_EQ(Errors(With("[{type: baseline}]", "[{type: hotspots, colour: red}]")),
            "t.yaml:13:34: pipelines.p.operators[0].colour: unknown key 'colour' for an operator "
            "of type 'hotspots' (expected one of: name, window_size, scan_radius, min_points, "
            "per_key, alert_density, max_dimensions)");
  EXPECT_EQ(Errors(With("[{type: baseline}]", "[{type: rcf, trees: 100}]")),
            "t.yaml:13:29: pipelines.p.operators[0].trees: unknown key 'trees' for an operator of "
            "type 'rcf' (expected one of: name, number_of_trees, sample_size, shingle_size, "
            "time_decay, output_after, initial_accept_fraction, random_seed, transform, z_factor, "
            "absolute_threshold, alert_grade, idle_eviction_ms, memory_budget_bytes, "
            "forecast_horizon)");
  EXPECT_EQ(Errors(With("[{type: baseline}]", "[{type: window, aggregates: [{fn: count}], x: 1}]")),
            "t.yaml:13:59: pipelines.p.operators[0].x: unknown key 'x' for an operator of type "
            "'window' (expected one of: name, kind, size_ms, slide_ms, gap_ms, time, "
            "max_out_of_orderness_ms, idle_timeout_ms, allowed_lateness_ms, late_events, emit, "
            "early_every_events, early_every_ms, aggregates, hll_precision, quantile_k)");
}

TEST(LoaderTest, EmptyFileIsAnError) {
  EXPECT_EQ(Errors(""), "t.yaml:1:1: the file is empty");
  EXPECT_EQ(Errors("# only a comment\n"), "t.yaml:1:1: the file is empty");
  EXPECT_EQ(Errors(std::string(kMinimal) + "---\nx: 1\n"),
            "t.yaml:16:1: expected a single YAML document");
}

TEST(LoaderTest, YamlSyntaxErrorsCarryPosition) {
  EXPECT_EQ(Errors("a: [1\nb: 2\n"), "t.yaml:2:2: yaml: end of sequence flow not found");
  EXPECT_EQ(Errors("kafka: a: b\n"), "t.yaml:1:9: yaml: illegal map value");
}

TEST(LoaderTest, PathologicalInputIsAnErrorNotACrash) {
  const std::string deep = Errors("sources: " + std::string(5000, '['));
  EXPECT_EQ(deep.rfind("t.yaml:1:", 0), 0u) << deep;
  EXPECT_NE(deep.find(": yaml: nested "), std::string::npos) << deep;
  EXPECT_EQ(Errors(std::string("\0\xff\xfe", 3)).rfind("t.yaml:", 0), 0u);
}

TEST(LoaderTest, ReportsAllErrorsSortedByLine) {
  const std::string yaml = R"(kafka:
  bootstrap_servers: ""
  commit_interval_ms: 10
sources:
  m:
    topcs: [t]
    value_fields: [v]
    dead_letter: nowhere
sinks:
  dlq: {topic: d, select: some}
pipelines:
  p:
    source: m
    operators: [{type: baseline, warmup_events: 0}]
    sinks: [dlq, missing]
state: {dir: '${STATE_DIR}'}
logging: {level: loud}
)";
  EXPECT_EQ(Errors(yaml),
            "t.yaml:2:22: kafka.bootstrap_servers: must not be empty\n"
            "t.yaml:3:23: kafka.commit_interval_ms: must be in [50, 600000], got 10\n"
            "t.yaml:5:3: sources.m: missing required key 'topics'\n"
            "t.yaml:6:5: sources.m.topcs: unknown key 'topcs' (did you mean 'topics'?)\n"
            "t.yaml:8:18: sources.m.dead_letter: source 'm' names unknown sink 'nowhere'\n"
            "t.yaml:10:27: sinks.dlq.select: expected one of all|alerts, got 'some'\n"
            "t.yaml:14:49: pipelines.p.operators[0].warmup_events: must be in [1, 1000000000], "
            "got 0\n"
            "t.yaml:15:18: pipelines.p.sinks[1]: pipeline 'p' names unknown sink 'missing'\n"
            "t.yaml:16:14: state.dir: ${STATE_DIR}: environment variable not set\n"
            "t.yaml:17:18: logging.level: expected one of trace|debug|info|warn|error, got "
            "'loud'");
}

// Loads kMinimal with the source's topic set to `value`; returns the topic or the error.
std::string Topic(const std::string& value, const MapEnvironment& env) {
  auto result = LoadConfigString(With("topics: [t]", "topics: [" + value + "]"), "t.yaml", &env);
  return result.ok() ? result->sources[0].topics[0] : result.status().message();
}

TEST(LoaderTest, InterpolatesEnvironmentVariables) {
  const MapEnvironment env({{"TOPIC", "metrics"}, {"EMPTY", ""}, {"PORT", "9000"}});
  EXPECT_EQ(Topic("'${TOPIC}'", env), "metrics");
  EXPECT_EQ(Topic("'pre.${TOPIC}.${TOPIC}'", env), "pre.metrics.metrics");
  EXPECT_EQ(Topic("'${UNSET:-fallback}'", env), "fallback");
  EXPECT_EQ(Topic("'${EMPTY:-fallback}'", env), "fallback");  // empty counts as unset, as in POSIX
  EXPECT_EQ(Topic("'${TOPIC:-fallback}'", env), "metrics");
  EXPECT_EQ(Topic("'${UNSET:-a:b-c}'", env), "a:b-c");
  EXPECT_EQ(Topic("'${TOPIC:?needed}'", env), "metrics");
  EXPECT_EQ(Topic("'cost$$5 $x $'", env), "cost$5 $x $");
  EXPECT_EQ(Topic("'$${TOPIC}'", env), "${TOPIC}");
  EXPECT_EQ(Topic("\"${EMPTY}x\"", env), "x");  // set but empty is fine without a default

  EXPECT_EQ(Topic("'${UNSET}'", env),
            "t.yaml:5:14: sources.m.topics[0]: ${UNSET}: environment variable not set");
  EXPECT_EQ(Topic("'${UNSET:?set UNSET to a topic name}'", env),
            "t.yaml:5:14: sources.m.topics[0]: ${UNSET}: set UNSET to a topic name");
  EXPECT_EQ(Topic("'${EMPTY:?}'", env),
            "t.yaml:5:14: sources.m.topics[0]: ${EMPTY}: not set or empty");
  EXPECT_EQ(Topic("'${TOPIC'", env),
            "t.yaml:5:14: sources.m.topics[0]: unterminated '${' in '${TOPIC'");
  EXPECT_EQ(Topic("'${1X}'", env),
            "t.yaml:5:14: sources.m.topics[0]: invalid reference '${1X}' (expected ${VAR}, "
            "${VAR:-default} or ${VAR:?message})");
  EXPECT_EQ(Topic("'${X-y}'", env),
            "t.yaml:5:14: sources.m.topics[0]: invalid reference '${X-y}' (expected ${VAR}, "
            "${VAR:-default} or ${VAR:?message})");

  // Interpolation happens before type conversion.
  const DaemonConfig cfg = Load(std::string(kMinimal) +
                                    "http:\n"
                                    "  listen: ${HOST:-127.0.0.1}:${PORT:-8080}\n"
                                    "  threads: ${THREADS:-3}\n"
                                    "  limits: {max_connections: '${PORT}'}\n",
                                &env);
  EXPECT_EQ(cfg.http.listen, "127.0.0.1:9000");
  EXPECT_EQ(cfg.http.threads, 3);
  EXPECT_EQ(cfg.http.limits.max_connections, 9000);
  MapEnvironment bad_threads;
  bad_threads.Set("THREADS", "many");
  EXPECT_EQ(Errors(std::string(kMinimal) + "http: {threads: '${THREADS}'}\n", &bad_threads),
            "t.yaml:15:17: http.threads: expected an integer, got 'many'");
}

TEST(LoaderTest, HttpTokensTlsAndLimits) {
  const std::string dir = ::testing::TempDir();
  const std::string secret_file = dir + "/osprey-admin-token";
  std::ofstream(secret_file) << "admin-secret-0123456789abcdef\n";  // trailing newline dropped
  MapEnvironment env;
  env.Set("CI_TOKEN", "read-secret-0123456789abcdef");
  const DaemonConfig cfg =
      Load(std::string(kMinimal) +
               "http:\n"
               "  auth:\n"
               "    tokens:\n"
               "      - {name: ci, role: read, value_env: CI_TOKEN}\n"
               "      - {name: ops, role: admin, value_file: " +
               secret_file +
               "}\n"
               "      - {name: dev, role: read, value: dev-secret-0123456789}\n"
               "  tls: {cert_file: /etc/osprey/cert.pem, key_file: k.pem, "
               "min_version: '1.3'}\n"
               "  limits: {requests_per_second: 0.5}\n",
           &env);
  const HttpAuthOptions& auth = cfg.http.auth;
  ASSERT_EQ(auth.tokens.size(), 3u);
  EXPECT_TRUE(auth.enabled());
  EXPECT_EQ(auth.tokens[0].name, "ci");
  EXPECT_EQ(auth.tokens[0].role, HttpRole::kRead);
  EXPECT_EQ(auth.tokens[0].value, "read-secret-0123456789abcdef");
  EXPECT_EQ(auth.tokens[0].source, SecretSource::kEnv);
  EXPECT_EQ(auth.tokens[0].location.ToString(), "t.yaml:18:9");
  EXPECT_EQ(auth.tokens[1].role, HttpRole::kAdmin);
  EXPECT_EQ(auth.tokens[1].value, "admin-secret-0123456789abcdef");
  EXPECT_EQ(auth.tokens[1].source, SecretSource::kFile);
  EXPECT_EQ(auth.tokens[2].value, "dev-secret-0123456789");
  EXPECT_EQ(auth.tokens[2].source, SecretSource::kLiteral);
  EXPECT_TRUE(cfg.http.tls.enabled());
  EXPECT_EQ(cfg.http.tls.cert_file, "/etc/osprey/cert.pem");
  EXPECT_EQ(cfg.http.tls.key_file, "k.pem");
  EXPECT_EQ(cfg.http.tls.min_version, TlsVersion::kTls13);
  EXPECT_EQ(cfg.http.limits.EffectiveBurst(), 1);  // a fractional rate still allows one request

  // Problems name the key and never echo a secret.
  auto tokens = [](const std::string& items) {
    return std::string(kMinimal) + "http:\n  auth:\n    tokens:\n" + items;
  };
  MapEnvironment short_env;
  short_env.Set("EMPTY", "");
  short_env.Set("SHORT", "abc");
  short_env.Set("SPACE", "has a space in the middle");
  short_env.Set("SAME", "the-same-secret-twice-0123");
  short_env.Set("OTHER", "another-secret-0123456789");
  EXPECT_EQ(Errors(tokens("      - {name: a, role: read, value_env: MISSING}\n"), &short_env),
            "t.yaml:18:42: http.auth.tokens[0].value_env: environment variable MISSING is not "
            "set");
  EXPECT_EQ(Errors(tokens("      - {name: a, role: read, value_env: EMPTY}\n"), &short_env),
            "t.yaml:18:42: http.auth.tokens[0].value_env: the token is empty (the environment "
            "variable holds no secret)");
  EXPECT_EQ(Errors(tokens("      - {name: a, role: read, value_env: SHORT}\n"), &short_env),
            "t.yaml:18:42: http.auth.tokens[0].value_env: the token is too short: use at least 16 "
            "characters (e.g. `openssl rand -hex 32`)");
  const std::string space_error =
      Errors(tokens("      - {name: a, role: read, value_env: SPACE}\n"), &short_env);
  EXPECT_NE(space_error.find("visible ASCII"), std::string::npos) << space_error;
  EXPECT_EQ(space_error.find("has a space"), std::string::npos) << space_error;
  EXPECT_EQ(
      Errors(tokens("      - {name: a, role: read, value_file: " + dir + "/no-such-token-file}\n")),
      "t.yaml:18:43: http.auth.tokens[0].value_file: cannot read '" + dir +
          "/no-such-token-file': No such file or directory");
  EXPECT_EQ(Errors(tokens("      - {name: a, role: read}\n")),
            "t.yaml:18:9: http.auth.tokens[0]: missing required key 'value_env' (a token needs "
            "one of value_env, value_file and value)");
  EXPECT_EQ(
      Errors(tokens("      - {name: a, role: read, value_env: SAME, value: x}\n"), &short_env),
      "t.yaml:18:55: http.auth.tokens[0].value: give exactly one of value_env, value_file "
      "and value for a token");
  EXPECT_EQ(Errors(tokens("      - {name: a, role: root, value_env: SAME}\n"), &short_env),
            "t.yaml:18:25: http.auth.tokens[0].role: expected one of read|admin, got 'root'");
  const std::string twice = Errors(tokens("      - {name: a, role: read, value_env: SAME}\n"
                                          "      - {name: b, role: admin, value_env: SAME}\n"),
                                   &short_env);
  EXPECT_EQ(twice,
            "t.yaml:19:9: http.auth.tokens[1]: token 'b' has the same secret as token 'a' "
            "(http.auth.tokens[0]): give each token its own");
  EXPECT_EQ(Errors(tokens("      - {name: a, role: read, value_env: SAME}\n"
                          "      - {name: a, role: read, value_env: OTHER}\n"),
                   &short_env),
            "t.yaml:19:16: http.auth.tokens[1].name: duplicate token name 'a'");
  EXPECT_EQ(Errors(std::string(kMinimal) + "http: {tls: {cert_file: c.pem}}\n"),
            "t.yaml:15:8: http.tls: missing required key 'key_file' (TLS needs both cert_file "
            "and key_file)");
  EXPECT_EQ(Errors(std::string(kMinimal) + "http: {tls: {cert_file: c, key_file: k, "
                                           "min_version: '1.1'}}\n"),
            "t.yaml:15:54: http.tls.min_version: expected one of 1.2|1.3, got '1.1'");
  EXPECT_EQ(Errors(std::string(kMinimal) + "http: {limits: {requests_per_second: -1}}\n"),
            "t.yaml:15:38: http.limits.requests_per_second: must be in [0, 1000000], got -1");
}

TEST(LoaderTest, DefaultEnvironmentIsTheProcessEnvironment) {
  // NOLINTNEXTLINE(concurrency-mt-unsafe): no other thread runs in this test binary
  ::setenv("OSPREY_LOADER_TEST_TOPIC", "from-process", 1);
  ::unsetenv("OSPREY_LOADER_TEST_UNSET");  // NOLINT(concurrency-mt-unsafe): as above
  const std::string yaml = With("topics: [t]",
                                "topics: [$OSPREY_LOADER_TEST_TOPIC, "
                                "'${OSPREY_LOADER_TEST_TOPIC}']");
  auto result = LoadConfigString(yaml, "t.yaml");
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->sources[0].topics,
            (std::vector<std::string>{"$OSPREY_LOADER_TEST_TOPIC", "from-process"}));
  EXPECT_EQ(ProcessEnvironment().Get("OSPREY_LOADER_TEST_UNSET"), std::nullopt);
  EXPECT_EQ(ProcessEnvironment().Get("OSPREY_LOADER_TEST_TOPIC"), "from-process");
}

TEST(LoaderTest, LoadsFilesAndReportsUnreadableOnes) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/osprey.yaml";
  std::ofstream(path) << kMinimal;
  auto result = LoadConfigFile(path);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(result->file, path);
  EXPECT_EQ(result->digest, "9ee1ac6227083febaebb9ab03c0245356afb87795f076640de644966b0f941f1");

  auto missing = LoadConfigFile(dir.path() + "/nope.yaml");
  EXPECT_EQ(missing.status().code(), Status::Code::kIOError);
  EXPECT_EQ(missing.status().message(),
            dir.path() + "/nope.yaml: cannot read: No such file or directory");
  auto directory = LoadConfigFile(dir.path());
  EXPECT_EQ(directory.status().message(), dir.path() + ": cannot read: Is a directory");

  std::ofstream(path) << "sources: [\n";
  EXPECT_EQ(LoadConfigFile(path).status().message(),
            path + ":2:1: yaml: end of sequence flow not found");
}

TEST(LoaderTest, EveryExampleValidates) {
  MapEnvironment env;
  env.Set("KAFKA_BOOTSTRAP", "kafka-1:9092,kafka-2:9092");
  env.Set("OSPREY_READ_TOKEN", "example-read-token-0123456789");  // secure.yaml
  env.Set("OSPREY_ADMIN_TOKEN", "example-admin-token-0123456789");
  int count = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(OSPREY_SOURCE_DIR) + "/config/examples")) {
    if (entry.path().extension() != ".yaml") continue;
    ++count;
    auto result = LoadConfigFile(entry.path().string(), &env);
    EXPECT_TRUE(result.ok()) << result.status().ToString();
  }
  EXPECT_GE(count, 4);
}

TEST(LoaderTest, QuickstartExampleIsWhatTheDocsSay) {
  const std::string dir = std::string(OSPREY_SOURCE_DIR) + "/config/examples/";
  const MapEnvironment empty;
  auto quick = LoadConfigFile(dir + "quickstart.yaml", &empty);
  ASSERT_TRUE(quick.ok()) << quick.status().ToString();
  EXPECT_TRUE(quick->kafka.embedded.enabled);
  EXPECT_EQ(quick->kafka.embedded.topics.size(), 4u);
  EXPECT_EQ(quick->kafka.consumer_properties.at("session.timeout.ms"), "6000");
  const SourceOptions* metrics = quick->FindSource("metrics");
  ASSERT_NE(metrics, nullptr);
  ASSERT_TRUE(metrics->demo.has_value());
  EXPECT_EQ(metrics->demo->rate_per_sec, 400);
  EXPECT_EQ(quick->FindPipeline("baseline")->sinks,
            (std::vector<std::string>{"results", "alerts"}));
  // The same stream, scored by RCF too.
  const PipelineOptions* rcf = quick->FindPipeline("rcf");
  ASSERT_NE(rcf, nullptr);
  EXPECT_EQ(rcf->source, "metrics");
  EXPECT_EQ(rcf->sinks, (std::vector<std::string>{"results", "alerts"}));
  ASSERT_EQ(rcf->operators.size(), 1u);
  EXPECT_EQ(rcf->operators[0].kind, OperatorKind::kRcf);
  EXPECT_EQ(rcf->operators[0].rcf.shingle_size, 4);
  EXPECT_EQ(quick->http.listen, "127.0.0.1:8080");
  EXPECT_EQ(quick->state.dir, "/tmp/osprey-quickstart-state");

  auto rcf_example = LoadConfigFile(dir + "rcf.yaml", &empty);
  ASSERT_TRUE(rcf_example.ok()) << rcf_example.status().ToString();
  ASSERT_TRUE(rcf_example->kafka.embedded.enabled);
  const OperatorOptions& forest = rcf_example->FindPipeline("rcf")->operators.at(0);
  EXPECT_EQ(forest.kind, OperatorKind::kRcf);
  EXPECT_EQ(forest.rcf.shingle_size, 4);
  EXPECT_EQ(forest.rcf.transform, "normalize");
  EXPECT_EQ(forest.rcf.alert_grade, 0.5);

  auto windows = LoadConfigFile(dir + "windows.yaml", &empty);
  ASSERT_TRUE(windows.ok()) << windows.status().ToString();
  const PipelineOptions* latency = windows->FindPipeline("latency");
  ASSERT_NE(latency, nullptr);
  ASSERT_EQ(latency->operators.size(), 2u);
  const WindowOptions& minute = latency->operators[0].window;
  EXPECT_EQ(latency->operators[0].kind, OperatorKind::kWindow);
  EXPECT_EQ(minute.kind, WindowKind::kTumbling);
  EXPECT_EQ(minute.size_ms, 60000);
  std::vector<std::string> outputs;
  for (const auto& a : minute.aggregates) outputs.push_back(a.OutputName());
  EXPECT_EQ(outputs,
            (std::vector<std::string>{"latency_ms_mean", "latency_ms_p99", "latency_ms_max"}));
  EXPECT_EQ(latency->operators[1].kind, OperatorKind::kBaseline);
  const PipelineOptions* hot = windows->FindPipeline("hotspots");
  ASSERT_NE(hot, nullptr);
  const HotspotOptions& h = hot->operators.at(0).hotspots;
  EXPECT_EQ(hot->operators[0].kind, OperatorKind::kHotspots);
  EXPECT_EQ(h.window_size, 500);
  EXPECT_EQ(h.scan_radius, 2.0);
  EXPECT_EQ(h.min_points, 20);
  EXPECT_GT(h.alert_density, 0);

  // The locked-down example: two tokens from the environment, TLS, every limit set.
  MapEnvironment tokens;
  tokens.Set("OSPREY_READ_TOKEN", "example-read-token-0123456789");
  tokens.Set("OSPREY_ADMIN_TOKEN", "example-admin-token-0123456789");
  auto secure = LoadConfigFile(dir + "secure.yaml", &tokens);
  ASSERT_TRUE(secure.ok()) << secure.status().ToString();
  ASSERT_EQ(secure->http.auth.tokens.size(), 2u);
  EXPECT_EQ(secure->http.auth.tokens[0].role, HttpRole::kRead);
  EXPECT_EQ(secure->http.auth.tokens[1].role, HttpRole::kAdmin);
  EXPECT_EQ(secure->http.auth.tokens[1].value, "example-admin-token-0123456789");
  EXPECT_TRUE(secure->http.tls.enabled());
  EXPECT_EQ(secure->http.tls.min_version, TlsVersion::kTls12);
  EXPECT_EQ(secure->http.limits.requests_per_second, 50);
  EXPECT_EQ(secure->http.limits.burst, 100);
  // Without its secrets it does not start, and says which key needs what.
  EXPECT_EQ(LoadConfigFile(dir + "secure.yaml", &empty).status().message(),
            dir + "secure.yaml:52:51: http.auth.tokens[0].value_env: environment variable "
                  "OSPREY_READ_TOKEN is not set\n" +
                dir + "secure.yaml:53:51: http.auth.tokens[1].value_env: environment variable "
                      "OSPREY_ADMIN_TOKEN is not set");

  // The cluster example refuses to start without its bootstrap servers.
  EXPECT_EQ(LoadConfigFile(dir + "kafka-cluster.yaml", &empty).status().message(),
            dir +
                "kafka-cluster.yaml:12:22: kafka.bootstrap_servers: ${KAFKA_BOOTSTRAP}: set "
                "KAFKA_BOOTSTRAP to host:port");
}

TEST(LoaderTest, ModelsSectionIsReadAndBounded) {
  const DaemonConfig defaults = Load(std::string(kMinimal));
  EXPECT_EQ(defaults.models.registry_dir, "");
  EXPECT_EQ(defaults.models.poll_interval_ms, 2000);
  const DaemonConfig cfg =
      Load(std::string(kMinimal) +
           "models: {registry_dir: /tmp/reg, poll_interval_ms: 0, default_model: m1, "
           "max_batch_rows: 5}\n");
  EXPECT_EQ(cfg.models.registry_dir, "/tmp/reg");
  EXPECT_EQ(cfg.models.poll_interval_ms, 0);
  EXPECT_EQ(cfg.models.default_model, "m1");
  EXPECT_EQ(cfg.models.max_batch_rows, 5);
  EXPECT_EQ(Errors(std::string(kMinimal) + "models: {poll_interval_ms: -1, max_batch_rows: 0}\n"),
            "t.yaml:15:28: models.poll_interval_ms: must be in [0, 3600000], got -1\n"
            "t.yaml:15:48: models.max_batch_rows: must be in [1, 1000000], got 0");
  EXPECT_EQ(Errors(std::string(kMinimal) + "models: {registy_dir: x}\n"),
            "t.yaml:15:10: models.registy_dir: unknown key 'registy_dir' (did you mean "
            "'registry_dir'?)");
}

}  // namespace
}  // namespace osprey::config

namespace osprey::config {
namespace {

TEST(LoaderTest, PipelineHistoryIsReadAndChecked) {
  DaemonConfig cfg = Load(
      With("    sinks: [dlq]\n",
           "    sinks: [dlq]\n"
           "    history: {fields: [v], retention: {max_age_ms: 3600000, max_bytes: 1048576}}\n"));
  ASSERT_EQ(cfg.pipelines.size(), 1u);
  EXPECT_EQ(cfg.pipelines[0].history.fields, std::vector<std::string>{"v"});
  EXPECT_EQ(cfg.pipelines[0].history.max_age_ms, 3'600'000);
  EXPECT_EQ(cfg.pipelines[0].history.max_bytes, 1'048'576);
  // Defaults: no history; 7 days and 1 GiB once fields are given.
  EXPECT_TRUE(Load(std::string(kMinimal)).pipelines[0].history.fields.empty());
  DaemonConfig dflt =
      Load(With("    sinks: [dlq]\n", "    sinks: [dlq]\n    history: {fields: [v]}\n"));
  EXPECT_EQ(dflt.pipelines[0].history.max_age_ms, 7LL * 24 * 3600 * 1000);
  EXPECT_EQ(dflt.pipelines[0].history.max_bytes, 1LL << 30);

  EXPECT_EQ(Errors(With("    sinks: [dlq]\n", "    sinks: [dlq]\n    history: {fields: [x]}\n")),
            "t.yaml:15:24: pipelines.p.history.fields[0]: 'x' is not a value field of source 'm'");
  EXPECT_EQ(
      Errors(With("    sinks: [dlq]\n",
                  "    sinks: [dlq]\n    history: {fields: [v], retention: {max_age: 7d}}\n")),
      "t.yaml:15:40: pipelines.p.history.retention.max_age: unknown key 'max_age'");
  EXPECT_EQ(Errors(With("    sinks: [dlq]\n", "    sinks: [dlq]\n    history: {}\n")),
            "t.yaml:15:5: pipelines.p.history: missing required key 'fields'");
}

}  // namespace
}  // namespace osprey::config
