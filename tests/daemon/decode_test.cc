// Tests of daemon/decode/: the JSON and CSV decoders (through MakeDecoder) and the shared
// timestamp parser.
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "config/options.h"
#include "daemon/decode/decoder.h"
#include "daemon/decode/timestamp.h"
#include "operators/event.h"

namespace osprey::daemon {
namespace {

using config::TimestampFormat;

constexpr int64_t kKafkaTs = 1'700'000'000'000;

RawRecord Record(std::string_view payload, std::string_view topic = "metrics-b") {
  RawRecord record;
  record.topic = topic;
  record.partition = 3;
  record.offset = 42;
  record.key = "kafka-key";
  record.payload = payload;
  record.timestamp_ms = kKafkaTs;
  return record;
}

config::SourceOptions JsonSource() {
  config::SourceOptions source;
  source.name = "metrics";
  source.topics = {"metrics-a", "metrics-b"};
  source.format = config::RecordFormat::kJson;
  source.timestamp_field = "ts";
  source.timestamp_format = TimestampFormat::kEpochMillis;
  source.key_field = "host";
  source.value_fields = {"cpu", "mem"};
  source.dead_letter = "dlq";
  return source;
}

config::SourceOptions CsvSource() {
  config::SourceOptions source = JsonSource();
  source.format = config::RecordFormat::kCsv;
  source.csv_columns = {"ts", "host", "cpu", "mem"};
  return source;
}

struct Outcome {
  bool ok = false;
  operators::Event event;
  DecodeFailure failure{DecodeError::kMalformed, ""};
};

// Owns the SourceOptions the decoder points into.
class DecoderHarness {
 public:
  explicit DecoderHarness(config::SourceOptions source)
      : source_(std::make_unique<config::SourceOptions>(std::move(source))) {
    Result<std::unique_ptr<Decoder>> made = MakeDecoder(*source_);
    EXPECT_TRUE(made.ok()) << made.status().ToString();
    if (made.ok()) decoder_ = std::move(made).value();
  }

  Outcome Decode(const RawRecord& record) const {
    Outcome outcome;
    outcome.ok = decoder_->Decode(record, outcome.event, outcome.failure);
    return outcome;
  }
  Outcome Decode(std::string_view payload) const { return Decode(Record(payload)); }

  const config::SourceOptions& source() const { return *source_; }
  const Decoder& decoder() const { return *decoder_; }

 private:
  std::unique_ptr<config::SourceOptions> source_;
  std::unique_ptr<Decoder> decoder_;
};

// Expects a failure with exactly this error and detail.
void ExpectFailure(const Outcome& outcome, DecodeError error, std::string_view detail) {
  ASSERT_FALSE(outcome.ok) << "decoded, expected " << DecodeErrorName(error) << ": " << detail;
  EXPECT_EQ(DecodeErrorName(outcome.failure.error), DecodeErrorName(error));
  EXPECT_EQ(outcome.failure.detail, detail);
}

std::string Status2String(const Result<int64_t>& result) {
  return result.ok() ? "ok: " + std::to_string(*result) : result.status().message();
}

// ---------------------------------------------------------------------------------------------
// JSON

TEST(JsonDecoderTest, DecodesEveryEventField) {
  DecoderHarness json(JsonSource());
  const Outcome outcome = json.Decode(
      R"({"host":"web-1","ts":1706702400123,"cpu":0.5,"mem":-12,"tags":[1,{"x":null}]})");
  ASSERT_TRUE(outcome.ok) << outcome.failure.detail;
  const operators::Event& event = outcome.event;
  EXPECT_EQ(event.key, "web-1");
  EXPECT_EQ(event.event_time_ms, 1706702400123);
  EXPECT_EQ(event.values, (std::vector<double>{0.5, -12}));
  ASSERT_NE(event.schema, nullptr);
  EXPECT_EQ(event.schema->value_names, (std::vector<std::string>{"cpu", "mem"}));
  EXPECT_EQ(event.origin.topic, &json.source().topics[1]);
  EXPECT_EQ(event.origin.partition, 3);
  EXPECT_EQ(event.origin.offset, 42);
  // The schema is built once and shared.
  EXPECT_EQ(json.Decode(R"({"host":"a","ts":1,"cpu":1,"mem":2})").event.schema, event.schema);
}

TEST(JsonDecoderTest, UnknownTopicMapsToFirstConfiguredTopic) {
  DecoderHarness json(JsonSource());
  const Outcome outcome =
      json.Decode(Record(R"({"host":"a","ts":1,"cpu":1,"mem":2})", "other-topic"));
  ASSERT_TRUE(outcome.ok);
  EXPECT_EQ(outcome.event.origin.topic, &json.source().topics[0]);
}

TEST(JsonDecoderTest, KeyMayBeAnIntegerRenderedAsDecimal) {
  DecoderHarness json(JsonSource());
  EXPECT_EQ(json.Decode(R"({"host":-7,"ts":1,"cpu":1,"mem":2})").event.key, "-7");
  EXPECT_EQ(
      json.Decode(R"({"host":123456789012345678901234567890,"ts":1,"cpu":1,"mem":2})").event.key,
      "123456789012345678901234567890");
  EXPECT_EQ(json.Decode(R"({"host":"","ts":1,"cpu":1,"mem":2})").event.key, "");
  ExpectFailure(json.Decode(R"({"host":1.5,"ts":1,"cpu":1,"mem":2})"), DecodeError::kBadType,
                "field 'host' must be a string or an integer, got number \"1.5\"");
  ExpectFailure(json.Decode(R"({"host":1e3,"ts":1,"cpu":1,"mem":2})"), DecodeError::kBadType,
                "field 'host' must be a string or an integer, got number \"1e3\"");
  ExpectFailure(json.Decode(R"({"host":true,"ts":1,"cpu":1,"mem":2})"), DecodeError::kBadType,
                "field 'host' must be a string or an integer, got boolean");
  ExpectFailure(json.Decode(R"({"host":{},"ts":1,"cpu":1,"mem":2})"), DecodeError::kBadType,
                "field 'host' must be a string or an integer, got object");
  ExpectFailure(json.Decode(R"({"ts":1,"cpu":1,"mem":2})"), DecodeError::kMissingField,
                "field 'host' is missing");
  ExpectFailure(json.Decode(R"({"host":null,"ts":1,"cpu":1,"mem":2})"), DecodeError::kMissingField,
                "field 'host' is null");
}

TEST(JsonDecoderTest, WithoutKeyFieldTheKafkaKeyIsTheKey) {
  config::SourceOptions source = JsonSource();
  source.key_field.clear();
  DecoderHarness json(source);
  const Outcome outcome = json.Decode(R"({"host":"ignored","ts":1,"cpu":1,"mem":2})");
  ASSERT_TRUE(outcome.ok);
  EXPECT_EQ(outcome.event.key, "kafka-key");
  RawRecord keyless = Record(R"({"ts":1,"cpu":1,"mem":2})");
  keyless.key = {};
  EXPECT_EQ(json.Decode(keyless).event.key, "");
}

TEST(JsonDecoderTest, KafkaTimestampWhenNoFieldOrFormatKafka) {
  config::SourceOptions no_field = JsonSource();
  no_field.timestamp_field.clear();
  config::SourceOptions kafka_format = JsonSource();
  kafka_format.timestamp_format = TimestampFormat::kKafka;
  for (const config::SourceOptions& source : {no_field, kafka_format}) {
    DecoderHarness json(source);
    const Outcome outcome = json.Decode(R"({"host":"a","ts":"not used","cpu":1,"mem":2})");
    ASSERT_TRUE(outcome.ok) << outcome.failure.detail;
    EXPECT_EQ(outcome.event.event_time_ms, kKafkaTs);
    RawRecord no_ts = Record(R"({"host":"a","cpu":1,"mem":2})");
    no_ts.timestamp_ms = -1;
    ExpectFailure(json.Decode(no_ts), DecodeError::kMissingField, "record has no Kafka timestamp");
  }
}

TEST(JsonDecoderTest, NestedPathsAndLiteralDottedNames) {
  config::SourceOptions source = JsonSource();
  source.key_field = "meta.host";
  source.timestamp_field = "meta.time.ms";
  source.value_fields = {"load.cpu", "mem"};
  DecoderHarness json(source);

  Outcome outcome = json.Decode(
      R"({"meta":{"time":{"ms":5},"host":"n1"},"load":{"other":[],"cpu":0.25},"mem":3})");
  ASSERT_TRUE(outcome.ok) << outcome.failure.detail;
  EXPECT_EQ(outcome.event.key, "n1");
  EXPECT_EQ(outcome.event.event_time_ms, 5);
  EXPECT_EQ(outcome.event.values, (std::vector<double>{0.25, 3}));
  EXPECT_EQ(outcome.event.schema->value_names, (std::vector<std::string>{"load.cpu", "mem"}));

  // A member literally named "load.cpu" is preferred, wherever it appears.
  for (const char* payload :
       {R"({"load":{"cpu":1},"load.cpu":2,"meta":{"host":"n","time":{"ms":1}},"mem":3})",
        R"({"load.cpu":2,"load":{"cpu":1},"meta":{"host":"n","time":{"ms":1}},"mem":3})"}) {
    outcome = json.Decode(payload);
    ASSERT_TRUE(outcome.ok) << outcome.failure.detail;
    EXPECT_EQ(outcome.event.values[0], 2) << payload;
  }

  ExpectFailure(json.Decode(R"({"meta":{"host":"n","time":{"ms":1}},"load":{},"mem":3})"),
                DecodeError::kMissingField, "field 'load.cpu' is missing");
  ExpectFailure(json.Decode(R"({"meta":{"host":"n","time":{"ms":1}},"load":7,"mem":3})"),
                DecodeError::kMissingField, "field 'load.cpu' is missing");
  ExpectFailure(json.Decode(R"({"meta":{"host":"n","time":{}},"load":{"cpu":1},"mem":3})"),
                DecodeError::kMissingField, "field 'meta.time.ms' is missing");
  ExpectFailure(json.Decode(R"({"meta":{"host":"n","time":{"ms":1}},"load":{"cpu":{}},"mem":3})"),
                DecodeError::kBadType, "field 'load.cpu' must be a number, got object");
}

TEST(JsonDecoderTest, DuplicateMembersFirstWins) {
  DecoderHarness json(JsonSource());
  const Outcome outcome =
      json.Decode(R"({"cpu":1,"host":"a","mem":2,"cpu":3,"ts":4,"host":"b","ts":null})");
  ASSERT_TRUE(outcome.ok) << outcome.failure.detail;
  EXPECT_EQ(outcome.event.values, (std::vector<double>{1, 2}));
  EXPECT_EQ(outcome.event.key, "a");
  EXPECT_EQ(outcome.event.event_time_ms, 4);
  // A first null still wins: the record is dead-lettered, not silently repaired.
  ExpectFailure(json.Decode(R"({"cpu":null,"host":"a","mem":2,"cpu":3,"ts":4})"),
                DecodeError::kMissingField, "field 'cpu' is null");
}

TEST(JsonDecoderTest, EscapedMemberNamesMatch) {
  DecoderHarness json(JsonSource());
  const Outcome outcome = json.Decode(R"({"c\u0070u":1,"host":"\u00e9","mem":2,"ts":4})");
  ASSERT_TRUE(outcome.ok) << outcome.failure.detail;
  EXPECT_EQ(outcome.event.values[0], 1);
  EXPECT_EQ(outcome.event.key, "\xc3\xa9");
}

TEST(JsonDecoderTest, ValueFieldErrors) {
  DecoderHarness json(JsonSource());
  const auto with_cpu = [&](std::string_view cpu) {
    return json.Decode(R"({"host":"a","ts":1,"mem":2,"cpu":)" + std::string(cpu) + "}");
  };
  ExpectFailure(json.Decode(R"({"host":"a","ts":1,"mem":2})"), DecodeError::kMissingField,
                "field 'cpu' is missing");
  ExpectFailure(with_cpu("null"), DecodeError::kMissingField, "field 'cpu' is null");
  ExpectFailure(with_cpu(R"("12.5")"), DecodeError::kBadType,
                "field 'cpu' must be a number, got string");
  ExpectFailure(with_cpu("true"), DecodeError::kBadType,
                "field 'cpu' must be a number, got boolean");
  ExpectFailure(with_cpu("[1]"), DecodeError::kBadType, "field 'cpu' must be a number, got array");
  ExpectFailure(with_cpu("{}"), DecodeError::kBadType, "field 'cpu' must be a number, got object");
  ExpectFailure(with_cpu("1e400"), DecodeError::kBadValue,
                "field 'cpu' is out of range for a double: \"1e400\"");
  ExpectFailure(with_cpu("-1.5E+999"), DecodeError::kBadValue,
                "field 'cpu' is out of range for a double: \"-1.5E+999\"");
}

TEST(JsonDecoderTest, HugeAndTinyNumbers) {
  DecoderHarness json(JsonSource());
  const auto cpu_of = [&](std::string_view cpu) {
    const Outcome outcome =
        json.Decode(R"({"host":"a","ts":1,"mem":2,"cpu":)" + std::string(cpu) + "}");
    EXPECT_TRUE(outcome.ok) << cpu << ": " << outcome.failure.detail;
    return outcome.ok ? outcome.event.values[0] : std::nan("");
  };
  EXPECT_EQ(cpu_of("123456789012345678901234567890"), 1.2345678901234568e29);
  EXPECT_EQ(cpu_of("1.7976931348623157e308"), 1.7976931348623157e308);
  EXPECT_EQ(cpu_of("1e-400"), 0.0);
  EXPECT_EQ(cpu_of("-0"), 0.0);
  EXPECT_EQ(cpu_of("18446744073709551616"), 18446744073709551616.0);
  ExpectFailure(
      json.Decode(R"({"host":"a","ts":1,"mem":2,"cpu":)" + std::string(400, '9') + "}"),
      DecodeError::kBadValue,
      "field 'cpu' is out of range for a double: \"" + std::string(64, '9') + "\"... (400 bytes)");
}

TEST(JsonDecoderTest, TimestampFormats) {
  struct Case {
    TimestampFormat format;
    const char* ts;
    int64_t want_ms;
  };
  const Case cases[] = {
      {TimestampFormat::kEpochMillis, "1706702400123", 1706702400123},
      {TimestampFormat::kEpochMillis, "1706702400123.75", 1706702400123},
      {TimestampFormat::kEpochMillis, "1.706702400123e12", 1706702400123},
      {TimestampFormat::kEpochSeconds, "1706702400", 1706702400000},
      {TimestampFormat::kEpochSeconds, "1706702400.123", 1706702400123},
      {TimestampFormat::kEpochMicros, "1706702400123456", 1706702400123},
      {TimestampFormat::kEpochMicros, "-1", -1},
      {TimestampFormat::kIso8601, R"("2024-01-31T12:00:00Z")", 1706702400000},
      {TimestampFormat::kIso8601, R"("2024-01-31T14:00:00.123+02:00")", 1706702400123},
      {TimestampFormat::kIso8601, R"("2024-01-31T06:30:00.5-0530")", 1706702400500},
      {TimestampFormat::kIso8601, R"("2024-01-31 12:00:00")", 1706702400000},
  };
  for (const Case& test_case : cases) {
    config::SourceOptions source = JsonSource();
    source.timestamp_format = test_case.format;
    DecoderHarness json(source);
    const Outcome outcome =
        json.Decode(R"({"host":"a","cpu":1,"mem":2,"ts":)" + std::string(test_case.ts) + "}");
    ASSERT_TRUE(outcome.ok) << test_case.ts << ": " << outcome.failure.detail;
    EXPECT_EQ(outcome.event.event_time_ms, test_case.want_ms) << test_case.ts;
  }
}

TEST(JsonDecoderTest, TimestampErrors) {
  DecoderHarness epoch(JsonSource());
  ExpectFailure(epoch.Decode(R"({"host":"a","cpu":1,"mem":2})"), DecodeError::kMissingField,
                "field 'ts' is missing");
  ExpectFailure(epoch.Decode(R"({"host":"a","cpu":1,"mem":2,"ts":null})"),
                DecodeError::kMissingField, "field 'ts' is null");
  ExpectFailure(epoch.Decode(R"({"host":"a","cpu":1,"mem":2,"ts":"1706702400123"})"),
                DecodeError::kBadType,
                "field 'ts' must be a number for timestamp format epoch_ms, got string");
  ExpectFailure(epoch.Decode(R"({"host":"a","cpu":1,"mem":2,"ts":1e300})"), DecodeError::kBadValue,
                "field 'ts': epoch_ms timestamp \"1e300\" is out of range");
  ExpectFailure(epoch.Decode(R"({"host":"a","cpu":1,"mem":2,"ts":1e400})"), DecodeError::kBadValue,
                "field 'ts': epoch_ms timestamp \"1e400\" is out of range");

  config::SourceOptions iso_source = JsonSource();
  iso_source.timestamp_format = TimestampFormat::kIso8601;
  DecoderHarness iso(iso_source);
  ExpectFailure(iso.Decode(R"({"host":"a","cpu":1,"mem":2,"ts":1706702400})"),
                DecodeError::kBadType,
                "field 'ts' must be a string for timestamp format iso8601, got number");
  ExpectFailure(iso.Decode(R"({"host":"a","cpu":1,"mem":2,"ts":"2024-02-30T00:00:00Z"})"),
                DecodeError::kBadValue,
                "field 'ts': invalid iso8601 timestamp \"2024-02-30T00:00:00Z\": day 30 is out "
                "of range for 2024-02");
  ExpectFailure(iso.Decode(R"({"host":"a","cpu":1,"mem":2,"ts":"2024-13-01T00:00:00Z"})"),
                DecodeError::kBadValue,
                "field 'ts': invalid iso8601 timestamp \"2024-13-01T00:00:00Z\": month 13 is "
                "out of range");
  ExpectFailure(iso.Decode(R"({"host":"a","cpu":1,"mem":2,"ts":"yesterday\u0001"})"),
                DecodeError::kBadValue,
                "field 'ts': invalid iso8601 timestamp \"yesterday\\x01\": expected YYYY-MM-DD");
}

TEST(JsonDecoderTest, MalformedPayloads) {
  DecoderHarness json(JsonSource());
  ExpectFailure(json.Decode(""), DecodeError::kMalformed, "empty payload");
  ExpectFailure(json.Decode("  \n"), DecodeError::kMalformed, "invalid JSON: Empty: no JSON found");
  ExpectFailure(json.Decode(R"([{"host":"a"}])"), DecodeError::kMalformed,
                "payload must be a JSON object, got array");
  ExpectFailure(json.Decode("42"), DecodeError::kMalformed,
                "payload must be a JSON object, got number");
  ExpectFailure(json.Decode(R"("s")"), DecodeError::kMalformed,
                "payload must be a JSON object, got string");
  ExpectFailure(json.Decode("null"), DecodeError::kMalformed,
                "payload must be a JSON object, got null");
  ExpectFailure(json.Decode(R"({"host":"a","ts":1,"cpu":1,"mem":2)"), DecodeError::kMalformed,
                "invalid JSON: JSON document ended early in the middle of an object or array.");
  ExpectFailure(json.Decode(R"({"host":"a","ts":1,"cpu":1,"me)"), DecodeError::kMalformed,
                "invalid JSON: A string is opened, but never closed.");
  ExpectFailure(json.Decode(R"({"host":"a" "ts":1,"cpu":1,"mem":2})"), DecodeError::kMalformed,
                "invalid JSON at byte 12: The JSON document has an improper structure: missing "
                "or superfluous commas, braces, missing keys, etc.");
  ExpectFailure(json.Decode(R"({"host":"a","ts":1,"cpu":1,"mem":2}})"), DecodeError::kMalformed,
                "invalid JSON at byte 35: content after the object");
  ExpectFailure(json.Decode(R"({"host":"a","ts":1,"cpu":1,"mem":2} {})"), DecodeError::kMalformed,
                "invalid JSON at byte 36: content after the object");
  ExpectFailure(json.Decode("{\"host\":\"a\xff\",\"ts\":1,\"cpu\":1,\"mem\":2}"),
                DecodeError::kMalformed, "invalid JSON: The input is not valid UTF-8");
  // Fields that are not read are validated too.
  ExpectFailure(json.Decode(R"({"host":"a","ts":1,"cpu":1,"mem":2,"x":tru})"),
                DecodeError::kMalformed,
                "invalid JSON at byte 39: The JSON element does not have the requested type.");
  ExpectFailure(json.Decode(R"({"host":"a","ts":1,"cpu":1,"mem":2,"x":"\q"})"),
                DecodeError::kMalformed, "invalid JSON at byte 39: Problem while parsing a string");
  ExpectFailure(json.Decode(R"({"host":"a","ts":1,"cpu":1,"mem":2,"x":[1,]})"),
                DecodeError::kMalformed,
                "invalid JSON at byte 42: The JSON document has an improper structure: missing "
                "or superfluous commas, braces, missing keys, etc.");
  ExpectFailure(json.Decode(R"({"host":"a","ts":1,"cpu":1,"mem":2,"x":01})"),
                DecodeError::kMalformed, "invalid JSON at byte 39: Problem while parsing a number");
  ExpectFailure(json.Decode(R"({"host":"a","ts":1,"cpu":NaN,"mem":2})"), DecodeError::kMalformed,
                "invalid JSON at byte 25: The JSON document has an improper structure: missing "
                "or superfluous commas, braces, missing keys, etc.");
  // Unread numbers beyond double's range are valid JSON.
  EXPECT_TRUE(json.Decode(R"({"host":"a","ts":1,"cpu":1,"mem":2,"x":1e999})").ok);
}

TEST(JsonDecoderTest, NestingLimit) {
  DecoderHarness json(JsonSource());
  const auto nested = [](int depth) {
    return R"({"host":"a","ts":1,"cpu":1,"mem":2,"x":)" + std::string(depth - 1, '[') +
           std::string(depth - 1, ']') + "}";
  };
  EXPECT_TRUE(json.Decode(nested(128)).ok);
  ExpectFailure(json.Decode(nested(129)), DecodeError::kMalformed,
                "JSON nested deeper than 128 levels");
  ExpectFailure(json.Decode(std::string(100000, '[')), DecodeError::kMalformed,
                "payload must be a JSON object, got array");
  ExpectFailure(json.Decode("{\"x\":" + std::string(100000, '{')), DecodeError::kMalformed,
                "invalid JSON: JSON document ended early in the middle of an object or array.");
}

TEST(JsonDecoderTest, PayloadSizeLimit) {
  DecoderHarness json(JsonSource());
  constexpr size_t kLimit = size_t{8} << 20;
  const std::string prefix = R"({"host":"a","ts":1,"cpu":1,"mem":2,"pad":")";
  std::string at_limit = prefix + std::string(kLimit - prefix.size() - 2, 'x') + "\"}";
  ASSERT_EQ(at_limit.size(), kLimit);
  const Outcome big = json.Decode(at_limit);
  ASSERT_TRUE(big.ok) << big.failure.detail;
  EXPECT_EQ(big.event.values, (std::vector<double>{1, 2}));
  // Small records still decode after the thread's buffers were released.
  EXPECT_TRUE(json.Decode(R"({"host":"a","ts":1,"cpu":1,"mem":2})").ok);

  at_limit.insert(at_limit.size() - 2, "y");
  ExpectFailure(json.Decode(at_limit), DecodeError::kTooLarge,
                "payload of 8388609 bytes exceeds the 8388608-byte limit");
}

// ---------------------------------------------------------------------------------------------
// CSV

TEST(CsvDecoderTest, DecodesEveryEventField) {
  DecoderHarness csv(CsvSource());
  for (const char* line :
       {"1706702400123,web-1,0.5,-12", "1706702400123,web-1,0.5,-12\n",
        "1706702400123,web-1,0.5,-12\r\n", "1706702400123,\"web-1\",0.5,\"-12\""}) {
    const Outcome outcome = csv.Decode(line);
    ASSERT_TRUE(outcome.ok) << line << ": " << outcome.failure.detail;
    EXPECT_EQ(outcome.event.key, "web-1");
    EXPECT_EQ(outcome.event.event_time_ms, 1706702400123);
    EXPECT_EQ(outcome.event.values, (std::vector<double>{0.5, -12}));
    EXPECT_EQ(outcome.event.schema->value_names, (std::vector<std::string>{"cpu", "mem"}));
    EXPECT_EQ(outcome.event.origin.topic, &csv.source().topics[1]);
    EXPECT_EQ(outcome.event.origin.partition, 3);
    EXPECT_EQ(outcome.event.origin.offset, 42);
  }
}

TEST(CsvDecoderTest, QuotedFieldsWithDelimitersQuotesAndLineBreaks) {
  DecoderHarness csv(CsvSource());
  Outcome outcome = csv.Decode(R"(1,"a,b ""quoted"" c",1,2)");
  ASSERT_TRUE(outcome.ok) << outcome.failure.detail;
  EXPECT_EQ(outcome.event.key, R"(a,b "quoted" c)");
  outcome = csv.Decode("1,\"line\nbreak\r\n\",1,\"\"\"\"\n");
  ASSERT_FALSE(outcome.ok);  // "\"" is not a number
  outcome = csv.Decode("1,\"line\nbreak\r\n\",1,2\n");
  ASSERT_TRUE(outcome.ok) << outcome.failure.detail;
  EXPECT_EQ(outcome.event.key, "line\nbreak\r\n");
  outcome = csv.Decode(R"(1,"",1,2)");
  ASSERT_TRUE(outcome.ok);
  EXPECT_EQ(outcome.event.key, "");
  outcome = csv.Decode(R"(1,"""",1,2)");
  ASSERT_TRUE(outcome.ok);
  EXPECT_EQ(outcome.event.key, "\"");
}

TEST(CsvDecoderTest, OtherDelimiters) {
  for (const char delimiter : {';', '\t', '|', ' '}) {
    config::SourceOptions source = CsvSource();
    source.csv_delimiter = delimiter;
    DecoderHarness csv(source);
    std::string line = "5" + std::string(1, delimiter) + "\"h" + std::string(1, delimiter) + "x\"" +
                       std::string(1, delimiter) + "1.5" + std::string(1, delimiter) + "2";
    const Outcome outcome = csv.Decode(line);
    ASSERT_TRUE(outcome.ok) << outcome.failure.detail;
    EXPECT_EQ(outcome.event.key, "h" + std::string(1, delimiter) + "x");
    EXPECT_EQ(outcome.event.values, (std::vector<double>{1.5, 2}));
    ExpectFailure(csv.Decode("5,h,1,2"), DecodeError::kMalformed, "expected 4 columns, got 1");
  }
}

TEST(CsvDecoderTest, Errors) {
  DecoderHarness csv(CsvSource());
  ExpectFailure(csv.Decode(""), DecodeError::kMalformed, "empty payload");
  ExpectFailure(csv.Decode("\n"), DecodeError::kMalformed, "expected 4 columns, got 1");
  ExpectFailure(csv.Decode("1,h,0.5"), DecodeError::kMalformed, "expected 4 columns, got 3");
  ExpectFailure(csv.Decode("1,h,0.5,2,"), DecodeError::kMalformed, "expected 4 columns, got 5");
  ExpectFailure(csv.Decode("1,h,0.5,2\n\n"), DecodeError::kMalformed,
                "line break outside quotes in column 4");
  ExpectFailure(csv.Decode("1,\"h,0.5,2"), DecodeError::kMalformed,
                "unterminated quoted field in column 2");
  ExpectFailure(csv.Decode("1,\"h\"x,0.5,2"), DecodeError::kMalformed,
                "unexpected character after the closing quote of column 2");
  ExpectFailure(csv.Decode("1,h\"x\",0.5,2"), DecodeError::kMalformed,
                "quote inside the unquoted column 2");
  ExpectFailure(csv.Decode("1,h,,2"), DecodeError::kMissingField, "field 'cpu' is empty");
  ExpectFailure(csv.Decode("1,h,\"\",2"), DecodeError::kMissingField, "field 'cpu' is empty");
  ExpectFailure(csv.Decode("1,h,12abc,2"), DecodeError::kBadType,
                "field 'cpu' must be a number, got \"12abc\"");
  ExpectFailure(csv.Decode("1,h, 12,2"), DecodeError::kBadType,
                "field 'cpu' must be a number, got \" 12\"");
  ExpectFailure(csv.Decode("1,h,+12,2"), DecodeError::kBadType,
                "field 'cpu' must be a number, got \"+12\"");
  ExpectFailure(csv.Decode("1,h,0x10,2"), DecodeError::kBadType,
                "field 'cpu' must be a number, got \"0x10\"");
  ExpectFailure(csv.Decode("1,h,1e400,2"), DecodeError::kBadValue,
                "field 'cpu' is out of range for a double: \"1e400\"");
  ExpectFailure(csv.Decode("1,h,-99999999999999999999e300,2"), DecodeError::kBadValue,
                "field 'cpu' is out of range for a double: \"-99999999999999999999e300\"");
  ExpectFailure(csv.Decode("1,h,nan,2"), DecodeError::kBadValue,
                "field 'cpu' must be finite, got \"nan\"");
  ExpectFailure(csv.Decode("1,h,-inf,2"), DecodeError::kBadValue,
                "field 'cpu' must be finite, got \"-inf\"");
  ExpectFailure(csv.Decode(",h,1,2"), DecodeError::kMissingField, "field 'ts' is empty");
  ExpectFailure(csv.Decode("abc,h,1,2"), DecodeError::kBadValue,
                "field 'ts': invalid epoch_ms timestamp \"abc\"");

  EXPECT_EQ(csv.Decode("1,h,1e-400,2").event.values[0], 0.0);
  EXPECT_EQ(csv.Decode("1,h,0.000000000000000000000000000000001e-300,2").event.values[0], 0.0);
  EXPECT_EQ(csv.Decode("1,h,.5,2").event.values[0], 0.5);

  std::string huge = "1,\"" + std::string((size_t{8} << 20) - 8, 'k') + "\",1,2";
  ASSERT_EQ(huge.size(), size_t{8} << 20);
  EXPECT_TRUE(csv.Decode(huge).ok);
  huge += '0';
  ExpectFailure(csv.Decode(huge), DecodeError::kTooLarge,
                "payload of 8388609 bytes exceeds the 8388608-byte limit");
}

TEST(CsvDecoderTest, TimestampFormatsAndKafkaFallbacks) {
  config::SourceOptions source = CsvSource();
  source.timestamp_format = TimestampFormat::kIso8601;
  DecoderHarness iso(source);
  Outcome outcome = iso.Decode("2024-01-31T13:00:00.25+01:00,h,1,2");
  ASSERT_TRUE(outcome.ok) << outcome.failure.detail;
  EXPECT_EQ(outcome.event.event_time_ms, 1706702400250);
  ExpectFailure(iso.Decode("\"2024-02-30 00:00:00\",h,1,2"), DecodeError::kBadValue,
                "field 'ts': invalid iso8601 timestamp \"2024-02-30 00:00:00\": day 30 is out of "
                "range for 2024-02");

  source.timestamp_format = TimestampFormat::kEpochSeconds;
  DecoderHarness seconds(source);
  EXPECT_EQ(seconds.Decode("1706702400.5,h,1,2").event.event_time_ms, 1706702400500);

  source = CsvSource();
  source.key_field.clear();
  source.timestamp_field.clear();
  DecoderHarness kafka(source);
  outcome = kafka.Decode("x,h,1,2");
  ASSERT_TRUE(outcome.ok) << outcome.failure.detail;
  EXPECT_EQ(outcome.event.key, "kafka-key");
  EXPECT_EQ(outcome.event.event_time_ms, kKafkaTs);
  RawRecord no_ts = Record("x,h,1,2");
  no_ts.timestamp_ms = -1;
  ExpectFailure(kafka.Decode(no_ts), DecodeError::kMissingField, "record has no Kafka timestamp");
}

// ---------------------------------------------------------------------------------------------
// Factory

TEST(MakeDecoderTest, RejectsUnusableSources) {
  const auto error_of = [](const config::SourceOptions& source) {
    Result<std::unique_ptr<Decoder>> made = MakeDecoder(source);
    return made.ok() ? std::string("ok") : made.status().message();
  };
  config::SourceOptions source = JsonSource();
  source.topics.clear();
  EXPECT_EQ(error_of(source), "source 'metrics': no topics");
  source = JsonSource();
  source.value_fields.clear();
  EXPECT_EQ(error_of(source), "source 'metrics': no value_fields");
  source = JsonSource();
  source.value_fields = {"a..b"};
  EXPECT_EQ(error_of(source), "source 'metrics': value field 'a..b' has an empty path component");
  source = JsonSource();
  source.key_field = "host.";
  EXPECT_EQ(error_of(source), "source 'metrics': key_field 'host.' has an empty path component");

  source = CsvSource();
  source.csv_columns.clear();
  EXPECT_EQ(error_of(source), "source 'metrics': no csv_columns");
  source = CsvSource();
  source.csv_columns = {"ts", "host", "cpu", "cpu"};
  EXPECT_EQ(error_of(source), "source 'metrics': duplicate csv column 'cpu'");
  source = CsvSource();
  source.value_fields = {"cpu", "disk"};
  EXPECT_EQ(error_of(source), "source 'metrics': value field 'disk' is not in csv_columns");
  source = CsvSource();
  source.timestamp_field = "time";
  EXPECT_EQ(error_of(source), "source 'metrics': timestamp_field 'time' is not in csv_columns");
  source = CsvSource();
  source.csv_delimiter = '"';
  EXPECT_EQ(error_of(source), "source 'metrics': csv_delimiter cannot be a quote or line break");
}

TEST(MakeDecoderTest, ErrorNamesAreStable) {
  EXPECT_EQ(DecodeErrorName(DecodeError::kMalformed), "malformed");
  EXPECT_EQ(DecodeErrorName(DecodeError::kMissingField), "missing_field");
  EXPECT_EQ(DecodeErrorName(DecodeError::kBadType), "bad_type");
  EXPECT_EQ(DecodeErrorName(DecodeError::kBadValue), "bad_value");
  EXPECT_EQ(DecodeErrorName(DecodeError::kTooLarge), "too_large");
}

// ---------------------------------------------------------------------------------------------
// Timestamps

TEST(TimestampTest, EpochFormatsAreExact) {
  struct Case {
    TimestampFormat format;
    const char* text;
    int64_t want_ms;
  };
  const Case cases[] = {
      {TimestampFormat::kEpochMillis, "1706702400123", 1706702400123},
      {TimestampFormat::kEpochMillis, "0", 0},
      {TimestampFormat::kEpochMillis, "-0", 0},
      {TimestampFormat::kEpochMillis, "007", 7},
      {TimestampFormat::kEpochMillis, "-5", -5},
      {TimestampFormat::kEpochMillis, "1706702400123.999", 1706702400123},
      {TimestampFormat::kEpochMillis, "-1.5", -2},
      {TimestampFormat::kEpochMillis, "1.7067024e12", 1706702400000},
      {TimestampFormat::kEpochMillis, "17067024001230E-1", 1706702400123},
      {TimestampFormat::kEpochMillis, "9223372036854775807", INT64_MAX},
      {TimestampFormat::kEpochMillis, "-9223372036854775808", INT64_MIN},
      {TimestampFormat::kEpochMillis, "1e-1000000000", 0},
      {TimestampFormat::kEpochMillis, "-1e-1000000000", -1},
      {TimestampFormat::kEpochMillis, "0e999999999999", 0},
      {TimestampFormat::kEpochSeconds, "1706702400", 1706702400000},
      {TimestampFormat::kEpochSeconds, "1706702400.123", 1706702400123},
      {TimestampFormat::kEpochSeconds, "1706702400.1239", 1706702400123},
      {TimestampFormat::kEpochSeconds, "-0.0005", -1},
      {TimestampFormat::kEpochSeconds, "1e3", 1000000},
      {TimestampFormat::kEpochSeconds, "0.000000000000000000000000001", 0},
      {TimestampFormat::kEpochMicros, "1706702400123456", 1706702400123},
      {TimestampFormat::kEpochMicros, "1999", 1},
      {TimestampFormat::kEpochMicros, "-1", -1},
      {TimestampFormat::kEpochMicros, "1706702400123456.9", 1706702400123},
  };
  for (const Case& test_case : cases) {
    const Result<int64_t> got = ParseTimestampMillis(test_case.text, test_case.format);
    EXPECT_EQ(Status2String(got), "ok: " + std::to_string(test_case.want_ms))
        << TimestampFormatName(test_case.format) << " " << test_case.text;
  }
}

TEST(TimestampTest, EpochFormatErrors) {
  for (const char* text : {"", "-", "abc", "+1", " 1", "1 ", "1.", ".5", "1e", "1e+", "0x10", "nan",
                           "inf", "1,5", "1_000", "１"}) {
    EXPECT_EQ(Status2String(ParseTimestampMillis(text, TimestampFormat::kEpochMillis)),
              "invalid epoch_ms timestamp \"" +
                  std::string(std::string_view(text) == "１" ? "\\xef\\xbc\\x91" : text) + "\"");
  }
  EXPECT_EQ(
      Status2String(ParseTimestampMillis("9223372036854775808", TimestampFormat::kEpochMillis)),
      "epoch_ms timestamp \"9223372036854775808\" is out of range");
  EXPECT_EQ(
      Status2String(ParseTimestampMillis("-9223372036854775808.5", TimestampFormat::kEpochMillis)),
      "epoch_ms timestamp \"-9223372036854775808.5\" is out of range");
  EXPECT_EQ(Status2String(ParseTimestampMillis("9223372036854776", TimestampFormat::kEpochSeconds)),
            "epoch_s timestamp \"9223372036854776\" is out of range");
  EXPECT_EQ(Status2String(ParseTimestampMillis("1e99999999999", TimestampFormat::kEpochMicros)),
            "epoch_us timestamp \"1e99999999999\" is out of range");
  EXPECT_EQ(
      Status2String(ParseTimestampMillis(std::string(100, '7'), TimestampFormat::kEpochMillis)),
      "epoch_ms timestamp \"" + std::string(64, '7') + "\"... (100 bytes) is out of range");
  EXPECT_EQ(Status2String(ParseTimestampMillis("1", TimestampFormat::kKafka)),
            "timestamp format kafka takes no field value");
}

TEST(TimestampTest, Iso8601) {
  struct Case {
    const char* text;
    int64_t want_ms;
  };
  const Case cases[] = {
      {"2024-01-31T12:00:00Z", 1706702400000},
      {"2024-01-31t12:00:00z", 1706702400000},
      {"2024-01-31 12:00:00", 1706702400000},
      {"2024-01-31T12:00Z", 1706702400000},
      {"2024-01-31T12:00:00.1Z", 1706702400100},
      {"2024-01-31T12:00:00,25Z", 1706702400250},
      {"2024-01-31T12:00:00.123456789Z", 1706702400123},
      {"2024-01-31T14:00:00.123+02:00", 1706702400123},
      {"2024-01-31T14:00:00+0200", 1706702400000},
      {"2024-01-31T14:00:00+02", 1706702400000},
      {"2024-01-31T06:30:00-05:30", 1706702400000},
      {"2024-01-31T06:30:00-0530", 1706702400000},
      {"2024-02-01T11:59:00+23:59", 1706702400000},
      {"1970-01-01T00:00:00Z", 0},
      {"1969-12-31T23:59:59.999Z", -1},
      {"2000-02-29T00:00:00Z", 951782400000},
      {"2024-02-29T00:00:00Z", 1709164800000},
      {"0000-01-01T00:00:00Z", -62167219200000},
      {"9999-12-31T23:59:59.999Z", 253402300799999},
  };
  for (const Case& test_case : cases) {
    EXPECT_EQ(Status2String(ParseTimestampMillis(test_case.text, TimestampFormat::kIso8601)),
              "ok: " + std::to_string(test_case.want_ms))
        << test_case.text;
  }
}

TEST(TimestampTest, Iso8601Errors) {
  struct Case {
    const char* text;
    const char* reason;
  };
  const Case cases[] = {
      {"", "expected YYYY-MM-DD"},
      {"2024-1-31T12:00:00Z", "expected YYYY-MM-DD"},
      {"24-01-31T12:00:00Z", "expected YYYY-MM-DD"},
      {"+2024-01-31T12:00:00Z", "expected YYYY-MM-DD"},
      {"2024-01-31", "expected 'T' after the date"},
      {"2024-01-31X12:00:00", "expected 'T' after the date"},
      {"2024-01-31T12", "expected hh:mm"},
      {"2024-01-31T12:0", "expected hh:mm"},
      {"2024-01-31T12:00:0", "expected two-digit seconds"},
      {"2024-01-31T12:00:00.Z", "expected digits after the decimal point"},
      {"2024-01-31T12:00:00+2", "expected offset hh[:mm]"},
      {"2024-01-31T12:00:00+02:0", "expected offset hh[:mm]"},
      {"2024-01-31T12:00:00+020", "expected offset hh[:mm]"},
      {"2024-01-31T12:00:00+24:00", "offset out of range"},
      {"2024-01-31T12:00:00+02:60", "offset out of range"},
      {"2024-01-31T12:00:00Z ", "unexpected characters after the time"},
      {"2024-01-31T12:00:00ZZ", "unexpected characters after the time"},
      {"2024-01-31T12:00:00 UTC", "unexpected characters after the time"},
      {"2024-13-01T00:00:00Z", "month 13 is out of range"},
      {"2024-00-10T00:00:00Z", "month 0 is out of range"},
      {"2024-02-30T00:00:00Z", "day 30 is out of range for 2024-02"},
      {"2023-02-29T00:00:00Z", "day 29 is out of range for 2023-02"},
      {"1900-02-29T00:00:00Z", "day 29 is out of range for 1900-02"},
      {"2024-04-31T00:00:00Z", "day 31 is out of range for 2024-04"},
      {"2024-01-00T00:00:00Z", "day 0 is out of range for 2024-01"},
      {"2024-01-31T24:00:00Z", "hour 24 is out of range"},
      {"2024-01-31T12:60:00Z", "minute 60 is out of range"},
      {"2024-12-31T23:59:60Z", "second 60 is out of range"},
  };
  for (const Case& test_case : cases) {
    EXPECT_EQ(
        Status2String(ParseTimestampMillis(test_case.text, TimestampFormat::kIso8601)),
        "invalid iso8601 timestamp \"" + std::string(test_case.text) + "\": " + test_case.reason);
  }
}

// Cross-checks the hand-written calendar against std::chrono's.
TEST(TimestampTest, Iso8601AgreesWithChronoCalendar) {
  constexpr uint64_t kSeed = 301;
  SCOPED_TRACE("seed " + std::to_string(kSeed));
  std::mt19937_64 rng(kSeed);
  for (int iteration = 0; iteration < 20000; ++iteration) {
    const int year = static_cast<int>(rng() % 10000);
    const unsigned month = static_cast<unsigned>(rng() % 12 + 1);
    const std::chrono::year_month_day_last last{std::chrono::year{year} / month /
                                                std::chrono::last};
    const unsigned day = static_cast<unsigned>(rng() % unsigned{last.day()} + 1);
    const int seconds_of_day = static_cast<int>(rng() % 86400);
    const int millis = static_cast<int>(rng() % 1000);
    const int offset_minutes = static_cast<int>(rng() % (2 * 1440 - 1)) - 1439;
    char text[64];
    std::snprintf(text, sizeof(text), "%04d-%02u-%02uT%02d:%02d:%02d.%03d%c%02d:%02d", year, month,
                  day, seconds_of_day / 3600, seconds_of_day / 60 % 60, seconds_of_day % 60, millis,
                  offset_minutes < 0 ? '-' : '+', std::abs(offset_minutes) / 60,
                  std::abs(offset_minutes) % 60);
    const std::chrono::sys_days days{std::chrono::year{year} / month / day};
    const int64_t want = (int64_t{days.time_since_epoch().count()} * 86400 + seconds_of_day -
                          int64_t{offset_minutes} * 60) *
                             1000 +
                         millis;
    ASSERT_EQ(Status2String(ParseTimestampMillis(text, TimestampFormat::kIso8601)),
              "ok: " + std::to_string(want))
        << text;
  }
}

TEST(TimestampTest, DoubleOverload) {
  EXPECT_EQ(Status2String(ParseTimestampMillis(1706702400.123, TimestampFormat::kEpochSeconds)),
            "ok: 1706702400123");
  EXPECT_EQ(Status2String(ParseTimestampMillis(1706702400123.0, TimestampFormat::kEpochMillis)),
            "ok: 1706702400123");
  EXPECT_EQ(Status2String(ParseTimestampMillis(1.5, TimestampFormat::kEpochMillis)), "ok: 1");
  EXPECT_EQ(Status2String(ParseTimestampMillis(-1.5, TimestampFormat::kEpochMillis)), "ok: -2");
  EXPECT_EQ(Status2String(ParseTimestampMillis(1706702400123456.0, TimestampFormat::kEpochMicros)),
            "ok: 1706702400123");
  EXPECT_EQ(Status2String(ParseTimestampMillis(1e-300, TimestampFormat::kEpochSeconds)), "ok: 0");
  EXPECT_EQ(Status2String(ParseTimestampMillis(1e300, TimestampFormat::kEpochSeconds)),
            "epoch_s timestamp \"1e+300\" is out of range");
  EXPECT_EQ(Status2String(ParseTimestampMillis(std::nan(""), TimestampFormat::kEpochMillis)),
            "epoch_ms timestamp is not finite");
  EXPECT_EQ(Status2String(ParseTimestampMillis(-HUGE_VAL, TimestampFormat::kEpochMillis)),
            "epoch_ms timestamp is not finite");
  EXPECT_EQ(Status2String(ParseTimestampMillis(1.0, TimestampFormat::kIso8601)),
            "timestamp format iso8601 takes no numeric value");
}

// ---------------------------------------------------------------------------------------------
// Robustness

// Random bytes and mutated valid records: every input decodes or fails with a reason, the same
// way twice, and a decoded event is complete.
TEST(DecoderFuzzTest, EveryInputDecodesOrFailsWithAReason) {
  constexpr uint64_t kSeed = 301;
  SCOPED_TRACE("seed " + std::to_string(kSeed));
  std::mt19937_64 rng(kSeed);
  DecoderHarness json(JsonSource());
  config::SourceOptions nested = JsonSource();
  nested.value_fields = {"a.b", "mem"};
  DecoderHarness json_nested(nested);
  DecoderHarness csv(CsvSource());
  const std::vector<std::string> seeds = {
      R"({"host":"web-1","ts":1706702400123,"cpu":0.5,"mem":-12,"tags":[1,{"x":null}]})",
      R"({"a":{"b":1.5e3},"host":7,"ts":-1.25,"mem":"x\u00e9\"","cpu":[true,false]})",
      "1706702400123,\"web,1 \"\"x\"\"\",0.5,-12\r\n",
      "1,h,1e5,2",
  };
  const std::string alphabet = "{}[]\",:.-+eE0123456789 \\\r\ntrufalsn\x80\xff";
  int decoded = 0;
  for (int iteration = 0; iteration < 20000; ++iteration) {
    std::string input;
    if (iteration % 2 == 0) {
      const size_t size = rng() % 48;
      const bool from_alphabet = rng() % 2 == 0;
      for (size_t idx = 0; idx < size; ++idx) {
        input += from_alphabet ? alphabet[rng() % alphabet.size()] : static_cast<char>(rng());
      }
    } else {
      input = seeds[rng() % seeds.size()];
      const int mutations = static_cast<int>(rng() % 4) + 1;
      for (int mutation = 0; mutation < mutations && !input.empty(); ++mutation) {
        const size_t pos = rng() % input.size();
        switch (rng() % 4) {
          case 0:
            input[pos] = alphabet[rng() % alphabet.size()];
            break;
          case 1:
            input.erase(pos, 1);
            break;
          case 2:
            input.insert(pos, 1, static_cast<char>(rng()));
            break;
          default:
            input.resize(pos);
            break;
        }
      }
    }
    for (const DecoderHarness* harness : {&json, &json_nested, &csv}) {
      const Outcome first = harness->Decode(input);
      const Outcome second = harness->Decode(input);
      ASSERT_EQ(first.ok, second.ok) << input;
      if (first.ok) {
        ++decoded;
        ASSERT_EQ(first.event.values.size(), 2u) << input;
        for (const double value : first.event.values) ASSERT_TRUE(std::isfinite(value)) << input;
        ASSERT_NE(first.event.schema, nullptr);
        ASSERT_NE(first.event.origin.topic, nullptr);
        ASSERT_EQ(first.event.values, second.event.values);
        ASSERT_EQ(first.event.key, second.event.key);
      } else {
        ASSERT_FALSE(first.failure.detail.empty()) << input;
        ASSERT_NE(DecodeErrorName(first.failure.error), "unknown") << input;
        ASSERT_EQ(first.failure.detail, second.failure.detail) << input;
      }
    }
  }
  EXPECT_GT(decoded, 0);  // the mutations leave some records intact
}

TEST(DecoderConcurrencyTest, TwoThreadsShareOneDecoder) {
  for (const config::SourceOptions& source : {JsonSource(), CsvSource()}) {
    DecoderHarness harness(source);
    const bool is_json = source.format == config::RecordFormat::kJson;
    std::atomic<int> mismatches{0};
    const auto work = [&](int thread_idx) {
      for (int idx = 0; idx < 20000; ++idx) {
        const int value = thread_idx * 1'000'000 + idx;
        std::string payload;
        if (is_json) {
          payload = R"({"host":"t)" + std::to_string(thread_idx) + R"(","ts":)" +
                    std::to_string(idx) + R"(,"cpu":)" + std::to_string(value) + R"(,"mem":1})";
        } else {
          payload = std::to_string(idx) + ",t" + std::to_string(thread_idx) + "," +
                    std::to_string(value) + ",1";
        }
        if (idx % 3 == 0) payload.pop_back();  // malformed
        const Outcome outcome = harness.Decode(payload);
        const bool want_ok = idx % 3 != 0;
        if (outcome.ok != want_ok ||
            (want_ok && (outcome.event.values[0] != value || outcome.event.event_time_ms != idx ||
                         outcome.event.key != "t" + std::to_string(thread_idx)))) {
          mismatches.fetch_add(1);
        }
      }
    };
    std::thread other(work, 1);
    work(0);
    other.join();
    EXPECT_EQ(mismatches.load(), 0) << (is_json ? "json" : "csv");
  }
}

}  // namespace
}  // namespace osprey::daemon
