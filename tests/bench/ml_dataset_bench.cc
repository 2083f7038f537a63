// CSV parsing speed of the batch trainer (models/ml/dataset.h ParseCsv): rows/s and bytes/s on
// generated SageMaker-style text (label first, no header, numbers printed as numpy's "%.10g" of
// standard normals; fixed seed). Two cases per size: `numeric` (the parallel path: numeric
// columns, no quote) and `quoted` (the same text with the first label quoted, which sends the
// whole file through the sequential RFC 4180 reader). Set OSPREY_BENCH_CSV=FILE to add the same
// measurement on a real file (read once before timing). Wall time (UseRealTime), all threads.
// Run: osprey_ml_dataset_bench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include <benchmark/benchmark.h>

#include "models/ml/dataset.h"

namespace osprey::models::ml {
namespace {

std::string GeneratedCsv(int64_t rows, int features, bool quote_first_label) {
  std::mt19937_64 rng(17);
  std::normal_distribution<double> normal;
  std::string out;
  out.reserve(static_cast<size_t>(rows) * static_cast<size_t>(features + 1) * 14);
  char buf[32];
  for (int64_t row = 0; row < rows; ++row) {
    for (int col = 0; col <= features; ++col) {
      const int n = std::snprintf(buf, sizeof(buf), "%.10g", normal(rng));
      if (col > 0) out += ',';
      const bool quote = quote_first_label && row == 0 && col == 0;
      if (quote) out += '"';
      out.append(buf, static_cast<size_t>(n));
      if (quote) out += '"';
    }
    out += '\n';
  }
  return out;
}

void RunParse(benchmark::State& state, const std::string& text) {
  size_t rows = 0;
  for (auto _ : state) {
    auto ds = ParseCsv(text, CsvOptions{});
    if (!ds.ok()) {
      state.SkipWithError(ds.status().ToString().c_str());
      return;
    }
    rows = ds->rows();
    benchmark::DoNotOptimize(ds->x.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(text.size()));
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(rows));
  state.counters["MB"] = static_cast<double>(text.size()) / 1e6;
}

void BM_ParseCsv(benchmark::State& state) {
  const std::string text = GeneratedCsv(state.range(0), static_cast<int>(state.range(1)),
                                        state.range(2) != 0);
  RunParse(state, text);
}
BENCHMARK(BM_ParseCsv)
    ->ArgNames({"rows", "features", "quoted"})
    ->Args({100000, 50, 0})
    ->Args({100000, 50, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MeasureProcessCPUTime();

void BM_ParseCsvFile(benchmark::State& state, std::string path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (!in) {
    state.SkipWithError(("cannot read " + path).c_str());
    return;
  }
  RunParse(state, bytes.str());
}

}  // namespace
}  // namespace osprey::models::ml

int main(int argc, char** argv) {
  if (const char* path = std::getenv("OSPREY_BENCH_CSV"); path != nullptr && *path != '\0') {
    benchmark::RegisterBenchmark("BM_ParseCsvFile", osprey::models::ml::BM_ParseCsvFile,
                                 std::string(path))
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime()
        ->MeasureProcessCPUTime();
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
