#include "operators/rcf_operator.h"
#include "tests/operators/operator_test_util.h"

#include "operators/hotspot_operator.h"
#include "operators/operator_factory.h"
#include "operators/window_operator.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "operators/baseline_operator.h"
#include "tests/testing/fake_clock.h"

namespace osprey::operators {
namespace {

using test_util::Collect;
using test_util::Dirty;

const auto kSchema = std::make_shared<const Schema>(Schema{{"cpu", "latency"}});

Event MakeEvent(const std::string& key, std::vector<double> values) {
  Event e;
  e.key = key;
  e.values = std::move(values);
  e.schema = kSchema;
  return e;
}

// A smooth periodic two-value signal with a little deterministic wobble.
std::vector<double> Normal(int i) {
  return {10 + 2 * std::sin(i * 0.3) + 0.1 * (i % 3), 50 + std::cos(i * 0.3)};
}

config::OperatorOptions Options() {
  config::OperatorOptions options;
  options.name = "forest";
  options.kind = config::OperatorKind::kRcf;
  options.rcf.number_of_trees = 30;
  options.rcf.sample_size = 64;
  options.rcf.shingle_size = 2;
  return options;
}

TEST(OperatorFactoryTest, BuildsEveryKindAndRejectsInvalidOptions) {
  testing::FakeClock clock;
  OperatorContext context{clock, {}};
  auto op = MakeOperator(Options(), context);
  ASSERT_TRUE(op.ok()) << op.status().ToString();
  EXPECT_NE(dynamic_cast<RcfOperator*>(op->get()), nullptr);
  EXPECT_EQ((*op)->name(), "forest");

  config::OperatorOptions window = Options();
  window.kind = config::OperatorKind::kWindow;
  window.window.aggregates = {{}};  // a count over tumbling 1-minute windows
  auto w = MakeOperator(window, context);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_NE(dynamic_cast<WindowOperator*>(w->get()), nullptr);
  window.window.size_ms = 0;
  auto bad = MakeOperator(window, context);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("operator 'forest'"), std::string::npos)
      << bad.status().message();

  config::OperatorOptions hot = Options();
  hot.kind = config::OperatorKind::kHotspots;
  auto h = MakeOperator(hot, context);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_NE(dynamic_cast<HotspotOperator*>(h->get()), nullptr);
}

TEST(RcfOperatorTest, SpikeIsGradedAlertedAndExplained) {
  testing::FakeClock clock;
  RcfOperator op(Options(), clock);
  Collect out;
  for (int i = 0; i < 400; ++i) op.Process(MakeEvent("a", Normal(i)), out);
  std::vector<double> spike = Normal(400);
  spike[0] += 40;
  op.Process(MakeEvent("a", spike), out);
  ASSERT_EQ(out.events.size(), 401u);
  int alerts_before = 0;
  double max_before = 0;
  for (size_t i = 0; i < 400; ++i) {
    alerts_before += out.events[i].alert ? 1 : 0;
    ASSERT_TRUE(out.events[i].score.has_value()) << i;
    if (i >= 200) max_before = std::max(max_before, *out.events[i].score);
  }
  EXPECT_LE(alerts_before, 2);
  const Event& e = out.events.back();
  ASSERT_TRUE(e.score.has_value());
  EXPECT_GT(*e.score, max_before);
  EXPECT_TRUE(e.alert);
  const std::string& a = e.annotations;
  EXPECT_EQ(a.rfind("\"grade\":", 0), 0u) << a;
  // Far outside the range seen so far: the first report of an episode.
  EXPECT_NE(a.find("\"anomaly_score\":1,"), std::string::npos) << a;
  for (const char* part : {"\"confidence\":", "\"threshold\":", "\"attribution\":{\"cpu\":{",
                           "\"ATTRIBUTION_SCORE\":", "\"STRENGTH\":", "\"DIRECTION\":\"HIGH\"",
                           "\"latency\":{", "\"expected\":{\"cpu\":", "\"relative_index\":0"}) {
    EXPECT_NE(a.find(part), std::string::npos) << part << " in " << a;
  }
  // A quiet event carries the grade fields and an empty attribution only.
  const std::string& quiet = out.events[300].annotations;
  EXPECT_NE(quiet.find("\"attribution\":{}"), std::string::npos) << quiet;
  EXPECT_NE(quiet.find("\"anomaly_score\":"), std::string::npos) << quiet;
  EXPECT_EQ(quiet.find("\"expected\""), std::string::npos) << quiet;
}

TEST(RcfOperatorTest, LowSpikeHasDirectionLow) {
  testing::FakeClock clock;
  RcfOperator op(Options(), clock);
  Collect out;
  for (int i = 0; i < 400; ++i) op.Process(MakeEvent("a", Normal(i)), out);
  std::vector<double> dip = Normal(400);
  dip[1] -= 60;
  op.Process(MakeEvent("a", dip), out);
  const std::string& a = out.events.back().annotations;
  EXPECT_TRUE(out.events.back().alert) << a;
  EXPECT_NE(a.find("\"latency\":{\"ATTRIBUTION_SCORE\""), std::string::npos) << a;
  EXPECT_NE(a.find("\"DIRECTION\":\"LOW\""), std::string::npos) << a;
}

TEST(RcfOperatorTest, KeysAreIsolated) {
  testing::FakeClock clock;
  RcfOperator mixed(Options(), clock);
  RcfOperator alone(Options(), clock);
  Collect mixed_out, alone_out;
  for (int i = 0; i < 300; ++i) {
    mixed.Process(MakeEvent("a", Normal(i)), mixed_out);
    mixed.Process(MakeEvent("b", {1000.0 * (i % 7), -5.0 * i}), mixed_out);
    alone.Process(MakeEvent("a", Normal(i)), alone_out);
  }
  EXPECT_EQ(mixed.key_count(), 2u);
  std::vector<const Event*> a_events;
  for (const auto& e : mixed_out.events) {
    if (e.key == "a") a_events.push_back(&e);
  }
  ASSERT_EQ(a_events.size(), alone_out.events.size());
  for (size_t i = 0; i < a_events.size(); ++i) {
    EXPECT_EQ(a_events[i]->score, alone_out.events[i].score) << i;
    EXPECT_EQ(a_events[i]->annotations, alone_out.events[i].annotations) << i;
  }
}

TEST(RcfOperatorTest, SnapshotRestoreContinuesIdentically) {
  testing::FakeClock clock;
  RcfOperator original(Options(), clock);
  Collect ignored;
  for (int i = 0; i < 200; ++i) {
    original.Process(MakeEvent("a", Normal(i)), ignored);
    original.Process(MakeEvent("b", Normal(i + 50)), ignored);
  }
  auto snapshots = Dirty(original);
  ASSERT_EQ(snapshots.size(), 2u);
  EXPECT_TRUE(Dirty(original).empty());  // changes are forgotten once taken

  RcfOperator restored(Options(), clock);
  for (const auto& [key, snapshot] : snapshots) ASSERT_TRUE(restored.Restore(key, snapshot).ok());
  EXPECT_EQ(restored.key_count(), 2u);
  EXPECT_TRUE(Dirty(restored).empty());

  Collect a, b;
  for (int i = 200; i < 260; ++i) {
    std::vector<double> v = Normal(i);
    if (i == 240) v[0] += 30;
    original.Process(MakeEvent("a", v), a);
    restored.Process(MakeEvent("a", v), b);
  }
  ASSERT_EQ(a.events.size(), b.events.size());
  for (size_t i = 0; i < a.events.size(); ++i) {
    EXPECT_EQ(a.events[i].score, b.events[i].score) << i;
    EXPECT_EQ(a.events[i].alert, b.events[i].alert) << i;
    EXPECT_EQ(a.events[i].annotations, b.events[i].annotations) << i;
  }
}

TEST(RcfOperatorTest, RestoreErrorsNameOperatorAndKey) {
  testing::FakeClock clock;
  RcfOperator op(Options(), clock);
  Status st = op.Restore("host-7", "garbage");
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("operator 'forest'"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("key 'host-7'"), std::string::npos) << st.message();

  RcfOperator source(Options(), clock);
  Collect ignored;
  for (int i = 0; i < 20; ++i) source.Process(MakeEvent("k", Normal(i)), ignored);
  std::string snapshot = Dirty(source).at("k");
  std::string future = snapshot;
  future[0] = static_cast<char>(RcfOperator::kSnapshotVersion + 1);
  st = op.Restore("k", future);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("version"), std::string::npos) << st.message();
  std::string truncated = snapshot.substr(0, snapshot.size() / 2);
  EXPECT_FALSE(op.Restore("k", truncated).ok());
  EXPECT_EQ(op.key_count(), 0u);
}

TEST(RcfOperatorTest, IdleKeysAreEvictedByProcessingTime) {
  testing::FakeClock clock;
  config::OperatorOptions options = Options();
  options.rcf.idle_eviction_ms = 60'000;
  RcfOperator op(options, clock);
  Collect out;
  op.Process(MakeEvent("a", Normal(0)), out);
  op.Process(MakeEvent("b", Normal(0)), out);
  Dirty(op);
  clock.AdvanceMillis(40'000);
  op.Process(MakeEvent("b", Normal(1)), out);
  op.Tick(out);
  EXPECT_EQ(op.key_count(), 2u);
  clock.AdvanceMillis(20'000);  // a idle for 60 s, b for 20 s
  op.Tick(out);
  EXPECT_EQ(op.key_count(), 1u);
  EXPECT_EQ(op.evictions(), 1u);
  auto dirty = Dirty(op);
  ASSERT_TRUE(dirty.count("a"));
  EXPECT_TRUE(dirty.at("a").empty());  // evicted: delete from the store
  // Lazily on Process too, without a Tick.
  clock.AdvanceMillis(60'000);
  op.Process(MakeEvent("c", Normal(0)), out);
  EXPECT_EQ(op.key_count(), 1u);
  EXPECT_EQ(op.evictions(), 2u);
  EXPECT_TRUE(out.events.size() == 4 && out.events.back().score.has_value());
}

TEST(RcfOperatorTest, MemoryBudgetEvictsLeastRecentlyUsed) {
  testing::FakeClock clock;
  RcfOperator probe(Options(), clock);
  Collect out;
  for (int i = 0; i < 100; ++i) probe.Process(MakeEvent("x", Normal(i)), out);
  const size_t one_key = probe.memory_bytes();
  ASSERT_GT(one_key, 0u);

  config::OperatorOptions options = Options();
  options.rcf.memory_budget_bytes = static_cast<int64_t>(one_key * 3 + one_key / 2);
  RcfOperator op(options, clock);
  for (int i = 0; i < 100; ++i) {
    for (const char* key : {"a", "b", "c"}) op.Process(MakeEvent(key, Normal(i)), out);
  }
  EXPECT_EQ(op.key_count(), 3u);
  EXPECT_EQ(op.evictions(), 0u);
  op.Process(MakeEvent("a", Normal(100)), out);  // b is now the least recently used
  for (int i = 0; i < 100; ++i) op.Process(MakeEvent("d", Normal(i)), out);
  EXPECT_EQ(op.key_count(), 3u);
  EXPECT_EQ(op.evictions(), 1u);
  EXPECT_LE(op.memory_bytes(), static_cast<size_t>(options.rcf.memory_budget_bytes));
  auto dirty = Dirty(op);
  ASSERT_TRUE(dirty.count("b"));
  EXPECT_TRUE(dirty.at("b").empty());
  EXPECT_FALSE(dirty.at("a").empty());
  EXPECT_FALSE(dirty.at("c").empty());
}

TEST(RcfOperatorTest, ValueCountChangeIsReportedNotFatal) {
  testing::FakeClock clock;
  RcfOperator op(Options(), clock);
  Collect out;
  for (int i = 0; i < 50; ++i) op.Process(MakeEvent("a", Normal(i)), out);
  op.Process(MakeEvent("a", {1.0, 2.0, 3.0}), out);
  op.Process(MakeEvent("a", {std::nan("")}), out);
  op.Process(MakeEvent("a", Normal(50)), out);
  ASSERT_EQ(out.events.size(), 53u);
  for (size_t i : {50u, 51u}) {
    const Event& e = out.events[i];
    EXPECT_FALSE(e.score.has_value());
    EXPECT_FALSE(e.alert);
    EXPECT_EQ(e.annotations.rfind("\"error\":\"operator 'forest' key 'a': ", 0), 0u)
        << e.annotations;
  }
  EXPECT_NE(out.events[50].annotations.find("expected 2 values, got 3"), std::string::npos)
      << out.events[50].annotations;
  EXPECT_TRUE(out.events[52].score.has_value());  // the key's model carries on
  EXPECT_EQ(op.key_count(), 1u);
}

// The numbers of the JSON array that follows `prefix` in `a` (empty when `prefix` is absent).
std::vector<double> ArrayAfter(const std::string& a, const std::string& prefix) {
  std::vector<double> out;
  size_t pos = a.find(prefix);
  if (pos == std::string::npos) return out;
  const char* p = a.c_str() + pos + prefix.size();
  while (*p != ']' && *p != '\0') {
    char* end = nullptr;
    out.push_back(std::strtod(p, &end));
    if (end == p) break;
    p = *end == ',' ? end + 1 : end;
  }
  return out;
}

TEST(RcfOperatorTest, ForecastHorizonAddsForecastInOriginalUnits) {
  testing::FakeClock clock;
  config::OperatorOptions options = Options();
  options.rcf.transform = "difference";
  options.rcf.forecast_horizon = 3;
  RcfOperator op(options, clock);
  Collect out;
  const int n = 200;
  for (int i = 0; i < n; ++i) op.Process(MakeEvent("a", {1 + 0.5 * i, 100 - 2.0 * i}), out);
  ASSERT_EQ(out.events.size(), static_cast<size_t>(n));
  // Not before the forest gives output.
  EXPECT_EQ(out.events[0].annotations.find("\"forecast\""), std::string::npos);
  const std::string& a = out.events.back().annotations;
  ASSERT_NE(a.find(",\"forecast\":{\"cpu\":{\"value\":["), std::string::npos) << a;
  for (const char* col : {"cpu", "latency"}) {
    const std::string base = std::string("\"") + col + "\":{\"value\":[";
    const std::vector<double> value = ArrayAfter(a, base);
    const size_t at = a.find(base);
    const std::vector<double> lower = ArrayAfter(a.substr(at), "\"lower\":[");
    const std::vector<double> upper = ArrayAfter(a.substr(at), "\"upper\":[");
    ASSERT_EQ(value.size(), 3u) << a;
    ASSERT_EQ(lower.size(), 3u) << a;
    ASSERT_EQ(upper.size(), 3u) << a;
    for (int step = 0; step < 3; ++step) {
      const double truth = col == std::string("cpu") ? 1 + 0.5 * (n + step) : 100 - 2.0 * (n + step);
      EXPECT_NEAR(value[step], truth, 1e-3) << col << " step " << step;
      EXPECT_LE(lower[step], value[step]);
      EXPECT_LE(value[step], upper[step]);
    }
  }
  // Off by default.
  RcfOperator plain(Options(), clock);
  Collect plain_out;
  for (int i = 0; i < n; ++i) plain.Process(MakeEvent("a", Normal(i)), plain_out);
  EXPECT_EQ(plain_out.events.back().annotations.find("\"forecast\""), std::string::npos);
}

}  // namespace
}  // namespace osprey::operators
