// Validated, immutable configuration of ospreyd: one plain struct per component, produced by the
// strict YAML loader (config/loader.h). Every field documents meaning, units, default and whether
// a reload may change it. Thread-compatible: a DaemonConfig is built once and then only read.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/window_options.h"

namespace osprey::config {

// Where a value came from, for errors found after loading (file:line:column).
struct SourceLocation {
  std::string file;
  int line = 0;    // 1-based; 0 = unknown
  int column = 0;  // 1-based
  std::string ToString() const;
};

struct EmbeddedTopic {
  std::string name;
  // Partitions of the topic. Range 1..1024. Default: 1. Reloadable: no.
  int partitions = 1;
};

// librdkafka's mock cluster, started in-process: real Kafka protocol on loopback TCP.
struct EmbeddedBrokerOptions {
  // Start the mock cluster and point every client at it. Default: false. Reloadable: no.
  bool enabled = false;
  // Number of mock brokers. Range 1..16. Default: 1. Reloadable: no.
  int brokers = 1;
  // Topics created at start. Default: none. Reloadable: no.
  std::vector<EmbeddedTopic> topics;
};

struct KafkaOptions {
  // Comma-separated host:port list. Required unless embedded.enabled. Reloadable: no.
  std::string bootstrap_servers;
  // Consumer group id. Default: "ospreyd". Reloadable: no.
  std::string group_id = "ospreyd";
  // Pass-through librdkafka properties for every client, then per client kind (later wins).
  // Default: none. Reloadable: no.
  std::map<std::string, std::string> properties;
  std::map<std::string, std::string> consumer_properties;
  std::map<std::string, std::string> producer_properties;
  // How often consumed offsets are committed after outputs are flushed, in ms.
  // Range 50..600000. Default: 1000. Reloadable: no.
  int64_t commit_interval_ms = 1000;
  EmbeddedBrokerOptions embedded;
};

enum class RecordFormat { kJson, kCsv };

enum class TimestampFormat {
  kKafka,         // the Kafka record's own timestamp (no field needed)
  kEpochMillis,   // integer or decimal milliseconds since the epoch
  kEpochSeconds,  // integer or decimal seconds since the epoch
  kEpochMicros,   // integer microseconds since the epoch
  kIso8601,       // "2024-01-31T12:00:00Z", "2024-01-31T12:00:00.123+02:00", "2024-01-31 12:00:00"
};

// A synthetic multi-key stream with planted anomalies (spikes, level shifts, and a dense burst
// in a small region of value space), written to the source's first topic by ospreyd itself.
struct DemoOptions {
  // Records per second over all keys. Range (0, 1e6]. Default: 200. Reloadable: no.
  double rate_per_sec = 200;
  // Number of distinct keys ("host-00" ...). Range 1..100000. Default: 8. Reloadable: no.
  int keys = 8;
  // Probability that a record carries a planted spike. Range [0, 0.5]. Default: 0.003.
  double spike_probability = 0.003;
  // Every this many records per key, a level shift of 6 standard deviations starts. 0 = never.
  // Range >= 0. Default: 1500.
  int64_t level_shift_every = 1500;
  // Every this many records overall, a burst of this many records lands in a small region of
  // value space. Range: burst_every >= 0 (0 = never), burst_size 1..1e6. Default: every 4000, 60
  // records.
  int64_t burst_every = 4000;
  int burst_size = 60;
  // Stop after this many records; 0 = run until shutdown. Range >= 0. Default: 0.
  int64_t max_records = 0;
  // Seed of the generator. Default: 42.
  uint64_t seed = 42;
};

struct SourceOptions {
  std::string name;
  SourceLocation location;
  // Topics consumed (subscribed in the consumer group). Required, at least one.
  std::vector<std::string> topics;
  // Record format. Default: json.
  RecordFormat format = RecordFormat::kJson;
  // Event-time field and its format. Empty field = the Kafka record timestamp.
  std::string timestamp_field;
  TimestampFormat timestamp_format = TimestampFormat::kEpochMillis;
  // Field holding the key. Empty = the Kafka message key (records without one get key "").
  std::string key_field;
  // Numeric value fields, in order. Required, at least one. A record missing one, or holding a
  // non-numeric or non-finite value in one, is dead-lettered.
  std::vector<std::string> value_fields;
  // CSV only: the column names in order (records have no header line), and the delimiter.
  std::vector<std::string> csv_columns;
  char csv_delimiter = ',';
  // Name of the sink (kind kafka) that receives records that fail to decode. Required.
  std::string dead_letter;
  // When set, ospreyd generates the demo stream into topics[0].
  std::optional<DemoOptions> demo;
};

enum class SinkSelect {
  kAll,     // every result record
  kAlerts,  // only results flagged as alerts
};

struct SinkOptions {
  std::string name;
  SourceLocation location;
  // Only "kafka" for now.
  std::string kind = "kafka";
  // Output topic. Required.
  std::string topic;
  // Which results go here. Default: all. Ignored when the sink is used as a dead-letter sink.
  SinkSelect select = SinkSelect::kAll;
};

// Per-key exponentially weighted mean and variance; score = |z| of each value against the
// state before it, maximised over the value fields.
struct BaselineDetectorOptions {
  // Half-life of the weights, in events per key. Range [1, 1e9]. Default: 100.
  double half_life_events = 100;
  // Events per key before scores are emitted as anything but 0. Range 1..1e9. Default: 30.
  int64_t warmup_events = 30;
  // |z| at or above which a result is flagged as an alert. Range (0, 1e6]. Default: 4.
  double alert_threshold = 4.0;
  // Floor of the standard deviation, so a constant stream does not divide by zero.
  // Range (0, 1e6]. Default: 1e-9.
  double min_stddev = 1e-9;
};

// Per-key online Random Cut Forests with thresholded grading (Kinesis RANDOM_CUT_FOREST_WITH_
// EXPLANATION). The model-level meaning and ranges of each field are documented on
// models::rcf::RcfOptions / ThresholdedOptions, which the operator builds from these.
struct RcfOperatorOptions {
  // Forest. Kinesis aliases: numberOfTrees, subSampleSize, shingleSize, timeDecay (a record
  // count N, meaning time_decay = 1/N).
  int number_of_trees = 50;          // 1..1000
  int sample_size = 256;             // 4..32767
  int shingle_size = 1;              // 1..1024; input values x shingle <= 10000
  std::optional<double> time_decay;  // [0, 1]; default 1/(10*sample_size)
  std::optional<int64_t> output_after;  // 1..1e12; default sample_size/4
  double initial_accept_fraction = 0.125;  // (0, 1]
  uint64_t random_seed = 42;
  // Grading. transform: none|normalize|difference|normalize_difference.
  std::string transform = "none";
  double z_factor = 3.0;            // [1, 100]
  double absolute_threshold = 0.8;  // [0, 100]
  // Grade at or above which a result is flagged as an alert. Range (0, 1]. Default: 0.5.
  double alert_grade = 0.5;
  // A key's forest is dropped after this long without events (processing time, ms);
  // 0 = never. Range 0..1e10. Default: 0.
  int64_t idle_eviction_ms = 0;
  // Memory budget for all forests of one operator instance, bytes; least recently used keys
  // are evicted past it. 0 = unbounded. Default: 0.
  int64_t memory_budget_bytes = 0;  // When N > 0, each scored record gets "forecast": the next N values of every input value, with
  // lower and upper bounds, in original units (models::rcf::ThresholdedForest::Forecast), once the
  // key's forest gives output. Costs about N imputations per record. Needs shingle_size >= 2.
  // Range 0..1024. Default: 0 (off).
  int forecast_horizon = 0;
};

enum class OperatorKind { kBaseline, kRcf, kWindow, kHotspots };

struct OperatorOptions {
  std::string name;  // unique within the pipeline; defaults to the type
  SourceLocation location;
  OperatorKind kind = OperatorKind::kBaseline;
  BaselineDetectorOptions baseline;
  RcfOperatorOptions rcf;
  // kWindow and kHotspots: see config/window_options.h.
  WindowOptions window;
  HotspotOptions hotspots;
};

// Consumed events kept for the trainer (`osprey history export`), in the state store's
// "history" family, written with the checkpoints (exactly once).
struct HistoryOptions {
  // Value fields of the pipeline's source to keep per event (each must be one of the source's
  // value_fields). Empty: no history. Default: empty. Reloadable: no.
  std::vector<std::string> fields;
  // Rows with an event time older than the newest stored row's minus this are deleted, ms.
  // 0 = no age limit. Range 0..10 years. Default: 7 days. Reloadable: no.
  int64_t max_age_ms = 7LL * 24 * 3600 * 1000;
  // The oldest rows are deleted while the pipeline's history takes more than this on disk
  // (RocksDB's estimate, compressed), bytes. 0 = no size limit. Range 0..16 TiB. Default: 1 GiB.
  // Reloadable: no.
  int64_t max_bytes = 1LL << 30;
};

struct PipelineOptions {
  std::string name;
  SourceLocation location;
  // Name of a source. Required.
  std::string source;
  // Operators applied in order. At least one.
  std::vector<OperatorOptions> operators;
  // Names of sinks that receive the results. At least one.
  std::vector<std::string> sinks;
  // YAML `history: {fields: [...], retention: {max_age_ms: N, max_bytes: N}}`.
  HistoryOptions history;
};

// Who may call what over HTTP (daemon/http_access.h holds the route table).
enum class HttpRole {
  kRead,   // scoring, alerts, model listing, metrics: every route but /v1/admin/*
  kAdmin,  // everything kRead may, plus /v1/admin/* (reload, savepoints, config)
};

// Where a token's secret came from.
enum class SecretSource { kEnv, kFile, kLiteral };

// One bearer token. The secret is never logged, printed or returned by any route.
struct HttpTokenOptions {
  // Names the token in logs and in rate-limit messages. Unique, non-empty. Reloadable: no.
  std::string name;
  // Required. Reloadable: no.
  HttpRole role = HttpRole::kRead;
  // The secret, read by the loader from `value_env` (an environment variable), `value_file` (a
  // file, trailing whitespace removed) or `value` (literal in the config file: allowed, but the
  // daemon warns that secrets belong in the environment or a file). Exactly one is required.
  // At least 16 characters, all visible ASCII (it travels in an HTTP header). Reloadable: no.
  std::string value;
  SecretSource source = SecretSource::kEnv;
  // Where the token was declared (for messages).
  SourceLocation location;
};

struct HttpAuthOptions {
  // Bearer tokens. Empty (the default) = authentication off: every route is public. With at
  // least one token, every route but the public ones (/healthz, /readyz, /ping,
  // /v2/health/live, /v2/health/ready, / and /static/*) needs `Authorization: Bearer <token>`
  // (or, on a WebSocket upgrade only, `?access_token=<token>`): 401 without a valid token, 403
  // when its role does not allow the route. Reloadable: no.
  std::vector<HttpTokenOptions> tokens;

  bool enabled() const { return !tokens.empty(); }
};

enum class TlsVersion { kTls12, kTls13 };

// TLS (OpenSSL), on when the certificate and key files are set; then the port speaks only TLS
// (plain HTTP gets a 400 naming https://). TLS 1.2 or newer.
struct HttpTlsOptions {
  // PEM certificate chain (the server's certificate first). Default: "" (TLS off).
  // Reloadable: no.
  std::string cert_file;
  // PEM private key of the certificate. Default: "". Reloadable: no.
  std::string key_file;
  // Oldest protocol version accepted: "1.2" or "1.3". Default: 1.2. Reloadable: no.
  TlsVersion min_version = TlsVersion::kTls12;

  // Either file set (the server refuses to start unless both are).
  bool enabled() const { return !cert_file.empty() || !key_file.empty(); }
};

// Resource limits of the HTTP server; every breach is answered with a JSON error (or, for a
// client too slow to send its request, by closing the connection). Reloadable: no.
struct HttpLimitOptions {
  // Largest request body, bytes; a larger one is answered 413. Range 1..1 GiB. Default: 1 MiB.
  int64_t max_body_bytes = 1 << 20;
  // Time allowed from the start of the wait for a request (a new or an idle keep-alive
  // connection, including a TLS handshake) until its header is complete, ms. A client that
  // trickles header bytes is cut off when it runs out. Range 1..3600000. Default: 10000.
  int64_t header_timeout_ms = 10000;
  // Time allowed to read a request's body once its header arrived, and to write a response,
  // ms. Range 1..3600000. Default: 30000.
  int64_t body_timeout_ms = 30000;
  // Simultaneous connections (WebSocket ones included); past it a new connection is answered
  // 503 and closed. Range 1..1e6. Default: 1024.
  int max_connections = 1024;
  // Sustained requests per second allowed per token (per client IP for requests without a
  // valid token); past it requests are answered 429 with Retry-After. 0 = unlimited.
  // Range 0..1e6. Default: 0.
  double requests_per_second = 0;
  // Requests a token may make at once above the sustained rate (token-bucket depth). 0 = the
  // rate rounded up (at least 1). Range 0..1e6. Default: 0.
  int burst = 0;

  // The bucket depth in effect.
  int EffectiveBurst() const;
};

struct HttpOptions {
  // host:port to listen on; port 0 picks a free port (logged and shown by /v1/info).
  // Default: "0.0.0.0:8080". Reloadable: no.
  std::string listen = "0.0.0.0:8080";
  // I/O threads. Range 1..64. Default: 1.
  int threads = 1;
  HttpAuthOptions auth;
  HttpTlsOptions tls;
  HttpLimitOptions limits;
};

struct StateOptions {
  // Directory of the RocksDB store. Default: "./osprey-state". Reloadable: no.
  std::string dir = "./osprey-state";
  // Checkpoint period, ms. Range 10..3600000. Default: 1000. Reloadable: no.
  int64_t checkpoint_interval_ms = 1000;
  // RocksDB's shared block cache, bytes. Range 1 MiB..64 GiB. Default: 64 MiB. Reloadable: no.
  int64_t block_cache_bytes = 64LL << 20;
  // RocksDB memtable size per column family (at most two each), bytes. Range 64 KiB..4 GiB.
  // Default: 16 MiB. Reloadable: no.
  int64_t write_buffer_bytes = 16LL << 20;
  // Also append every checkpoint to a changelog topic per pipeline,
  // "<changelog_prefix>.<pipeline>.changelog" (compacted, partitioned like the source), so
  // another instance of the consumer group can take over a partition with its state. The topics
  // must exist with at least as many partitions as the source topics. Default: false.
  // Reloadable: no.
  bool changelog = false;
  // Default: "osprey". Reloadable: no.
  std::string changelog_prefix = "osprey";
  // How often pipelines' history retention (HistoryOptions) is enforced, ms. Range
  // 100..86400000. Default: 60000. Reloadable: no.
  int64_t history_retention_interval_ms = 60000;
};

// The model registry served over HTTP (models/serving/REGISTRY.md for the on-disk format).
struct ModelsOptions {
  // Registry directory, created at start if missing. Empty = no registry (every model is
  // unknown). Default: "". Reloadable: no.
  std::string registry_dir;
  // How often the directory is checked for changed versions, ms; 0 = only on
  // POST /v1/admin/models/reload. Range 0..3600000. Default: 2000. Reloadable: no.
  int64_t poll_interval_ms = 2000;
  // Model answering POST /invocations without an X-Amzn-SageMaker-Target-Model header. Empty =
  // the only model when the registry holds exactly one. Default: "". Reloadable: no.
  std::string default_model;
  // Most instances in one predict request; more are refused with 413. Range 1..1000000.
  // Default: 10000. Reloadable: no.
  int max_batch_rows = 10000;
};

enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError };
enum class LogFormat { kText, kJson };

struct LoggingOptions {
  // Default: info. Reloadable: yes.
  LogLevel level = LogLevel::kInfo;
  // Default: text.
  LogFormat format = LogFormat::kText;
};

struct DaemonConfig {
  // The file it was loaded from, and a SHA-256 hex digest of its bytes.
  std::string file;
  std::string digest;

  KafkaOptions kafka;
  std::vector<SourceOptions> sources;
  std::vector<SinkOptions> sinks;
  std::vector<PipelineOptions> pipelines;
  HttpOptions http;
  StateOptions state;
  LoggingOptions logging;
  ModelsOptions models;

  // Lookup by name; nullptr when absent (cannot happen for names referenced by a validated
  // config).
  const SourceOptions* FindSource(const std::string& name) const;
  const SinkOptions* FindSink(const std::string& name) const;
  const PipelineOptions* FindPipeline(const std::string& name) const;
};

}  // namespace osprey::config
