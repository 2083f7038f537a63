// Cost of the dashboard's hook in the result path (daemon/live_hub.h): LiveHub::Pipeline::Record
// per result, for keys nobody watches and for a watched key (render + hand-off to a callback),
// and the grade scan of an RCF annotation. Google Benchmark; not run by ctest.
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "daemon/live_hub.h"

namespace osprey::daemon {
namespace {

std::vector<std::string> Keys(int count) {
  std::vector<std::string> keys;
  for (int idx = 0; idx < count; ++idx) keys.push_back("host-" + std::to_string(idx));
  return keys;
}

// args: keys, watched (0/1: one watcher on every key).
void BM_LiveHubRecord(benchmark::State& state) {
  const int key_count = static_cast<int>(state.range(0));
  const bool watched = state.range(1) != 0;
  LiveHub hub;
  LiveHub::Pipeline& pipeline = hub.AddPipeline({"rcf", "metrics", {{"rcf", "rcf"}}});
  auto schema = std::make_shared<operators::Schema>();
  schema->value_names = {"cpu", "latency_ms"};
  const std::shared_ptr<const operators::Schema> shared = schema;
  const std::vector<std::string> keys = Keys(key_count);
  int64_t delivered = 0;
  std::vector<LiveHub::Watch> watches;
  if (watched) {
    for (const auto& key : keys) {
      watches.push_back(pipeline.WatchKey(
          key, [&delivered](const std::shared_ptr<const std::string>&) { ++delivered; }));
    }
  }
  double values[] = {42.5, 12.25};
  int64_t t = 1700000000000;
  size_t next = 0;
  for (auto _ : state) {
    values[0] += 0.5;
    pipeline.Record({keys[next], ++t, values, 1.25, 0.0, false}, shared);
    if (++next == keys.size()) next = 0;
  }
  benchmark::DoNotOptimize(delivered);
  state.SetItemsProcessed(state.iterations());
  state.counters["keys"] = pipeline.key_count();
}
BENCHMARK(BM_LiveHubRecord)
    ->ArgNames({"keys", "watched"})
    ->Args({8, 0})
    ->Args({1000, 0})
    ->Args({100000, 0})
    ->Args({8, 1});

void BM_GradeFromAnnotations(benchmark::State& state) {
  const std::string annotations =
      R"("grade":0.51,"anomaly_score":0.83,"confidence":0.97,"threshold":1.2,)"
      R"("attribution":[{"ATTRIBUTION_SCORE":0.6,"STRENGTH":0.7,"DIRECTION":"HIGH"}])";
  for (auto _ : state) {
    benchmark::DoNotOptimize(GradeFromAnnotations(annotations));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_GradeFromAnnotations);

}  // namespace
}  // namespace osprey::daemon

BENCHMARK_MAIN();
