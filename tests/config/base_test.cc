// Unit tests of config/base: Status/Result, JsonWriter, ByteWriter/ByteReader, MetricsRegistry.
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "config/base/bytes.h"
#include "config/base/json_writer.h"
#include "config/base/metrics.h"
#include "config/base/status.h"

namespace osprey {
namespace {

// ---- Status / Result ----

Status FailIfNegative(int v) {
  if (v < 0) return Status::InvalidArgument("negative: " + std::to_string(v));
  return Status::Ok();
}

Result<int> Half(int v) {
  OSPREY_RETURN_IF_ERROR(FailIfNegative(v));
  if (v % 2 != 0) return Status::InvalidArgument("odd");
  return v / 2;
}

Result<int> Quarter(int v) {
  OSPREY_ASSIGN_OR_RETURN(int half, Half(v));
  OSPREY_ASSIGN_OR_RETURN(int quarter, Half(half));
  return quarter;
}

TEST(StatusTest, OkAndErrorsCarryCodeAndMessage) {
  EXPECT_TRUE(Status::Ok().ok());
  EXPECT_EQ(Status().ToString(), "OK");
  const Status s = Status::NotFound("no such model");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Status::Code::kNotFound);
  EXPECT_EQ(s.message(), "no such model");
  EXPECT_EQ(s.ToString(), "NotFound: no such model");
  EXPECT_EQ(Status::Corruption("x").ToString(), "Corruption: x");
  EXPECT_EQ(Status::IOError("x").ToString(), "IOError: x");
  EXPECT_EQ(Status::Unavailable("x").ToString(), "Unavailable: x");
  EXPECT_EQ(Status::ResourceExhausted("x").ToString(), "ResourceExhausted: x");
  EXPECT_EQ(Status::Internal("x").ToString(), "Internal: x");
  EXPECT_EQ(CodeName(Status::Code::kInvalidArgument), "InvalidArgument");
}

TEST(StatusTest, ResultHoldsValueOrStatus) {
  Result<std::string> value(std::string("abc"));
  ASSERT_TRUE(value.ok());
  EXPECT_EQ(*value, "abc");
  EXPECT_EQ(value->size(), 3u);
  EXPECT_TRUE(value.status().ok());
  Result<std::string> error(Status::Unavailable("broker down"));
  EXPECT_FALSE(error.ok());
  EXPECT_EQ(error.status().ToString(), "Unavailable: broker down");
}

TEST(StatusTest, MacrosReturnEarly) {
  EXPECT_EQ(*Quarter(12), 3);
  EXPECT_EQ(Quarter(-4).status().message(), "negative: -4");
  EXPECT_EQ(Quarter(6).status().message(), "odd");  // 6 / 2 = 3 is odd
}

// ---- JsonWriter ----

std::string Json(std::string_view s) {
  std::string out;
  AppendJsonString(out, s);
  return out;
}

TEST(JsonWriterTest, EscapesQuotesBackslashesAndControlChars) {
  EXPECT_EQ(Json("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(Json("\n\r\t\b\f"), R"("\n\r\t\b\f")");
  EXPECT_EQ(Json(std::string_view("\x01\x1f\0", 3)), R"("\u0001\u001f\u0000")");
  EXPECT_EQ(Json("/ and \x7f stay"), "\"/ and \x7f stay\"");
}

TEST(JsonWriterTest, KeepsValidUtf8AndReplacesInvalidWithReplacementChar) {
  EXPECT_EQ(Json("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x90\xA6"),
            "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x90\xA6\"");
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(Json("a\xFF"
                 "b"),
            "\"a" + fffd + "b\"");                                               // never valid
  EXPECT_EQ(Json("\xE2\x82"), "\"" + fffd + fffd + "\"");                        // truncated
  EXPECT_EQ(Json("\xC0\xAF"), "\"" + fffd + fffd + "\"");                        // overlong '/'
  EXPECT_EQ(Json("\xED\xA0\x80"), "\"" + fffd + fffd + fffd + "\"");             // UTF-16 surrogate
  EXPECT_EQ(Json("\xF4\x90\x80\x80"), "\"" + fffd + fffd + fffd + fffd + "\"");  // > U+10FFFF
}

TEST(JsonWriterTest, WritesNestedValuesAndNonFiniteAsNull) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject()
      .Key("a")
      .Int(-5)
      .Key("b")
      .BeginArray()
      .Double(0.1)
      .Double(std::nan(""))
      .Double(INFINITY)
      .Bool(true)
      .Null()
      .EndArray()
      .Key("c\n")
      .String("x")
      .Key("d")
      .BeginObject()
      .EndObject()
      .Key("e")
      .Int(std::numeric_limits<int64_t>::min())
      .EndObject();
  EXPECT_EQ(out,
            R"({"a":-5,"b":[0.1,null,null,true,null],"c\n":"x","d":{},"e":-9223372036854775808})");
}

// ---- ByteWriter / ByteReader ----

TEST(BytesTest, RoundTripsEveryType) {
  std::string buf;
  ByteWriter w(&buf);
  w.Put<uint32_t>(0xDEADBEEF);
  w.Put<double>(-2.5);
  w.Put<int8_t>(-1);
  w.PutVarint(300);
  w.PutVarint(std::numeric_limits<uint64_t>::max());
  w.PutString("hello");
  w.PutString("");
  w.PutVector(std::vector<float>{1.5F, -3.0F});

  ByteReader r(buf);
  uint32_t u32 = 0;
  double d = 0;
  int8_t i8 = 0;
  uint64_t v1 = 0;
  uint64_t v2 = 0;
  std::string s1;
  std::string s2 = "x";
  std::vector<float> floats;
  ASSERT_TRUE(r.Get(&u32));
  ASSERT_TRUE(r.Get(&d));
  ASSERT_TRUE(r.Get(&i8));
  ASSERT_TRUE(r.GetVarint(&v1));
  ASSERT_TRUE(r.GetVarint(&v2));
  ASSERT_TRUE(r.GetString(&s1));
  ASSERT_TRUE(r.GetString(&s2));
  ASSERT_TRUE(r.GetVector(&floats));
  EXPECT_TRUE(r.done());
  EXPECT_EQ(u32, 0xDEADBEEF);
  EXPECT_EQ(d, -2.5);
  EXPECT_EQ(i8, -1);
  EXPECT_EQ(v1, 300u);
  EXPECT_EQ(v2, std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(s1, "hello");
  EXPECT_EQ(s2, "");
  EXPECT_EQ(floats, (std::vector<float>{1.5F, -3.0F}));
  EXPECT_EQ(buf.substr(13, 2), "\xAC\x02");  // 300 as a varint, after 4 + 8 + 1 fixed bytes
}

// Reads the record written above; false at the first Get that fails.
bool ReadRecord(std::string_view in) {
  ByteReader r(in);
  uint32_t u32 = 0;
  uint64_t v = 0;
  std::string s;
  std::vector<double> values;
  return r.Get(&u32) && r.GetVarint(&v) && r.GetString(&s) && r.GetVector(&values) && r.done();
}

TEST(BytesTest, EveryTruncationIsDetected) {
  std::string buf;
  ByteWriter w(&buf);
  w.Put<uint32_t>(7);
  w.PutVarint(1u << 20);
  w.PutString("abcdef");
  w.PutVector(std::vector<double>{1, 2, 3});
  ASSERT_TRUE(ReadRecord(buf));
  for (size_t len = 0; len < buf.size(); ++len) {
    EXPECT_FALSE(ReadRecord(std::string_view(buf).substr(0, len))) << "prefix of " << len;
  }
}

TEST(BytesTest, RejectsOverlongVarintAndOversizedLengths) {
  ByteReader overlong(std::string(10, '\x80') + '\x01');
  uint64_t v = 0;
  EXPECT_FALSE(overlong.GetVarint(&v));

  std::string buf;
  ByteWriter w(&buf);
  w.PutVarint(1000);  // claims 1000 elements, holds none
  std::vector<int32_t> ints;
  EXPECT_FALSE(ByteReader(buf).GetVector(&ints));
  std::string s;
  EXPECT_FALSE(ByteReader(buf).GetString(&s));

  buf.clear();
  w.PutVector(std::vector<int32_t>{1, 2, 3});
  EXPECT_FALSE(ByteReader(buf).GetVector(&ints, /*max_elements=*/2));
  EXPECT_TRUE(ByteReader(buf).GetVector(&ints, /*max_elements=*/3));
}

// ---- MetricsRegistry ----

TEST(MetricsTest, RendersPrometheusTextSortedByFamily) {
  MetricsRegistry registry;
  registry.GetCounter("osprey_records_total", "Records read.", {{"topic", "a\"b\\c\nd"}}).Inc(3);
  registry.GetCounter("osprey_records_total", "Records read.", {{"topic", "plain"}}).Inc();
  registry.GetGauge("osprey_lag", "Consumer lag.").Set(2.5);
  registry.GetGauge("osprey_lag", "Consumer lag.").Add(-4);
  Histogram& h =
      registry.GetHistogram("osprey_latency_seconds", "Latency.", {0.125, 1}, {{"op", "z"}});
  h.Observe(0.0625);
  h.Observe(1);  // upper bounds are inclusive ("le")
  h.Observe(3.5);
  h.Observe(0.125);
  EXPECT_EQ(
      &h, &registry.GetHistogram("osprey_latency_seconds", "Latency.", {0.125, 1}, {{"op", "z"}}));

  EXPECT_EQ(registry.Render(),
            "# HELP osprey_lag Consumer lag.\n"
            "# TYPE osprey_lag gauge\n"
            "osprey_lag -1.5\n"
            "# HELP osprey_latency_seconds Latency.\n"
            "# TYPE osprey_latency_seconds histogram\n"
            "osprey_latency_seconds_bucket{op=\"z\",le=\"0.125\"} 2\n"
            "osprey_latency_seconds_bucket{op=\"z\",le=\"1\"} 3\n"
            "osprey_latency_seconds_bucket{op=\"z\",le=\"+Inf\"} 4\n"
            "osprey_latency_seconds_sum{op=\"z\"} 4.6875\n"
            "osprey_latency_seconds_count{op=\"z\"} 4\n"
            "# HELP osprey_records_total Records read.\n"
            "# TYPE osprey_records_total counter\n"
            "osprey_records_total{topic=\"a\\\"b\\\\c\\nd\"} 3\n"
            "osprey_records_total{topic=\"plain\"} 1\n");
}

TEST(MetricsTest, HistogramCountsPerBucket) {
  Histogram h({1, 2, 4});
  for (double v : {0.5, 1.0, 1.5, 3.0, 3.9, 100.0}) h.Observe(v);
  EXPECT_EQ(h.BucketCounts(), (std::vector<uint64_t>{2, 1, 2, 1}));
  EXPECT_EQ(h.count(), 6u);
  EXPECT_DOUBLE_EQ(h.sum(), 109.9);
}

TEST(MetricsTest, RendersNonFiniteGauges) {
  MetricsRegistry registry;
  registry.GetGauge("g_nan", "n").Set(std::nan(""));
  registry.GetGauge("g_pinf", "p").Set(INFINITY);
  EXPECT_EQ(registry.Render(),
            "# HELP g_nan n\n# TYPE g_nan gauge\ng_nan NaN\n"
            "# HELP g_pinf p\n# TYPE g_pinf gauge\ng_pinf +Inf\n");
}

}  // namespace
}  // namespace osprey
