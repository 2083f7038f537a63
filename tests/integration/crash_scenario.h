// The crash scenario shared by the in-suite crash test (short) and the crash soak (long, its own
// executable): ospreyd runs as a child process against an embedded broker the test owns, is
// SIGKILLed at seeded points while it works and restarted each time; at the end the output and
// dead-letter topics must hold exactly the records of an uninterrupted run of the same input
// (none lost, none duplicated, identical bytes) and, optionally, the final state stores must be
// equal key for key. Failures are reported through gtest. Thread-compatible.
#pragma once

#include <cstdint>
#include <string>

namespace osprey::testing {

struct CrashScenario {
  int records = 40000;
  int input_partitions = 4;
  // Output partitions: the mock broker keeps ~5 MB per partition, so large runs need many.
  int output_partitions = 4;
  // Keys ("host" field); each stays on one input partition (a multiple of input_partitions).
  // Outputs go to key-determined partitions: the mock broker's ~5 MB per partition bounds the
  // outputs per key.
  int hosts = 40;
  int kills = 4;
  uint32_t seed = 301;
  // Each kill comes when the output has grown by a seeded share in [min_share, max_share) of the
  // expected total (capped at 95%).
  double min_share = 0.02;
  double max_share = 0.2;
  int checkpoint_interval_ms = 200;
  // Also compare the final state stores (operator state and offsets) with the reference run's.
  bool compare_state = false;
  // Log progress (kills, phases, durations) to stderr.
  bool verbose = false;
};

void RunCrashScenario(const CrashScenario& scenario);

// The daemon configuration the crash and scale-out tests run: source `m` (topic `in`, key
// `host`, values v and w, dead letters to `dlq`), pipeline `detect` = baseline then RCF (seed 7)
// into `out`. A non-empty `changelog_prefix` turns on state.changelog with that prefix.
std::string DetectorDaemonYaml(const std::string& bootstrap, const std::string& group,
                               const std::string& out, const std::string& dlq,
                               const std::string& state_dir, int checkpoint_ms,
                               const std::string& changelog_prefix = "");

}  // namespace osprey::testing
