// Benchmarks of osprey::models: RCF update+score throughput, bytes per forest, save/restore.
// Workload as /work/shared/bench/rcf/REFERENCE.md: per value a random walk plus small noise with a
// spike every 997 points; 10 000 warm-up points, then score(p) followed by update(p) per point,
// single thread; sample 256, time decay 0.1/256, initial accept fraction 0.125, seed 17.
// XGBoost: training on 100 000 x 50 rows (10 000 validation rows), 20 rounds, depth 6, hist,
// with and without the fit report (the per-round training metric of the learning curve).
// Run: osprey_models_bench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <unistd.h>

#include "config/options.h"
#include "models/baseline.h"
#include "models/ml/xgboost.h"
#include "models/rcf/forest.h"
#include "models/rcf/rng.h"

namespace osprey::models::rcf {
namespace {

class Workload {
 public:
  Workload(int dims, uint64_t seed) : rng_(seed), level_(dims, 0.0), point_(dims) {}
  const std::vector<double>& Next() {
    ++t_;
    for (size_t d = 0; d < level_.size(); ++d) {
      level_[d] += 0.1 * (rng_.NextDouble() - 0.5);
      point_[d] = level_[d] + 0.01 * (rng_.NextDouble() - 0.5) + (t_ % 997 == 0 ? 5.0 : 0.0);
    }
    return point_;
  }

 private:
  Rng rng_;
  int64_t t_ = 0;
  std::vector<double> level_;
  std::vector<double> point_;
};

RcfOptions BenchOptions(int input_dim, int shingle, int trees) {
  RcfOptions o;
  o.input_dim = input_dim;
  o.shingle_size = shingle;
  o.number_of_trees = trees;
  o.sample_size = 256;
  o.time_decay = 0.1 / 256;
  o.initial_accept_fraction = 0.125;
  o.random_seed = 17;
  return o;
}

std::unique_ptr<RandomCutForest> WarmForest(const RcfOptions& o, Workload& w, int points) {
  auto forest = std::move(RandomCutForest::Create(o)).value();
  for (int idx = 0; idx < points; ++idx) forest->Update(w.Next()).IgnoreError();  // valid input
  return forest;
}

void BM_RcfScoreThenUpdate(benchmark::State& state) {
  const int input_dim = static_cast<int>(state.range(0));
  const int shingle = static_cast<int>(state.range(1));
  const int trees = static_cast<int>(state.range(2));
  Workload w(input_dim, 17);
  auto forest = WarmForest(BenchOptions(input_dim, shingle, trees), w, 10'000);
  double total = 0;
  for (auto _ : state) {
    const std::vector<double>& p = w.Next();
    total += forest->Score(p);
    forest->Update(p).IgnoreError();  // valid input
  }
  benchmark::DoNotOptimize(total);
  state.SetItemsProcessed(state.iterations());
  state.counters["memory_bytes"] = static_cast<double>(forest->MemoryBytes());
}
BENCHMARK(BM_RcfScoreThenUpdate)
    ->ArgNames({"values", "shingle", "trees"})
    ->Args({1, 8, 50})
    ->Args({1, 1, 50})
    ->Args({4, 4, 50})
    ->Args({16, 1, 50})
    ->Args({1, 8, 100})
    ->Args({1, 1, 100})
    ->Args({4, 4, 100})
    ->Args({16, 1, 100})
    ->MinTime(2.0)
    ->Unit(benchmark::kMicrosecond);

// The simple baseline measured in the same run (ratios between machines compare through it).
void BM_EwmaBaselineScoreAndUpdate(benchmark::State& state) {
  config::BaselineDetectorOptions o;
  EwmaBaseline baseline(o);
  Workload w(1, 17);
  double total = 0;
  for (auto _ : state) total += baseline.ScoreAndUpdate(w.Next());
  benchmark::DoNotOptimize(total);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EwmaBaselineScoreAndUpdate)->Unit(benchmark::kNanosecond);

size_t ResidentBytes() {
  long pages = 0, resident = 0;
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
  std::fclose(f);
  return static_cast<size_t>(resident) * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

// Bytes per forest: 200 forests of (1 value, shingle 8, 50 trees, 256 samples) fed 2000 points.
void BM_RcfBytesPerForest(benchmark::State& state) {
  const int forests = 200;
  for (auto _ : state) {
    std::vector<std::unique_ptr<RandomCutForest>> all;
    all.reserve(forests);
    size_t before = ResidentBytes();
    size_t reported = 0;
    for (int idx = 0; idx < forests; ++idx) {
      Workload w(1, 100 + idx);
      all.push_back(WarmForest(BenchOptions(1, 8, 50), w, 2000));
      reported += all.back()->MemoryBytes();
    }
    size_t after = ResidentBytes();
    state.counters["rss_bytes_per_forest"] = static_cast<double>(after - before) / forests;
    state.counters["memory_bytes_per_forest"] = static_cast<double>(reported) / forests;
  }
}
// One repetition only: a second one would reuse the pages the first freed and show ~0 growth.
BENCHMARK(BM_RcfBytesPerForest)->Iterations(1)->Repetitions(1)->Unit(benchmark::kMillisecond);

void BM_RcfSave(benchmark::State& state) {
  Workload w(1, 17);
  auto forest = WarmForest(BenchOptions(1, 8, 50), w, 10'000);
  size_t bytes = 0;
  for (auto _ : state) {
    std::string snap = forest->Save();
    bytes = snap.size();
    benchmark::DoNotOptimize(snap.data());
  }
  state.counters["snapshot_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_RcfSave)->Unit(benchmark::kMicrosecond);

void BM_RcfRestore(benchmark::State& state) {
  Workload w(1, 17);
  auto forest = WarmForest(BenchOptions(1, 8, 50), w, 10'000);
  std::string snap = forest->Save();
  for (auto _ : state) {
    auto loaded = RandomCutForest::Load(snap);
    if (!loaded.ok()) state.SkipWithError(loaded.status().ToString().c_str());
    benchmark::DoNotOptimize(loaded);
  }
}
BENCHMARK(BM_RcfRestore)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace osprey::models::rcf

namespace osprey::models::ml {
namespace {

// y = sum of the first 5 features plus a step in the sixth plus noise.
Dataset XgbData(Eigen::Index rows, uint64_t seed) {
  rcf::Rng rng(seed);
  Dataset d;
  d.has_label = true;
  d.x.resize(rows, 50);
  d.y.resize(rows);
  for (Eigen::Index c = 0; c < d.x.cols(); ++c) {
    d.columns.push_back({"f" + std::to_string(c), ColumnType::kNumeric, {}});
  }
  for (Eigen::Index r = 0; r < rows; ++r) {
    double y = 0;
    for (Eigen::Index c = 0; c < d.x.cols(); ++c) {
      d.x(r, c) = rng.NextDouble() * 2 - 1;
      if (c < 5) y += d.x(r, c);
    }
    d.y[r] = y + (d.x(r, 5) > 0 ? 1.0 : 0.0) + 0.1 * (rng.NextDouble() - 0.5);
  }
  return d;
}

// Arg: 1 = with the fit report (training rows evaluated every round).
void BM_XGBoostFit(benchmark::State& state) {
  const Dataset train = XgbData(100'000, 1), validation = XgbData(10'000, 2);
  auto options = XGBoostOptions::FromHyperparameters(
      {{"num_round", "20"}, {"max_depth", "6"}, {"tree_method", "hist"}});
  if (!options.ok()) return state.SkipWithError(options.status().ToString().c_str());
  XGBoostFitReport report;
  for (auto _ : state) {
    auto model = FitXGBoost(train, &validation, *options, state.range(0) != 0 ? &report : nullptr);
    if (!model.ok()) state.SkipWithError(model.status().ToString().c_str());
    benchmark::DoNotOptimize(model);
  }
  state.counters["rows"] = static_cast<double>(train.rows());
}
BENCHMARK(BM_XGBoostFit)->Arg(0)->Arg(1)->ArgName("report")->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace osprey::models::ml

BENCHMARK_MAIN();
