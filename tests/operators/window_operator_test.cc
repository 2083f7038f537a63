#include "operators/window_operator.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <random>
#include <set>

#include <gtest/gtest.h>

#include "tests/testing/fake_clock.h"

#include "tests/operators/window_snapshot_v1.inc"

namespace osprey::operators {
namespace {

using config::AggregateFn;
using config::AggregateSpec;
using config::WindowKind;
using config::WindowOptions;

class Collector final : public Emitter {
 public:
  void Emit(Event event) override { events.push_back(std::move(event)); }
  std::vector<Event> events;
};

struct WindowInfo {
  int64_t start = 0;
  int64_t end = 0;
  bool update = false;
  bool early = false;
};

WindowInfo ParseWindow(const std::string& annotations) {
  WindowInfo info;
  long long start = 0, end = 0;
  char update[8] = {}, early[8] = {};
  int n = std::sscanf(annotations.c_str(),
                      "\"window\":{\"start\":%lld,\"end\":%lld,\"update\":%5[a-z],\"early\":%5[a-z]}",
                      &start, &end, update, early);
  EXPECT_EQ(n, 4) << annotations;
  info.start = start;
  info.end = end;
  info.update = std::string(update) == "true";
  info.early = std::string(early) == "true";
  return info;
}

double Value(const Event& e, const std::string& name) {
  const auto& names = e.schema->value_names;
  auto it = std::find(names.begin(), names.end(), name);
  EXPECT_NE(it, names.end()) << name;
  return e.values[static_cast<size_t>(it - names.begin())];
}

const std::shared_ptr<const Schema>& InputSchema() {
  static const auto* schema = new std::shared_ptr<const Schema>(
      std::make_shared<Schema>(Schema{{"v", "other"}}));
  return *schema;
}

Event Ev(const std::string& key, int64_t t, double v, int32_t partition = 0) {
  Event e;
  e.key = key;
  e.event_time_ms = t;
  e.values = {v, -v};
  e.schema = InputSchema();
  e.origin.partition = partition;
  return e;
}

WindowOptions Tumbling(int64_t size_ms) {
  WindowOptions o;
  o.kind = WindowKind::kTumbling;
  o.size_ms = size_ms;
  o.max_out_of_orderness_ms = 0;
  o.idle_timeout_ms = 0;
  o.aggregates = {{AggregateFn::kCount, "", 0.5}, {AggregateFn::kSum, "v", 0.5}};
  return o;
}

struct Harness {
  explicit Harness(const WindowOptions& options) {
    auto op = WindowOperator::Create("w", options, clock, [this](Event e) {
      late.push_back(std::move(e));
    });
    EXPECT_TRUE(op.ok()) << op.status().ToString();
    window = std::move(op).value();
  }
  void Send(Event e) { window->Process(std::move(e), out); }

  testing::FakeClock clock;
  std::vector<Event> late;
  Collector out;
  std::unique_ptr<WindowOperator> window;
};

TEST(WindowOperatorTest, OutOfOrderWithinBoundIsIncluded) {
  WindowOptions o = Tumbling(10);
  o.max_out_of_orderness_ms = 5;
  Harness h(o);
  h.Send(Ev("a", 1, 1));
  h.Send(Ev("a", 8, 2));
  h.Send(Ev("a", 3, 3));
  h.Send(Ev("a", 12, 4));  // watermark 7
  h.Send(Ev("a", 9, 5));   // out of order, within the bound
  EXPECT_TRUE(h.out.events.empty());
  h.Send(Ev("a", 15, 6));  // watermark 10: [0, 10) closes
  ASSERT_EQ(h.out.events.size(), 1u);
  const Event& r = h.out.events[0];
  EXPECT_EQ(r.key, "a");
  EXPECT_EQ(r.event_time_ms, 9);
  EXPECT_EQ(Value(r, "count"), 4);
  EXPECT_EQ(Value(r, "v_sum"), 11);
  WindowInfo info = ParseWindow(r.annotations);
  EXPECT_EQ(info.start, 0);
  EXPECT_EQ(info.end, 10);
  EXPECT_FALSE(info.update);
  EXPECT_FALSE(info.early);
  h.window->OnWatermark(100, h.out);
  ASSERT_EQ(h.out.events.size(), 2u);
  EXPECT_EQ(Value(h.out.events[1], "count"), 2);
  EXPECT_EQ(Value(h.out.events[1], "v_sum"), 10);
  EXPECT_EQ(h.window->key_count(), 0u);
  EXPECT_TRUE(h.late.empty());
}

TEST(WindowOperatorTest, LateWithinAllowedLatenessReemitsAsUpdate) {
  WindowOptions o = Tumbling(10);
  o.allowed_lateness_ms = 5;
  Harness h(o);
  h.Send(Ev("a", 1, 1));
  h.Send(Ev("a", 12, 2));  // watermark 12: [0, 10) final
  ASSERT_EQ(h.out.events.size(), 1u);
  EXPECT_EQ(Value(h.out.events[0], "count"), 1);
  h.Send(Ev("a", 5, 10));  // late, within lateness: update
  ASSERT_EQ(h.out.events.size(), 2u);
  EXPECT_EQ(Value(h.out.events[1], "count"), 2);
  EXPECT_EQ(Value(h.out.events[1], "v_sum"), 11);
  EXPECT_TRUE(ParseWindow(h.out.events[1].annotations).update);
  EXPECT_EQ(h.window->stats().updates, 1);
  h.Send(Ev("a", 16, 0));  // watermark 16 >= 10 + 5: [0, 10) dropped
  h.Send(Ev("a", 7, 1));   // beyond lateness: side output
  EXPECT_EQ(h.out.events.size(), 2u);
  ASSERT_EQ(h.late.size(), 1u);
  EXPECT_EQ(h.late[0].event_time_ms, 7);
  EXPECT_NE(h.late[0].annotations.find("\"late\":{\"operator\":\"w\",\"watermark_ms\":16}"),
            std::string::npos)
      << h.late[0].annotations;
  EXPECT_EQ(h.window->stats().late_dead_lettered, 1);
}

TEST(WindowOperatorTest, LateBeyondLatenessDroppedByPolicy) {
  WindowOptions o = Tumbling(10);
  o.late_events = config::LateEventPolicy::kDrop;
  Harness h(o);
  h.Send(Ev("a", 25, 1));
  h.Send(Ev("a", 3, 1));
  h.Send(Ev("b", 19, 1));
  EXPECT_TRUE(h.late.empty());
  EXPECT_EQ(h.window->stats().late_dropped, 2);
  EXPECT_TRUE(h.out.events.empty());
}

TEST(WindowOperatorTest, LateWindowNeverSeenEmitsOnceThenUpdates) {
  WindowOptions o = Tumbling(10);
  o.allowed_lateness_ms = 100;
  Harness h(o);
  h.Send(Ev("a", 50, 1));
  h.Send(Ev("a", 5, 1));  // [0, 10) has passed but is within lateness
  h.Send(Ev("a", 6, 1));
  ASSERT_EQ(h.out.events.size(), 2u);
  EXPECT_FALSE(ParseWindow(h.out.events[0].annotations).update);
  EXPECT_TRUE(ParseWindow(h.out.events[1].annotations).update);
  EXPECT_EQ(Value(h.out.events[1], "count"), 2);
}

TEST(WindowOperatorTest, IdlePartitionReleasesWatermark) {
  WindowOptions o = Tumbling(10);
  o.idle_timeout_ms = 1000;
  Harness h(o);
  h.Send(Ev("a", 1, 1, /*partition=*/0));
  h.Send(Ev("a", 2, 1, /*partition=*/1));
  h.Send(Ev("a", 30, 1, /*partition=*/0));
  EXPECT_EQ(h.window->watermark_ms(), 2);  // held back by partition 1
  h.clock.AdvanceMillis(600);
  h.Send(Ev("a", 31, 1, /*partition=*/0));
  h.window->Tick(h.out);
  EXPECT_TRUE(h.out.events.empty());
  h.clock.AdvanceMillis(400);  // partition 1 silent for 1000 ms
  h.window->Tick(h.out);
  EXPECT_EQ(h.window->watermark_ms(), 31);
  ASSERT_EQ(h.out.events.size(), 1u);
  EXPECT_EQ(ParseWindow(h.out.events[0].annotations).end, 10);
  EXPECT_EQ(Value(h.out.events[0], "count"), 2);
}

TEST(WindowOperatorTest, SessionsMergeWhenAnEventBridgesThem) {
  WindowOptions o = Tumbling(10);
  o.kind = WindowKind::kSession;
  o.gap_ms = 5;
  o.max_out_of_orderness_ms = 20;  // nothing closes until the explicit watermarks below
  Harness h(o);
  h.Send(Ev("a", 0, 1));
  h.Send(Ev("a", 3, 2));   // [0, 8)
  h.Send(Ev("a", 10, 3));  // [10, 15)
  h.Send(Ev("b", 4, 100));
  EXPECT_EQ(h.window->open_windows(), 3u);
  h.Send(Ev("a", 6, 4));  // [6, 11) touches both
  EXPECT_EQ(h.window->open_windows(), 2u);
  h.window->OnWatermark(14, h.out);
  ASSERT_EQ(h.out.events.size(), 1u);  // b's [4, 9)
  EXPECT_EQ(h.out.events[0].key, "b");
  h.window->OnWatermark(15, h.out);
  ASSERT_EQ(h.out.events.size(), 2u);
  const Event& r = h.out.events[1];
  WindowInfo info = ParseWindow(r.annotations);
  EXPECT_EQ(info.start, 0);
  EXPECT_EQ(info.end, 15);
  EXPECT_EQ(Value(r, "count"), 4);
  EXPECT_EQ(Value(r, "v_sum"), 10);
}

TEST(WindowOperatorTest, EarlyEmissionEveryNEvents) {
  WindowOptions o = Tumbling(10);
  o.emit = config::EmitMode::kEarly;
  o.early_every_events = 2;
  Harness h(o);
  for (int t = 1; t <= 4; ++t) h.Send(Ev("a", t, t));
  ASSERT_EQ(h.out.events.size(), 2u);
  EXPECT_TRUE(ParseWindow(h.out.events[0].annotations).early);
  EXPECT_EQ(Value(h.out.events[0], "count"), 2);
  EXPECT_EQ(Value(h.out.events[1], "count"), 4);
  h.window->OnWatermark(10, h.out);
  ASSERT_EQ(h.out.events.size(), 3u);
  WindowInfo info = ParseWindow(h.out.events[2].annotations);
  EXPECT_FALSE(info.early);
  EXPECT_FALSE(info.update);
  EXPECT_EQ(Value(h.out.events[2], "count"), 4);
  EXPECT_EQ(h.window->stats().early_results, 2);
  EXPECT_EQ(h.window->stats().final_results, 1);
}

TEST(WindowOperatorTest, EarlyEmissionEveryTMillis) {
  WindowOptions o = Tumbling(10);
  o.emit = config::EmitMode::kEarly;
  o.early_every_ms = 1000;
  Harness h(o);
  h.Send(Ev("a", 1, 1));
  h.window->Tick(h.out);
  EXPECT_TRUE(h.out.events.empty());
  h.clock.AdvanceMillis(1000);
  h.window->Tick(h.out);
  ASSERT_EQ(h.out.events.size(), 1u);
  h.window->Tick(h.out);  // unchanged: nothing
  EXPECT_EQ(h.out.events.size(), 1u);
  h.Send(Ev("a", 2, 1));
  h.clock.AdvanceMillis(1000);
  h.window->Tick(h.out);
  ASSERT_EQ(h.out.events.size(), 2u);
  EXPECT_TRUE(ParseWindow(h.out.events[1].annotations).early);
  EXPECT_EQ(Value(h.out.events[1], "count"), 2);
}

TEST(WindowOperatorTest, WatermarkNeverMovesBackwards) {
  Harness h(Tumbling(10));
  h.window->OnWatermark(100, h.out);
  h.window->OnWatermark(50, h.out);
  EXPECT_EQ(h.window->watermark_ms(), 100);
  h.Send(Ev("a", 5, 1, /*partition=*/7));  // a new partition far behind
  EXPECT_EQ(h.window->watermark_ms(), 100);
  EXPECT_EQ(h.late.size(), 1u);
}

TEST(WindowOperatorTest, HoppingWindowsOverlap) {
  WindowOptions o = Tumbling(10);
  o.kind = WindowKind::kHopping;
  o.slide_ms = 5;
  Harness h(o);
  h.Send(Ev("a", 7, 1));
  h.Send(Ev("a", 12, 2));
  h.window->OnWatermark(100, h.out);
  ASSERT_EQ(h.out.events.size(), 3u);
  std::vector<std::pair<int64_t, double>> got;
  for (const Event& e : h.out.events) {
    got.emplace_back(ParseWindow(e.annotations).start, Value(e, "v_sum"));
  }
  EXPECT_EQ(got, (std::vector<std::pair<int64_t, double>>{{0, 1}, {5, 3}, {10, 2}}));
}

// Exact distinct counts (every pane still buffering) count values as HyperLogLog hashes them:
// -0.0 and 0.0 are one value, all NaNs are one value; quantiles skip NaN.
TEST(WindowOperatorTest, BufferedDistinctCountsCanonicalValues) {
  WindowOptions o = Tumbling(10);
  o.kind = WindowKind::kHopping;
  o.slide_ms = 5;
  o.aggregates = {{AggregateFn::kDistinctCount, "v", 0.5},
                  {AggregateFn::kQuantile, "v", 0.5},
                  {AggregateFn::kDistinctCount, "other", 0.5}};
  Harness h(o);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<std::pair<int64_t, double>> sent = {
      {1, 0.0}, {2, nan}, {3, 2.5}, {6, -0.0}, {7, -nan}, {8, 2.5}, {9, 7.0}};
  for (const auto& [t, v] : sent) h.Send(Ev("a", t, v));
  h.window->OnWatermark(100, h.out);
  ASSERT_EQ(h.out.events.size(), 3u);  // windows [-5, 5), [0, 10), [5, 15)
  for (const Event& e : h.out.events) {
    const WindowInfo w = ParseWindow(e.annotations);
    std::set<uint64_t> hashes, other_hashes;
    std::vector<double> finite;
    for (const auto& [t, v] : sent) {
      if (t < w.start || t >= w.end) continue;
      hashes.insert(models::HyperLogLog::HashDouble(v));
      other_hashes.insert(models::HyperLogLog::HashDouble(-v));
      if (!std::isnan(v)) finite.push_back(v);
    }
    std::sort(finite.begin(), finite.end());
    EXPECT_EQ(Value(e, "v_distinct"), static_cast<double>(hashes.size())) << w.start;
    EXPECT_EQ(Value(e, "other_distinct"), static_cast<double>(other_hashes.size())) << w.start;
    const double p50 = finite[static_cast<size_t>(
        models::QuantileSketch::TargetRank(0.5, static_cast<int64_t>(finite.size())) - 1)];
    EXPECT_EQ(Value(e, "v_p50"), p50) << w.start;
  }
  // [0, 10) holds 0, -0, NaN, NaN, 2.5, 2.5, 7: three distinct numbers and NaN.
  EXPECT_EQ(Value(h.out.events[1], "v_distinct"), 4);
}

TEST(WindowOperatorTest, ProcessingTimeWindows) {
  WindowOptions o = Tumbling(1000);
  o.time = config::TimeDomain::kProcessing;
  Harness h(o);
  const int64_t now = h.clock.NowMillis();
  ASSERT_EQ(now % 1000, 0);
  h.Send(Ev("a", 5, 1));  // event time ignored
  h.Send(Ev("a", 99999999, 2));
  h.clock.AdvanceMillis(999);
  h.window->Tick(h.out);
  EXPECT_TRUE(h.out.events.empty());
  h.clock.AdvanceMillis(1);
  h.window->Tick(h.out);
  ASSERT_EQ(h.out.events.size(), 1u);
  EXPECT_EQ(ParseWindow(h.out.events[0].annotations).start, now);
  EXPECT_EQ(Value(h.out.events[0], "count"), 2);
}

TEST(WindowOperatorTest, OutputSchemaNamesAggregates) {
  WindowOptions o = Tumbling(10);
  o.aggregates = {{AggregateFn::kCount, "", 0.5},      {AggregateFn::kMean, "v", 0.5},
                  {AggregateFn::kQuantile, "v", 0.99}, {AggregateFn::kQuantile, "v", 0.999},
                  {AggregateFn::kDistinctCount, "v", 0.5}, {AggregateFn::kStddev, "missing", 0.5}};
  Harness h(o);
  EXPECT_EQ(h.window->output_schema()->value_names,
            (std::vector<std::string>{"count", "v_mean", "v_p99", "v_p99.9", "v_distinct",
                                      "missing_stddev"}));
  h.Send(Ev("a", 1, 4));
  h.window->OnWatermark(10, h.out);
  ASSERT_EQ(h.out.events.size(), 1u);
  EXPECT_EQ(Value(h.out.events[0], "v_p99"), 4);
  EXPECT_EQ(Value(h.out.events[0], "v_distinct"), 1);
  EXPECT_TRUE(std::isnan(Value(h.out.events[0], "missing_stddev")));
}

TEST(WindowOperatorTest, OptionsValidate) {
  WindowOptions o = Tumbling(10);
  EXPECT_TRUE(o.Validate().ok());
  o.kind = WindowKind::kHopping;
  o.slide_ms = 20;
  EXPECT_EQ(o.Validate().message().rfind("slide_ms:", 0), 0u) << o.Validate().message();
  o = Tumbling(10);
  o.aggregates.push_back({AggregateFn::kQuantile, "v", 1.5});
  EXPECT_EQ(o.Validate().message().rfind("aggregates[2].q:", 0), 0u);
  o = Tumbling(10);
  o.aggregates.push_back({AggregateFn::kSum, "v", 0.5});
  EXPECT_FALSE(o.Validate().ok());  // duplicate output name
  o = Tumbling(10);
  o.emit = config::EmitMode::kEarly;
  EXPECT_FALSE(o.Validate().ok());
  testing::FakeClock clock;
  EXPECT_FALSE(WindowOperator::Create("w", o, clock, nullptr).ok());
}

// ---------------------------------------------------------------------------------------------
// Brute-force reference: windows hold raw events; every result is recomputed from scratch.

struct Emission {
  int64_t start = 0;
  int64_t end = 0;
  bool update = false;
  bool early = false;
  std::vector<double> values;
};
using Emissions = std::map<std::tuple<std::string, int64_t, int64_t>, std::vector<Emission>>;

const std::vector<AggregateSpec>& FullAggregateSet() {
  static const auto* specs = new std::vector<AggregateSpec>{
      {AggregateFn::kCount, "", 0.5},         {AggregateFn::kSum, "v", 0.5},
      {AggregateFn::kMean, "v", 0.5},         {AggregateFn::kMin, "v", 0.5},
      {AggregateFn::kMax, "v", 0.5},          {AggregateFn::kVariance, "v", 0.5},
      {AggregateFn::kStddev, "v", 0.5},       {AggregateFn::kFirst, "v", 0.5},
      {AggregateFn::kLast, "v", 0.5},         {AggregateFn::kDistinctCount, "v", 0.5},
      {AggregateFn::kQuantile, "v", 0.5},     {AggregateFn::kQuantile, "v", 0.9},
      {AggregateFn::kCount, "other", 0.5}};
  return *specs;
}

class ReferenceWindows {
 public:
  explicit ReferenceWindows(const WindowOptions& o) : o_(o) {}

  void Process(const std::string& key, int64_t t, double v, int32_t partition) {
    ++seq_;
    auto& pmax = partitions_[partition];
    pmax = std::max(pmax, t);
    auto expired = [&](int64_t end) {
      return wm_ != WatermarkTracker::kNoWatermark && end + o_.allowed_lateness_ms <= wm_;
    };
    bool accepted = false;
    auto& windows = keys_[key];
    if (o_.kind == WindowKind::kSession) {
      if (!expired(t + o_.gap_ms)) {
        accepted = true;
        W merged{t, t + o_.gap_ms, {{t, seq_, v}}};
        std::vector<W> rest;
        for (W& w : windows) {
          if (w.start <= t + o_.gap_ms && w.end >= t) {
            merged.start = std::min(merged.start, w.start);
            merged.end = std::max(merged.end, w.end);
            merged.events.insert(merged.events.end(), w.events.begin(), w.events.end());
            merged.emitted_final = merged.emitted_final || w.emitted_final;
            merged.since_emit += w.since_emit;
          } else {
            rest.push_back(w);
          }
        }
        merged.since_emit += 1;
        rest.push_back(merged);
        windows = rest;
        AfterChange(key, windows.back());
      }
    } else {
      const int64_t slide = o_.kind == WindowKind::kHopping ? o_.slide_ms : o_.size_ms;
      // All window starts k*slide with start <= t < start + size, newest first.
      std::vector<int64_t> starts;
      for (int64_t k = (t - o_.size_ms) / slide - 2; k <= t / slide + 2; ++k) {
        int64_t s = k * slide;
        if (s <= t && t < s + o_.size_ms) starts.push_back(s);
      }
      std::sort(starts.rbegin(), starts.rend());
      for (int64_t s : starts) {
        if (expired(s + o_.size_ms)) continue;
        accepted = true;
        W* w = nullptr;
        for (W& x : windows) {
          if (x.start == s) w = &x;
        }
        if (w == nullptr) {
          windows.push_back(W{s, s + o_.size_ms, {}});
          w = &windows.back();
        }
        w->events.push_back({t, seq_, v});
        w->since_emit += 1;
        AfterChange(key, *w);
      }
    }
    if (!accepted) ++late_;
    int64_t lowest = INT64_MAX;
    for (const auto& [p, m] : partitions_) lowest = std::min(lowest, m - o_.max_out_of_orderness_ms);
    AdvanceTo(lowest);
  }

  void AdvanceTo(int64_t wm) {
    wm_ = std::max(wm_, wm);
    for (auto& [key, windows] : keys_) {
      for (W& w : windows) {
        if (!w.closed && w.end <= wm_) Emit(key, w, false);
      }
      windows.erase(std::remove_if(windows.begin(), windows.end(),
                                   [&](const W& w) {
                                     return w.end + o_.allowed_lateness_ms <= wm_;
                                   }),
                    windows.end());
    }
  }

  Emissions emissions;
  int64_t late() const { return late_; }

 private:
  struct RefEvent {
    int64_t t;
    int64_t seq;
    double v;
  };
  struct W {
    int64_t start;
    int64_t end;
    std::vector<RefEvent> events;
    bool closed = false;
    bool emitted_final = false;
    int64_t since_emit = 0;
  };

  void AfterChange(const std::string& key, W& w) {
    w.closed = false;
    if (wm_ != WatermarkTracker::kNoWatermark && w.end <= wm_) {
      Emit(key, w, false);
    } else if (o_.emit == config::EmitMode::kEarly && o_.early_every_events > 0 &&
               w.since_emit >= o_.early_every_events) {
      Emit(key, w, true);
    }
  }

  void Emit(const std::string& key, W& w, bool early) {
    Emission e{w.start, w.end, !early && w.emitted_final, early, {}};
    std::vector<double> v;
    for (const RefEvent& x : w.events) v.push_back(x.v);
    std::sort(v.begin(), v.end());
    const double n = static_cast<double>(v.size());
    double sum = 0;
    for (double x : v) sum += x;
    double mean = sum / n, m2 = 0;
    for (double x : v) m2 += (x - mean) * (x - mean);
    auto first = std::min_element(w.events.begin(), w.events.end(), [](auto& a, auto& b) {
      return std::tie(a.t, a.seq) < std::tie(b.t, b.seq);
    });
    auto last = std::max_element(w.events.begin(), w.events.end(), [](auto& a, auto& b) {
      return std::tie(a.t, a.seq) < std::tie(b.t, b.seq);
    });
    std::set<double> distinct(v.begin(), v.end());
    auto quantile = [&](double q) {
      return v[static_cast<size_t>(models::QuantileSketch::TargetRank(q, v.size()) - 1)];
    };
    e.values = {n,           sum,        mean,          v.front(),
                v.back(),    m2 / n,     std::sqrt(m2 / n), first->v,
                last->v,     static_cast<double>(distinct.size()), quantile(0.5), quantile(0.9),
                n};
    if (!early) {
      w.closed = true;
      w.emitted_final = true;
    }
    w.since_emit = 0;
    emissions[{key, w.start, w.end}].push_back(std::move(e));
  }

  const WindowOptions o_;
  std::map<std::string, std::vector<W>> keys_;
  std::map<int32_t, int64_t> partitions_;
  int64_t wm_ = WatermarkTracker::kNoWatermark;
  int64_t seq_ = 0;
  int64_t late_ = 0;
};

Emissions Group(const std::vector<Event>& events) {
  Emissions out;
  for (const Event& e : events) {
    WindowInfo info = ParseWindow(e.annotations);
    EXPECT_EQ(e.event_time_ms, info.end - 1);
    out[{e.key, info.start, info.end}].push_back(
        Emission{info.start, info.end, info.update, info.early, e.values});
  }
  return out;
}

void ExpectSameEmissions(const Emissions& got, const Emissions& want, const std::string& context) {
  ASSERT_EQ(got.size(), want.size()) << context;
  for (const auto& [window, list] : want) {
    auto it = got.find(window);
    ASSERT_NE(it, got.end()) << context << " missing " << std::get<0>(window) << " ["
                             << std::get<1>(window) << "," << std::get<2>(window) << ")";
    ASSERT_EQ(it->second.size(), list.size()) << context << " " << std::get<0>(window) << " ["
                                              << std::get<1>(window) << ")";
    for (size_t idx = 0; idx < list.size(); ++idx) {
      const Emission& a = it->second[idx];
      const Emission& b = list[idx];
      EXPECT_EQ(a.update, b.update) << context;
      EXPECT_EQ(a.early, b.early) << context;
      ASSERT_EQ(a.values.size(), b.values.size());
      for (size_t v = 0; v < a.values.size(); ++v) {
        double tol = v == 9 ? std::max(1.0, 0.05 * b.values[v]) : 1e-9 * (1 + std::abs(b.values[v]));
        EXPECT_NEAR(a.values[v], b.values[v], tol)
            << context << " value " << FullAggregateSet()[v].OutputName() << " window ["
            << b.start << "," << b.end << ")";
      }
    }
  }
}

void RunRandomized(WindowOptions o, uint64_t seed, const std::string& name, int keys = 5) {
  o.aggregates = FullAggregateSet();
  o.max_out_of_orderness_ms = 20;
  o.allowed_lateness_ms = 30;
  o.idle_timeout_ms = 0;
  const std::string context = name + " seed=" + std::to_string(seed);
  Harness h(o);
  ReferenceWindows ref(o);
  std::mt19937_64 rng(seed);
  int64_t last_wm = WatermarkTracker::kNoWatermark;
  for (int step = 0; step < 3000; ++step) {
    std::string key = "k" + std::to_string(rng() % static_cast<uint64_t>(keys));
    int64_t jitter = static_cast<int64_t>(rng() % 81) - 40;
    if (rng() % 20 == 0) jitter -= 200;  // far beyond the lateness
    int64_t t = 1000 + step * 3 + jitter;
    double v = static_cast<double>(rng() % 40) * 0.5;
    auto partition = static_cast<int32_t>(rng() % 3);
    h.Send(Ev(key, t, v, partition));
    ref.Process(key, t, v, partition);
    ASSERT_GE(h.window->watermark_ms(), last_wm) << context;
    last_wm = h.window->watermark_ms();
  }
  h.window->OnWatermark(INT64_MAX, h.out);
  ref.AdvanceTo(INT64_MAX);
  EXPECT_EQ(h.window->key_count(), 0u);
  EXPECT_EQ(h.window->stats().late_dead_lettered, ref.late()) << context;
  EXPECT_GT(ref.late(), 0) << context;
  EXPECT_EQ(static_cast<int64_t>(h.late.size()), ref.late()) << context;
  ExpectSameEmissions(Group(h.out.events), ref.emissions, context);
}

TEST(WindowOperatorTest, TumblingMatchesBruteForce) {
  for (uint64_t seed : {11, 12, 13}) RunRandomized(Tumbling(50), seed, "tumbling");
}

TEST(WindowOperatorTest, HoppingMatchesBruteForce) {
  WindowOptions o = Tumbling(50);
  o.kind = WindowKind::kHopping;
  o.slide_ms = 20;
  for (uint64_t seed : {21, 22, 23}) RunRandomized(o, seed, "hopping");
}

TEST(WindowOperatorTest, SketchedAggregatesMatchBruteForce) {
  // One key and long windows: fields pass 16 values per window or pane and build their
  // sketches, and results merge sketched with buffering parts.
  WindowOptions o = Tumbling(150);
  RunRandomized(o, 51, "tumbling-sketched", 1);
  o.kind = WindowKind::kHopping;
  o.size_ms = 180;
  o.slide_ms = 60;
  RunRandomized(o, 52, "hopping-sketched", 1);
  o.size_ms = 150;
  o.slide_ms = 50;  // panes of about 16 events: some buffer, some sketch
  RunRandomized(o, 53, "hopping-mixed", 1);
  o.kind = WindowKind::kSession;
  o.gap_ms = 40;          // one session of ~3000 events
  o.quantile_k = 4096;    // KLL stays exact at that size, so the reference applies
  RunRandomized(o, 54, "session-sketched", 1);
}

TEST(WindowOperatorTest, SessionMatchesBruteForce) {
  WindowOptions o = Tumbling(50);
  o.kind = WindowKind::kSession;
  o.gap_ms = 15;
  for (uint64_t seed : {31, 32, 33}) RunRandomized(o, seed, "session");
}

TEST(WindowOperatorTest, EarlyEmissionMatchesBruteForce) {
  WindowOptions o = Tumbling(50);
  o.emit = config::EmitMode::kEarly;
  o.early_every_events = 2;
  RunRandomized(o, 41, "tumbling-early");
  o.kind = WindowKind::kHopping;
  o.slide_ms = 20;
  RunRandomized(o, 43, "hopping-early");
  o.kind = WindowKind::kSession;
  o.gap_ms = 15;
  RunRandomized(o, 42, "session-early");
}

TEST(WindowOperatorTest, SnapshotRestoreContinuesIdentically) {
  for (WindowKind kind : {WindowKind::kTumbling, WindowKind::kHopping, WindowKind::kSession}) {
    WindowOptions o = Tumbling(50);
    o.kind = kind;
    o.slide_ms = 25;
    o.gap_ms = 15;
    o.allowed_lateness_ms = 30;
    o.max_out_of_orderness_ms = 10;
    o.aggregates = FullAggregateSet();
    Harness a(o);
    std::mt19937_64 rng(57);
    auto next = [&](int step) {
      return Ev("k" + std::to_string(rng() % 4), 1000 + step * 3 + static_cast<int64_t>(rng() % 30),
                static_cast<double>(rng() % 100), static_cast<int32_t>(rng() % 2));
    };
    std::map<std::string, std::string> store;
    auto sink = [&](std::string_view key, std::string snapshot) {
      store[std::string(key)] = std::move(snapshot);
    };
    for (int step = 0; step < 500; ++step) {
      a.Send(next(step));
      if (step % 100 == 0) a.window->SnapshotDirty(sink);
    }
    a.window->SnapshotDirty(sink);
    Harness b(o);
    for (const auto& [key, snapshot] : store) {
      ASSERT_TRUE(b.window->Restore(key, snapshot).ok()) << key;
    }
    EXPECT_EQ(b.window->key_count(), a.window->key_count());
    EXPECT_EQ(b.window->watermark_ms(), a.window->watermark_ms());
    a.out.events.clear();
    for (int step = 500; step < 1000; ++step) {
      Event e = next(step);
      a.Send(e);
      b.Send(e);
    }
    a.window->OnWatermark(INT64_MAX, a.out);
    b.window->OnWatermark(INT64_MAX, b.out);
    ASSERT_EQ(a.out.events.size(), b.out.events.size());
    for (size_t idx = 0; idx < a.out.events.size(); ++idx) {
      EXPECT_EQ(a.out.events[idx].key, b.out.events[idx].key);
      EXPECT_EQ(a.out.events[idx].annotations, b.out.events[idx].annotations);
      for (size_t v = 0; v < a.out.events[idx].values.size(); ++v) {
        double x = a.out.events[idx].values[v], y = b.out.events[idx].values[v];
        if (!(std::isnan(x) && std::isnan(y))) EXPECT_EQ(x, y);
      }
    }
    std::string bad = store.begin()->second.substr(0, 7);
    EXPECT_EQ(b.window->Restore(store.begin()->first, bad).code(), Status::Code::kCorruption);
  }
}

TEST(WindowOperatorTest, FiringOrderIsIndependentOfArrivalOrder) {
  // Windows due at the same time fire in one canonical key order (so a restored operator emits
  // as the original would): two operators fed the same events in different orders agree.
  WindowOptions o = Tumbling(100);
  o.kind = WindowKind::kHopping;
  o.slide_ms = 50;
  o.max_out_of_orderness_ms = 1000;  // nothing fires before the final watermark
  std::vector<Event> events;
  for (int k = 0; k < 300; ++k) {
    for (int step = 0; step < 3; ++step) {
      events.push_back(Ev("key" + std::to_string(k), 1000 + step * 20 + k % 7, k * 0.5 + step));
    }
  }
  std::vector<Event> shuffled = events;
  std::mt19937_64 rng(5);
  std::shuffle(shuffled.begin(), shuffled.end(), rng);
  Harness a(o), b(o);
  for (const Event& e : events) a.Send(e);
  for (const Event& e : shuffled) b.Send(e);
  a.window->OnWatermark(INT64_MAX, a.out);
  b.window->OnWatermark(INT64_MAX, b.out);
  ASSERT_EQ(a.out.events.size(), 300u * 2);  // [950,1050) and [1000,1100) per key
  ASSERT_EQ(b.out.events.size(), a.out.events.size());
  std::set<std::string> keys_seen;
  for (size_t idx = 0; idx < a.out.events.size(); ++idx) {
    EXPECT_EQ(b.out.events[idx].key, a.out.events[idx].key) << idx;
    EXPECT_EQ(b.out.events[idx].annotations, a.out.events[idx].annotations) << idx;
    EXPECT_EQ(Value(b.out.events[idx], "v_sum"), Value(a.out.events[idx], "v_sum")) << idx;
    keys_seen.insert(a.out.events[idx].key);
  }
  EXPECT_EQ(keys_seen.size(), 300u);
  // Results of one window end come together.
  for (size_t idx = 1; idx < a.out.events.size(); ++idx) {
    EXPECT_LE(a.out.events[idx - 1].event_time_ms, a.out.events[idx].event_time_ms);
  }
}

// The stream the format-v1 snapshots in window_snapshot_v1.inc were written from (after its
// first 120 events), with the options they were written under.
std::vector<Event> V1Stream() {
  std::mt19937_64 rng(57);
  std::vector<Event> events;
  for (int step = 0; step < 240; ++step) {
    std::string key = "k" + std::to_string(rng() % 3);
    int64_t t = 1000 + step * 3 + static_cast<int64_t>(rng() % 30);
    double v = static_cast<double>(rng() % 100);
    events.push_back(Ev(key, t, v, static_cast<int32_t>(rng() % 2)));
  }
  return events;
}

std::string Unhex(std::string_view hex) {
  std::string out;
  for (size_t idx = 0; idx + 1 < hex.size(); idx += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(idx, 2)), nullptr, 16)));
  }
  return out;
}

TEST(WindowOperatorTest, RestoresFormatV1Snapshots) {
  struct Case {
    WindowKind kind;
    const char* const (*snapshots)[2];
    size_t count;
  };
  const Case cases[] = {
      {WindowKind::kTumbling, kV1Tumbling, std::size(kV1Tumbling)},
      {WindowKind::kHopping, kV1Hopping, std::size(kV1Hopping)},
      {WindowKind::kSession, kV1Session, std::size(kV1Session)},
  };
  const std::vector<Event> events = V1Stream();
  for (const Case& c : cases) {
    const std::string context = "kind " + std::to_string(static_cast<int>(c.kind));
    WindowOptions o = Tumbling(50);
    o.kind = c.kind;
    o.slide_ms = 20;  // panes of gcd(50, 20) = 10 ms
    o.gap_ms = 15;
    o.allowed_lateness_ms = 30;
    o.max_out_of_orderness_ms = 10;
    o.aggregates = FullAggregateSet();
    // a: the whole stream; b: restored from the v1 snapshot of the first half, then the rest.
    Harness a(o);
    for (int step = 0; step < 120; ++step) a.Send(events[static_cast<size_t>(step)]);
    Harness b(o);
    for (size_t idx = 0; idx < c.count; ++idx) {
      std::string snapshot = Unhex(c.snapshots[idx][1]);
      ASSERT_EQ(static_cast<uint8_t>(snapshot[0]), 1) << context;
      Status st = b.window->Restore(Unhex(c.snapshots[idx][0]), snapshot);
      ASSERT_TRUE(st.ok()) << context << ": " << st.ToString();
    }
    ASSERT_EQ(b.window->key_count(), a.window->key_count()) << context;
    ASSERT_GT(b.window->open_windows(), 0u) << context;
    EXPECT_EQ(b.window->open_windows(), a.window->open_windows()) << context;
    EXPECT_EQ(b.window->watermark_ms(), a.window->watermark_ms()) << context;
    EXPECT_EQ(b.window->stats().final_results, a.window->stats().final_results) << context;
    a.out.events.clear();
    for (size_t step = 120; step < events.size(); ++step) {
      a.Send(events[step]);
      b.Send(events[step]);
    }
    a.window->OnWatermark(INT64_MAX, a.out);
    b.window->OnWatermark(INT64_MAX, b.out);
    ASSERT_FALSE(a.out.events.empty()) << context;
    ASSERT_EQ(b.out.events.size(), a.out.events.size()) << context;
    for (size_t idx = 0; idx < a.out.events.size(); ++idx) {
      const Event& x = a.out.events[idx];
      const Event& y = b.out.events[idx];
      EXPECT_EQ(y.key, x.key) << context;
      EXPECT_EQ(y.annotations, x.annotations) << context;
      ASSERT_EQ(y.values.size(), x.values.size()) << context;
      for (size_t v = 0; v < x.values.size(); ++v) {
        if (std::isnan(x.values[v])) {
          EXPECT_TRUE(std::isnan(y.values[v])) << context;
        } else {
          EXPECT_NEAR(y.values[v], x.values[v], 1e-9 * (1 + std::abs(x.values[v])))
              << context << " " << FullAggregateSet()[v].OutputName() << " " << x.annotations;
        }
      }
    }
    // And what b writes now is format 2, which restores again.
    std::map<std::string, std::string> store;
    b.window->SnapshotDirty(
        [&](std::string_view key, std::string s) { store[std::string(key)] = std::move(s); });
    for (const auto& [key, snapshot] : store) {
      EXPECT_EQ(static_cast<uint8_t>(snapshot[0]), WindowOperator::kFormatVersion);
    }
  }
}

}  // namespace
}  // namespace osprey::operators
