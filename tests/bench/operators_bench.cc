// Operators benchmark: events/s per core through tumbling and hopping windows with the full
// aggregate set over 10 000 keys, and records/s through hot spots at windowSize 1000 in 2 and 4
// dimensions (planted dense regions among uniform noise).
//   osprey_operators_bench [--benchmark_format=json]
#include <benchmark/benchmark.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "config/base/clock.h"
#include "operators/hotspot_operator.h"
#include "operators/window_operator.h"

namespace {

using osprey::config::AggregateFn;
using osprey::operators::Event;

class CountingEmitter final : public osprey::operators::Emitter {
 public:
  void Emit(Event event) override {
    ++count;
    checksum += event.values.empty() ? 0 : event.values[0];
    bytes += event.annotations.size();
  }
  int64_t count = 0;
  double checksum = 0;
  int64_t bytes = 0;
};

// args: kind (0 tumbling, 1 hopping), keys.
void BM_Window(benchmark::State& state) {
  osprey::config::WindowOptions o;
  o.kind = state.range(0) == 0 ? osprey::config::WindowKind::kTumbling
                               : osprey::config::WindowKind::kHopping;
  o.size_ms = 60'000;
  o.slide_ms = 10'000;  // 6 windows per event when hopping
  o.max_out_of_orderness_ms = 1'000;
  o.idle_timeout_ms = 0;
  o.aggregates = {{AggregateFn::kCount, "", 0.5},        {AggregateFn::kSum, "latency", 0.5},
                  {AggregateFn::kMean, "latency", 0.5},  {AggregateFn::kMin, "latency", 0.5},
                  {AggregateFn::kMax, "latency", 0.5},   {AggregateFn::kVariance, "latency", 0.5},
                  {AggregateFn::kStddev, "latency", 0.5}, {AggregateFn::kFirst, "latency", 0.5},
                  {AggregateFn::kLast, "latency", 0.5},
                  {AggregateFn::kDistinctCount, "latency", 0.5},
                  {AggregateFn::kQuantile, "latency", 0.5},
                  {AggregateFn::kQuantile, "latency", 0.99}};
  const auto keys = static_cast<int>(state.range(1));
  std::vector<std::string> names;
  for (int k = 0; k < keys; ++k) names.push_back("host-" + std::to_string(k));
  auto schema = std::make_shared<osprey::operators::Schema>(
      osprey::operators::Schema{{"latency"}});
  // 10 000 keys x ~20 events per key per minute: 200 000 events span one minute of event time.
  const int64_t events_per_ms = keys * 20 / 60'000 + 1;
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> latency(3, 0.5);
  const size_t n_pre = 1 << 20;
  std::vector<std::pair<int, double>> pre(n_pre);
  for (auto& [k, v] : pre) {
    k = static_cast<int>(rng() % static_cast<uint64_t>(keys));
    v = std::round(latency(rng) * 10) / 10;
  }
  auto op = osprey::operators::WindowOperator::Create("w", o, osprey::SystemClock::Default(),
                                                      nullptr);
  CountingEmitter out;
  int64_t seq = 0;
  for (auto _ : state) {
    const auto& [k, v] = pre[static_cast<size_t>(seq) & (n_pre - 1)];
    Event e;
    e.key = names[static_cast<size_t>(k)];
    e.event_time_ms = 1'700'000'000'000 + seq / events_per_ms;
    e.values = {v};
    e.schema = schema;
    e.origin.partition = 0;
    (*op)->Process(std::move(e), out);
    ++seq;
  }
  benchmark::DoNotOptimize(out.checksum);
  state.SetItemsProcessed(state.iterations());
  state.counters["results"] = static_cast<double>(out.count);
  state.counters["open_windows"] = static_cast<double>((*op)->open_windows());
}
BENCHMARK(BM_Window)
    ->Args({0, 10'000})
    ->Args({1, 10'000})
    ->ArgNames({"hopping", "keys"})
    ->MinTime(2.0);

// args: dims, window size.
void BM_Hotspots(benchmark::State& state) {
  const auto dims = static_cast<int>(state.range(0));
  osprey::config::HotspotOptions o;
  o.window_size = static_cast<int>(state.range(1));
  o.scan_radius = dims == 2 ? 1.5 : 4.0;
  o.min_points = 8;
  o.alert_density = 0.5;
  auto op = osprey::operators::HotspotOperator::Create("hs", o);
  // 3 planted regions (60 % of records) among uniform noise, as in the tests.
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> unit(0, 1);
  const double extent = dims == 2 ? 300 : 100;
  const double side = 2.5 * o.scan_radius;
  const size_t n_pre = 1 << 16;
  std::vector<std::vector<double>> pre(n_pre, std::vector<double>(static_cast<size_t>(dims)));
  for (auto& p : pre) {
    int region = unit(rng) < 0.6 ? static_cast<int>(rng() % 3) : -1;
    for (int d = 0; d < dims; ++d) {
      p[static_cast<size_t>(d)] =
          region < 0 ? unit(rng) * extent : 10 + 22.0 * (region + d % 2) + unit(rng) * side;
    }
  }
  CountingEmitter out;
  size_t idx = 0;
  for (auto _ : state) {
    Event e;
    e.key = "k";
    e.values = pre[idx++ & (n_pre - 1)];
    (*op)->Process(std::move(e), out);
  }
  benchmark::DoNotOptimize(out.bytes);
  state.SetItemsProcessed(state.iterations());
  state.counters["annotation_bytes_per_record"] =
      static_cast<double>(out.bytes) / static_cast<double>(std::max<int64_t>(out.count, 1));
}
BENCHMARK(BM_Hotspots)
    ->Args({2, 1000})
    ->Args({4, 1000})
    ->ArgNames({"dims", "window"})
    ->MinTime(2.0);

}  // namespace

BENCHMARK_MAIN();
