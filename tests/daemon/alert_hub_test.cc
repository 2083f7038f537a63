// Tests for daemon/alert_hub.h without sockets: glob, filters, rendering, seq, ring, resume.
#include "daemon/alert_hub.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace osprey::daemon {
namespace {

Alert MakeAlert(std::string pipeline, std::string key, std::optional<double> grade = 0.9) {
  Alert alert;
  alert.pipeline = std::move(pipeline);
  alert.key = std::move(key);
  alert.event_time_ms = 1714564800250;  // 2024-05-01T12:00:00.250Z
  alert.score = 3.5;
  alert.grade = grade;
  return alert;
}

// Records what a subscription receives.
struct Recorder {
  std::vector<AlertHub::Message> messages;
  AlertHub::Callback Callback() {
    return [this](const AlertHub::Message& message) { messages.push_back(message); };
  }
  std::vector<uint64_t> Seqs() const {
    std::vector<uint64_t> seqs;
    for (const auto& message : messages) seqs.push_back(message.seq);
    return seqs;
  }
};

TEST(GlobMatchTest, StarAndQuestionMark) {
  EXPECT_TRUE(GlobMatch("", ""));
  EXPECT_FALSE(GlobMatch("", "a"));
  EXPECT_TRUE(GlobMatch("*", ""));
  EXPECT_TRUE(GlobMatch("*", "anything"));
  EXPECT_TRUE(GlobMatch("host-*", "host-01"));
  EXPECT_TRUE(GlobMatch("host-*", "host-"));
  EXPECT_FALSE(GlobMatch("host-*", "hos"));
  EXPECT_TRUE(GlobMatch("host-??", "host-01"));
  EXPECT_FALSE(GlobMatch("host-??", "host-1"));
  EXPECT_TRUE(GlobMatch("*-db-*", "eu-db-7"));
  EXPECT_TRUE(GlobMatch("a*b*c", "aXXbYYbZc"));
  EXPECT_FALSE(GlobMatch("a*b*c", "aXXbYYbZ"));
  EXPECT_TRUE(GlobMatch("**a", "ba"));
  EXPECT_FALSE(GlobMatch("exact", "exactly"));
}

TEST(AlertFilterTest, PipelineKeyAndMinGrade) {
  AlertFilter none;
  EXPECT_TRUE(none.Matches(MakeAlert("p", "k", std::nullopt)));

  AlertFilter filter;
  filter.pipeline = "p1";
  filter.key_glob = "host-*";
  filter.min_grade = 0.5;
  EXPECT_TRUE(filter.Matches(MakeAlert("p1", "host-1", 0.5)));
  EXPECT_FALSE(filter.Matches(MakeAlert("p2", "host-1", 0.9)));
  EXPECT_FALSE(filter.Matches(MakeAlert("p1", "db-1", 0.9)));
  EXPECT_FALSE(filter.Matches(MakeAlert("p1", "host-1", 0.49)));
  // No grade counts as 1.0.
  EXPECT_TRUE(filter.Matches(MakeAlert("p1", "host-1", std::nullopt)));
}

TEST(AlertRenderTest, AlertmanagerFieldsAndOspreyFields) {
  Alert alert = MakeAlert("cpu", "host \"1\"", 0.75);
  alert.values_json = R"({"cpu":0.97})";
  alert.attribution_json = R"({"cpu":1.0})";
  alert.source_topic = "metrics";
  alert.partition = 2;
  alert.offset = 42;
  const std::string json = RenderAlertJson(alert, 7);
  const std::string fingerprint = AlertFingerprint("cpu", "host \"1\"");
  EXPECT_EQ(fingerprint.size(), 16u);
  EXPECT_EQ(json,
            R"({"type":"alert","seq":7,"status":"firing",)"
            R"("labels":{"alertname":"OspreyAnomaly","pipeline":"cpu","key":"host \"1\""},)"
            R"("annotations":{"summary":"Anomaly in pipeline 'cpu' for key 'host \"1\"': )"
            R"(score 3.5, grade 0.75"},)"
            R"("startsAt":"2024-05-01T12:00:00.250Z","endsAt":"2024-05-01T12:05:00.250Z",)"
            R"("fingerprint":")" +
                fingerprint +
                R"(","score":3.5,"grade":0.75,"values":{"cpu":0.97},"attribution":{"cpu":1.0},)"
                R"("expected":null,"source":{"topic":"metrics","partition":2,"offset":42}})");

  Alert no_grade = MakeAlert("cpu", "k", std::nullopt);
  EXPECT_NE(RenderAlertJson(no_grade, 1).find(R"("grade":null)"), std::string::npos);
}

TEST(AlertRenderTest, FingerprintIsStableAndSeparatesFields) {
  EXPECT_EQ(AlertFingerprint("p", "k"), AlertFingerprint("p", "k"));
  EXPECT_NE(AlertFingerprint("ab", "c"), AlertFingerprint("a", "bc"));
  EXPECT_EQ(AlertFingerprint("", ""), "af63bd4c8601b7df");  // FNV-1a 64 of "\0"
}

TEST(AlertRenderTest, Rfc3339) {
  EXPECT_EQ(FormatRfc3339Millis(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatRfc3339Millis(951782400001), "2000-02-29T00:00:00.001Z");
  EXPECT_EQ(FormatRfc3339Millis(-1), "1969-12-31T23:59:59.999Z");
}

TEST(AlertHubTest, LiveDeliveryInSeqOrderWithFilter) {
  AlertHub hub;
  Recorder all;
  Recorder p1;
  AlertFilter p1_filter;
  p1_filter.pipeline = "p1";
  auto sub_all = hub.Subscribe({}, std::nullopt, all.Callback());
  auto sub_p1 = hub.Subscribe(p1_filter, std::nullopt, p1.Callback());
  EXPECT_EQ(hub.subscriber_count(), 2u);

  EXPECT_EQ(hub.Publish(MakeAlert("p1", "a")), 1u);
  EXPECT_EQ(hub.Publish(MakeAlert("p2", "a")), 2u);
  EXPECT_EQ(hub.Publish(MakeAlert("p1", "b")), 3u);
  EXPECT_EQ(all.Seqs(), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(p1.Seqs(), (std::vector<uint64_t>{1, 3}));
  EXPECT_EQ(*all.messages[1].json, RenderAlertJson(MakeAlert("p2", "a"), 2));
  EXPECT_EQ(all.messages[0].kind, AlertHub::Message::Kind::kLive);

  sub_p1.Reset();
  EXPECT_EQ(hub.subscriber_count(), 1u);
  hub.Publish(MakeAlert("p1", "c"));
  EXPECT_EQ(p1.Seqs().size(), 2u);
  EXPECT_EQ(all.Seqs().size(), 4u);
}

TEST(AlertHubTest, ResumeReplaysFromTheRingThenGoesLive) {
  AlertHub hub(AlertHubOptions{.ring_capacity = 4});
  EXPECT_EQ(hub.oldest_retained_seq(), 0u);
  for (int idx = 0; idx < 6; ++idx) hub.Publish(MakeAlert("p", "k" + std::to_string(idx)));
  EXPECT_EQ(hub.last_seq(), 6u);
  EXPECT_EQ(hub.oldest_retained_seq(), 3u);  // 3..6 retained

  // Within the ring: exactly the missed ones, then live.
  Recorder resumed;
  auto sub = hub.Subscribe({}, 4, resumed.Callback());
  EXPECT_EQ(resumed.Seqs(), (std::vector<uint64_t>{5, 6}));
  EXPECT_EQ(resumed.messages[0].kind, AlertHub::Message::Kind::kReplay);
  hub.Publish(MakeAlert("p", "live"));
  EXPECT_EQ(resumed.Seqs(), (std::vector<uint64_t>{5, 6, 7}));

  // Older than the ring (retained now: 4..7): a gap notice for 2 and 3, then 4..7.
  Recorder late;
  auto sub_late = hub.Subscribe({}, 1, late.Callback());
  ASSERT_EQ(late.messages.size(), 5u);
  EXPECT_EQ(late.messages[0].kind, AlertHub::Message::Kind::kGap);
  EXPECT_EQ(*late.messages[0].json, R"({"type":"lost","count":2,"reason":"evicted"})");
  EXPECT_EQ(late.messages[1].seq, 4u);
  EXPECT_EQ(late.messages[4].seq, 7u);

  // Up to date, or from the future: nothing replayed. No resume: live only.
  Recorder current;
  auto sub_current = hub.Subscribe({}, 7, current.Callback());
  auto sub_future = hub.Subscribe({}, 100, current.Callback());
  auto sub_live = hub.Subscribe({}, std::nullopt, current.Callback());
  EXPECT_TRUE(current.messages.empty());

  // The replay applies the filter too.
  AlertFilter filter;
  filter.key_glob = "k5";
  Recorder filtered;
  auto sub_filtered = hub.Subscribe(filter, 0, filtered.Callback());
  ASSERT_EQ(filtered.messages.size(), 2u);  // the gap notice (1..3 evicted), then seq 6
  EXPECT_EQ(*filtered.messages[0].json, R"({"type":"lost","count":3,"reason":"evicted"})");
  EXPECT_EQ(filtered.messages[1].seq, 6u);
}

TEST(AlertHubTest, SubscriptionMayEndItselfInsideItsCallback) {
  AlertHub hub;
  auto subscription = std::make_unique<AlertHub::Subscription>();
  int calls = 0;
  *subscription = hub.Subscribe({}, std::nullopt, [&](const AlertHub::Message&) {
    ++calls;
    subscription->Reset();
  });
  Recorder other;
  auto sub_other = hub.Subscribe({}, std::nullopt, other.Callback());
  hub.Publish(MakeAlert("p", "k"));
  hub.Publish(MakeAlert("p", "k"));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(other.messages.size(), 2u);
  EXPECT_EQ(hub.subscriber_count(), 1u);
}

TEST(AlertHubTest, SubscriptionMovesAndResetsOnce) {
  AlertHub hub;
  Recorder recorder;
  AlertHub::Subscription first = hub.Subscribe({}, std::nullopt, recorder.Callback());
  AlertHub::Subscription second = std::move(first);
  EXPECT_FALSE(first.active());  // NOLINT(bugprone-use-after-move): moved-from is inactive
  EXPECT_TRUE(second.active());
  first.Reset();
  EXPECT_EQ(hub.subscriber_count(), 1u);
  second = AlertHub::Subscription();
  EXPECT_EQ(hub.subscriber_count(), 0u);
}

}  // namespace
}  // namespace osprey::daemon
