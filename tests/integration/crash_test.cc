// Exactly-once across crashes: ospreyd runs as a child process against an embedded broker the
// test owns, is SIGKILLed at seeded points while it works, and restarted each time. At the end
// the output and dead-letter topics must hold exactly the records of an uninterrupted run of the
// same input (none lost, none duplicated, identical bytes), and the final state store must equal
// the uninterrupted run's. The long variant (1M events, 20 kills) is osprey_crash_soak.
#include <gtest/gtest.h>

#include "tests/integration/crash_scenario.h"

namespace osprey {
namespace {

TEST(CrashTest, SigkillAndRestartGiveExactlyTheOutputsOfAnUninterruptedRun) {
  testing::CrashScenario scenario;  // 40k events on 4 partitions, 4 kills, seed 301
  scenario.compare_state = true;
  testing::RunCrashScenario(scenario);
}

}  // namespace
}  // namespace osprey
