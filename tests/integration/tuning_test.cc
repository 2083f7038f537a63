// `osprey train` with a `tuning:` section, as a user runs it: the real binary on generated CSV
// files. The published model is the best trial's, its values are recorded as its
// hyperparameters, every trial is in metadata.json, the trials table is printed, and a second
// run with the same seed tries exactly the same values (trials run two at a time).
#include <cmath>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "tests/integration/subprocess.h"
#include "tests/testing/fake_clock.h"

namespace osprey {
namespace {

const std::string kOsprey = std::string(OSPREY_BIN_DIR) + "/osprey";

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

// y = 3a - 2b + 0.5c + N(0, 0.3^2), label first.
std::string RegressionCsv(int rows, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.0, 1.0);
  std::ostringstream out;
  out.precision(10);
  for (int r = 0; r < rows; ++r) {
    const double a = g(rng), b = g(rng), c = g(rng);
    out << 3 * a - 2 * b + 0.5 * c + 0.3 * g(rng) << ',' << a << ',' << b << ',' << c << '\n';
  }
  return out.str();
}

std::string BinaryCsv(int rows, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.0, 1.0);
  std::ostringstream out;
  out.precision(10);
  for (int r = 0; r < rows; ++r) {
    const double a = g(rng), b = g(rng), c = g(rng);
    const int y = a * b + 0.5 * c + 0.3 * g(rng) > 0 ? 1 : 0;  // an interaction: trees need depth
    out << y << ',' << a << ',' << b << ',' << c << '\n';
  }
  return out.str();
}

// Checks metadata.json with Python's json module (Debian python3): prints "ok" or the problem.
// The best trial's objective is the best of all trials and the published metric, and its
// values are the published hyperparameters.
std::string CheckMetadata(const std::string& path, bool minimize, int trials) {
  const std::string script =
      "import json, sys\n"
      "m = json.load(open(sys.argv[1])); t = m['tuning']; minimize = sys.argv[2] == '1'\n"
      "assert len(t['trials']) == int(sys.argv[3]), len(t['trials'])\n"
      "done = [x for x in t['trials'] if x['status'] == 'completed']\n"
      "best = t['trials'][t['best_trial']]\n"
      "pick = min if minimize else max\n"
      "assert best['objective'] == pick(x['objective'] for x in done), best\n"
      "split, metric = t['objective']['metric'].split(':')\n"
      "if split == 'validation': assert m['metrics']['validation'][metric] == best['objective']\n"
      "for k, v in best['hyperparameters'].items(): assert m['hyperparameters'][k] == v, (k, v)\n"
      "print('ok', best['objective'])\n";
  WriteFile(path + ".check.py", script);
  auto [code, out] =
      testing::RunCommand("/usr/bin/python3 " + path + ".check.py " + path + " " +
                          (minimize ? "1" : "0") + " " + std::to_string(trials) + " 2>&1");
  return code == 0 ? out : "exit " + std::to_string(code) + ": " + out;
}

// The trials table: from the newline before its header line to the end.
std::string TrialsTable(const std::string& output) {
  const auto at = output.find("\ntrial ");
  return at == std::string::npos ? "" : output.substr(at);
}

TEST(TuningTest, LinearLearnerTunesLearningRateAndWdAndPublishesTheBest) {
  testing::TempDir dir;
  WriteFile(dir.path() + "/data.csv", RegressionCsv(2000, 11));
  WriteFile(dir.path() + "/train.yaml", R"(name: demand
registry: ./registry
data: {path: data.csv}
algorithm: linear_learner
hyperparameters:
  predictor_type: regressor
  epochs: 4
  mini_batch_size: 50
tuning:
  strategy: bayesian
  objective: {metric: "validation:rmse"}
  max_jobs: 10
  max_parallel_jobs: 2
  seed: 3
  parameter_ranges:
    learning_rate: {type: continuous, min: 0.00001, max: 0.5, scaling: logarithmic}
    wd: {type: continuous, min: 0.000001, max: 1, scaling: logarithmic}
)");
  auto [code, output] =
      testing::RunCommand("cd " + dir.path() + " && " + kOsprey + " train --config train.yaml");
  ASSERT_EQ(code, 0) << output;
  EXPECT_NE(output.find("tuning: bayesian, 10 trials (0 failed), 2 at a time; objective "
                        "validation:rmse (minimize)"),
            std::string::npos)
      << output;
  const std::string table = TrialsTable(output);
  EXPECT_NE(table.find("learning_rate"), std::string::npos) << output;
  EXPECT_EQ(std::count(table.begin(), table.end(), '\n'), 12) << table;  // + header, blank
  EXPECT_EQ(std::count(table.begin(), table.end(), '*'), 1) << table;
  const std::string check =
      CheckMetadata(dir.path() + "/registry/demand/1/metadata.json", true, 10);
  ASSERT_EQ(check.rfind("ok ", 0), 0u) << check;
  // The noise is 0.3: a tuned learner gets close; the worst corner of the box does not.
  EXPECT_LT(std::stod(check.substr(3)), 0.45) << output;

  // The same seed tries the same values, although the trials run two at a time.
  auto [code2, output2] =
      testing::RunCommand("cd " + dir.path() + " && " + kOsprey + " train --config train.yaml");
  ASSERT_EQ(code2, 0) << output2;
  auto values_only = [](const std::string& t) {
    // Drop the seconds column (the only timing-dependent one).
    std::istringstream in(t);
    std::string line, out;
    while (std::getline(in, line)) {
      if (auto star = line.find(" *"); star != std::string::npos) line.erase(star, 2);
      std::istringstream cells(line);
      std::string cell;
      int column = 0;
      while (cells >> cell) {
        if (column++ != 4) out += cell + " ";
      }
      out += "\n";
    }
    return out;
  };
  EXPECT_EQ(values_only(TrialsTable(output)), values_only(TrialsTable(output2)));
}

TEST(TuningTest, XGBoostTunesEtaAndMaxDepth) {
  testing::TempDir dir;
  WriteFile(dir.path() + "/data.csv", BinaryCsv(1500, 5));
  WriteFile(dir.path() + "/xgb.yaml", R"(name: trees
registry: ./registry
data: {path: data.csv}
preparation: {missing: keep}
algorithm: xgboost
hyperparameters:
  num_round: 30
  objective: binary:logistic
tuning:
  strategy: sobol
  objective: {metric: "validation:roc_auc"}
  max_jobs: 6
  max_parallel_jobs: 2
  parameter_ranges:
    eta: {type: continuous, min: 0.05, max: 0.5}
    max_depth: {type: integer, min: 1, max: 6}
)");
  auto [code, output] =
      testing::RunCommand("cd " + dir.path() + " && " + kOsprey + " train --config xgb.yaml");
  ASSERT_EQ(code, 0) << output;
  EXPECT_NE(output.find("tuning: sobol, 6 trials"), std::string::npos) << output;
  EXPECT_NE(output.find("(maximize)"), std::string::npos) << output;
  const std::string check = CheckMetadata(dir.path() + "/registry/trees/1/metadata.json", false, 6);
  ASSERT_EQ(check.rfind("ok ", 0), 0u) << check;
  EXPECT_GT(std::stod(check.substr(3)), 0.8) << output;
}

TEST(TuningTest, CrossValidationObjectiveGridAndBadSetups) {
  testing::TempDir dir;
  WriteFile(dir.path() + "/data.csv", BinaryCsv(600, 8));
  const std::string head = R"(name: cv
registry: ./registry
data: {path: data.csv}
preparation: {cross_validation: {folds: 3}}
algorithm: linear_learner
hyperparameters:
  predictor_type: binary_classifier
  epochs: 3
)";
  WriteFile(dir.path() + "/grid.yaml", head + R"(tuning:
  strategy: grid
  objective: {metric: "cross_validation:accuracy"}
  parameter_ranges:
    loss: {type: categorical, values: [logistic, hinge_loss]}
    wd: {type: continuous, min: 0, max: 0.1, grid_points: 2}
)");
  auto [code, output] =
      testing::RunCommand("cd " + dir.path() + " && " + kOsprey + " train --config grid.yaml");
  ASSERT_EQ(code, 0) << output;
  const std::string table = TrialsTable(output);
  EXPECT_EQ(std::count(table.begin(), table.end(), '\n'), 6) << table;
  for (const char* row :
       {"logistic    0 ", "logistic    0.1 ", "hinge_loss  0 ", "hinge_loss  0.1 "}) {
    EXPECT_NE(table.find(row), std::string::npos) << row << " in " << table;
  }
  const std::string check = CheckMetadata(dir.path() + "/registry/cv/1/metadata.json", false, 4);
  EXPECT_EQ(check.rfind("ok ", 0), 0u) << check;

  // An objective the model does not report stops the job; nothing is published.
  WriteFile(dir.path() + "/bad.yaml", head + R"(tuning:
  objective: {metric: "validation:silhouette"}
  max_jobs: 5
  parameter_ranges:
    wd: {type: continuous, min: 0, max: 0.1}
)");
  auto [bad_code, bad] =
      testing::RunCommand("cd " + dir.path() + " && " + kOsprey + " train --config bad.yaml");
  EXPECT_EQ(bad_code, 1) << bad;
  EXPECT_NE(bad.find("bad.yaml:9:1: tuning.objective.metric: linear_learner does not report "
                     "'validation:silhouette' here; it reports: validation:accuracy"),
            std::string::npos)
      << bad;
  // A range the algorithm rejects fails before any data is read, at the range.
  WriteFile(dir.path() + "/range.yaml", head + R"(tuning:
  objective: {metric: "validation:accuracy"}
  parameter_ranges:
    learning_rate: {type: continuous, min: 0, max: 0.1}
    wd: {type: continuous, min: 0, max: 0.1}
)");
  auto [range_code, range] =
      testing::RunCommand("cd " + dir.path() + " && " + kOsprey + " train --config range.yaml");
  EXPECT_EQ(range_code, 1) << range;
  EXPECT_NE(range.find("range.yaml:12:5: tuning.parameter_ranges.learning_rate: value 0: "),
            std::string::npos)
      << range;
  auto [ls_code, listing] = testing::RunCommand("ls " + dir.path() + "/registry/cv");
  EXPECT_EQ(listing, "1\n");
}

}  // namespace
}  // namespace osprey
