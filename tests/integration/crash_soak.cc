// The long crash test (issue 5, section 4): 1M events on 32 input partitions (256 output), 20
// seeded SIGKILLs of a child ospreyd with restarts, baseline + RCF (fixed seed); the output
// topics and the final state store must equal an uninterrupted run's, record for record. Not
// part of ctest (it takes minutes): build and run `osprey_crash_soak` by hand. Overrides:
// OSPREY_SOAK_RECORDS, OSPREY_SOAK_KILLS, OSPREY_SOAK_SEED.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "tests/integration/crash_scenario.h"

namespace osprey {
namespace {

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::atoi(v) : fallback;
}

TEST(CrashSoak, TwentyKillsInAMillionEventsChangeNothing) {
  testing::CrashScenario scenario;
  scenario.records = EnvInt("OSPREY_SOAK_RECORDS", 1'000'000);
  scenario.kills = EnvInt("OSPREY_SOAK_KILLS", 20);
  scenario.seed = static_cast<uint32_t>(EnvInt("OSPREY_SOAK_SEED", 5));
  // The mock broker keeps ~5 MB per partition: 1M inputs (~80 B) and 1M outputs (~650 B each
  // with headers, lz4) need room; the scenario checks that nothing was dropped.
  scenario.input_partitions = 32;
  scenario.output_partitions = 256;
  scenario.hosts = 1024;  // ~1000 events and outputs per key
  // 20 kills spread over the run: each after another 1..8% of the output.
  scenario.min_share = 0.01;
  scenario.max_share = 0.08;
  scenario.checkpoint_interval_ms = 1000;
  scenario.compare_state = true;
  scenario.verbose = true;
  testing::RunCrashScenario(scenario);
}

}  // namespace
}  // namespace osprey
