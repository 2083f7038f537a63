// `osprey train` with preparation.cross_validation, for each of the four algorithms, as a user
// runs it (the real binary on generated CSV files): the summary line, metadata.json's
// "cross_validation" {metric, folds, mean, stddev, values} (mean and spread recomputed here
// from the values), the report's per-fold values (checked as well-formed and self-contained by
// check_train_report.py), leave-one-out, the progress bar on a terminal, and bad fold counts
// failing with the train file's line and column.
#include <cmath>
#include <fstream>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/integration/subprocess.h"
#include "tests/testing/fake_clock.h"

namespace osprey {
namespace {

const std::string kOsprey = std::string(OSPREY_BIN_DIR) + "/osprey";
const std::string kChecker = std::string("/usr/bin/python3 ") + OSPREY_SOURCE_DIR +
                             "/tests/integration/check_train_report.py";

void WriteFile(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Header y,a,b,c: y = 1 when a - 0.5 b + noise > 0 (about a third of the rows: an unbalanced
// label for stratification), c = 3 clusters' coordinate. `regression`: y = 2a - b + noise.
std::string Csv(int rows, uint64_t seed, bool regression = false) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.0, 1.0);
  std::ostringstream out;
  out.precision(10);
  out << "y,a,b,c\n";
  const double centres[3] = {0, 6, 12};
  for (int r = 0; r < rows; ++r) {
    const double a = g(rng), b = g(rng), c = centres[r % 3] + 0.5 * g(rng);
    if (regression) {
      out << 2 * a - b + 0.2 * g(rng);
    } else {
      out << (a - 0.5 * b + 0.3 * g(rng) > 0.5 ? 1 : 0);
    }
    out << ',' << a << ',' << b << ',' << c << '\n';
  }
  return out.str();
}

// metadata.json's cross_validation, read by Python's json module.
struct CvMetadata {
  std::string metric;
  int folds = 0;
  double mean = 0, stddev = 0;
  int stratified = -1, leave_one_out = -1;
  int rows = 0;
  int train_and_validation = 0;  // metadata's split sizes
  std::vector<double> values;
  std::vector<std::string> shown;  // each value as the report prints it (6 significant digits)
};

CvMetadata ReadCv(const std::string& metadata) {
  auto [code, out] = testing::RunCommand(
      "/usr/bin/python3 -c \"import json, sys; meta = json.load(open(sys.argv[1])); "
      "m = meta['metrics']['cross_validation']; s = meta['source']['split']; "
      "print(m['metric'], m['folds'], repr(m['mean']), repr(m['stddev']), int(m['stratified']), "
      "int(m['leave_one_out']), m['rows'], s['train'] + s['validation']); "
      "print(' '.join(repr(v) for v in m['values'])); "
      "print(' '.join('%.6g' % v for v in m['values']))\" " +
      metadata + " 2>&1");
  EXPECT_EQ(code, 0) << out;
  CvMetadata m;
  std::istringstream in(out);
  std::string line;
  std::getline(in, line);
  std::istringstream head(line);
  head >> m.metric >> m.folds >> m.mean >> m.stddev >> m.stratified >> m.leave_one_out >> m.rows >>
      m.train_and_validation;
  std::getline(in, line);
  std::istringstream values(line);
  for (double v; values >> v;) m.values.push_back(v);
  std::getline(in, line);
  std::istringstream shown(line);
  for (std::string v; shown >> v;) m.shown.push_back(v);
  return m;
}

// The mean and sample standard deviation are those of the values.
void ExpectConsistent(const CvMetadata& m) {
  ASSERT_FALSE(m.values.empty());
  const double n = static_cast<double>(m.values.size());
  const double mean = std::accumulate(m.values.begin(), m.values.end(), 0.0) / n;
  double ss = 0;
  for (double v : m.values) ss += (v - mean) * (v - mean);
  const double stddev = m.values.size() > 1 ? std::sqrt(ss / (n - 1)) : 0.0;
  EXPECT_NEAR(m.mean, mean, 1e-12 * std::max(1.0, std::abs(mean)));
  EXPECT_NEAR(m.stddev, stddev, 1e-9 * std::max(1.0, stddev));
}

struct Case {
  const char* name;
  const char* data;  // the data file's contents: "binary" or "regression"
  const char* algorithm;
  const char* metric;
  bool stratified;
  const char* sections;  // the report's sections
  double lo, hi;         // plausible range of each fold's value
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class CrossValidationAlgorithmTest : public ::testing::TestWithParam<Case> {};

TEST_P(CrossValidationAlgorithmTest, FiveFoldsGiveFiveValuesInTheSummaryMetadataAndReport) {
  const Case& c = GetParam();
  testing::TempDir dir;
  const std::string d = dir.path();
  WriteFile(d + "/data.csv", Csv(600, 7, std::string(c.data) == "regression"));
  WriteFile(d + "/train.yaml", std::string(R"(name: cv
registry: ./registry
data: {path: data.csv, header: true, label: y}
preparation:
  cross_validation: {folds: 5}
features:
  - {step: standardize, columns: [a, b]}
)") + c.algorithm);
  auto [code, output] =
      testing::RunCommand("cd " + d + " && " + kOsprey + " train --config train.yaml 2>&1");
  ASSERT_EQ(code, 0) << output;
  // A progress bar only on a terminal: this run's stderr is a pipe.
  EXPECT_EQ(output.find('\r'), std::string::npos);

  const CvMetadata m = ReadCv(d + "/registry/cv/1/metadata.json");
  EXPECT_EQ(m.metric, c.metric);
  EXPECT_EQ(m.folds, 5);
  ASSERT_EQ(m.values.size(), 5u);
  EXPECT_EQ(m.rows, m.train_and_validation);
  EXPECT_NEAR(m.rows, 480, 2);  // train + validation of 600 rows (70/10/20)
  EXPECT_EQ(m.stratified, c.stratified ? 1 : 0);
  EXPECT_EQ(m.leave_one_out, 0);
  ExpectConsistent(m);
  for (double v : m.values) {
    EXPECT_GE(v, c.lo) << c.metric;
    EXPECT_LE(v, c.hi) << c.metric;
  }
  EXPECT_GT(m.stddev, 0.0);  // five different folds do not score alike

  std::ostringstream line;
  line.precision(6);
  line << "cross-validation  " << c.metric << " " << m.mean << " ± " << m.stddev << " over 5 folds"
       << (c.stratified ? " (stratified)" : "") << "\n";
  EXPECT_NE(output.find(line.str()), std::string::npos) << line.str() << "\nin\n" << output;

  auto [ccode, coutput] = testing::RunCommand("cd " + d + " && " + kChecker +
                                              " registry/cv/1/report.html "
                                              "registry/cv/1/metadata.json " +
                                              c.sections + " 2>&1");
  EXPECT_EQ(ccode, 0) << coutput;
  const std::string report = ReadFile(d + "/registry/cv/1/report.html");
  for (size_t f = 0; f < 5; ++f) {
    const std::string cell = "data-fold=\"" + std::to_string(f + 1) + "\">" + m.shown[f] + "</td>";
    EXPECT_NE(report.find(cell), std::string::npos) << cell;
  }
  EXPECT_NE(report.find("<title>fold 5: " + m.shown[4] + "</title>"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(
    Algorithms, CrossValidationAlgorithmTest,
    ::testing::Values(
        Case{"linear_learner", "binary", R"(algorithm: linear_learner
hyperparameters: {predictor_type: binary_classifier, epochs: 5, mini_batch_size: 50}
)",
             "accuracy", true, "summary,metrics,cross-validation,roc-pr,confusion,learning-curve",
             0.6, 1.0},
        Case{"xgboost_binary", "binary", R"(algorithm: xgboost
hyperparameters: {objective: "binary:logistic", num_round: 8, max_depth: 3, nthread: 1}
)",
             "accuracy", true, "summary,metrics,cross-validation,roc-pr,confusion,learning-curve", 0.6,
             1.0},
        Case{"xgboost_regression", "regression", R"(algorithm: xgboost
hyperparameters: {objective: "reg:squarederror", num_round: 8, max_depth: 3, nthread: 1}
)",
             "rmse", false, "summary,metrics,cross-validation,residuals,learning-curve", 0.05, 2.0},
        Case{"kmeans", "binary", R"(algorithm: kmeans
hyperparameters: {k: 3}
)",
             "inertia_per_row", false, "summary,metrics,cross-validation,clusters,inertia-curve", 0.1,
             10.0},
        Case{"pca", "binary", R"(algorithm: pca
hyperparameters: {num_components: 2, algorithm_mode: regular}
)",
             "explained_variance_ratio", false,
             "summary,metrics,cross-validation,explained-variance", 0.5, 1.0}),
    [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

TEST(CrossValidationTrainTest, LeaveOneOutHasOneFoldPerRow) {
  testing::TempDir dir;
  const std::string d = dir.path();
  WriteFile(d + "/small.csv", Csv(30, 3));
  WriteFile(d + "/loo.yaml", R"(name: loo
registry: ./registry
data: {path: small.csv, header: true, label: y}
preparation:
  cross_validation: {leave_one_out: true}
algorithm: linear_learner
hyperparameters: {predictor_type: binary_classifier, epochs: 3}
)");
  auto [code, output] =
      testing::RunCommand("cd " + d + " && " + kOsprey + " train --config loo.yaml 2>&1");
  ASSERT_EQ(code, 0) << output;
  const CvMetadata m = ReadCv(d + "/registry/loo/1/metadata.json");
  EXPECT_EQ(m.metric, "accuracy");
  EXPECT_EQ(m.rows, m.train_and_validation);
  EXPECT_NEAR(m.rows, 24, 1);  // 70 % + 10 % of 30
  EXPECT_EQ(m.folds, m.rows);
  ASSERT_EQ(m.values.size(), static_cast<size_t>(m.rows));
  EXPECT_EQ(m.leave_one_out, 1);
  EXPECT_EQ(m.stratified, 0);
  ExpectConsistent(m);
  for (double v : m.values) EXPECT_TRUE(v == 0.0 || v == 1.0) << v;  // one row: right or wrong
  EXPECT_NE(output.find(" over " + std::to_string(m.rows) + " folds (leave-one-out)\n"),
            std::string::npos)
      << output;
}

TEST(CrossValidationTrainTest, BadFoldCountsFailWithTheirPosition) {
  testing::TempDir dir;
  const std::string d = dir.path();
  WriteFile(d + "/small.csv", Csv(30, 3));
  auto train = [&](const std::string& cross_validation) {
    WriteFile(d + "/t.yaml", R"(name: bad
registry: ./registry
data: {path: small.csv, header: true, label: y}
preparation:
  cross_validation: )" + cross_validation +
                                 R"(
algorithm: kmeans
hyperparameters: {k: 2}
)");
    return testing::RunCommand("cd " + d + " && " + kOsprey + " train --config t.yaml 2>&1");
  };
  {
    auto [code, output] = train("{folds: 25}");
    EXPECT_EQ(code, 1);
    EXPECT_NE(output.find("t.yaml:5:3: preparation.cross_validation: 24 rows (train + validation) "
                          "are too few for 25 folds"),
              std::string::npos)
        << output;
  }
  {
    auto [code, output] = train("{folds: 1}");
    EXPECT_EQ(code, 1);
    EXPECT_NE(output.find("t.yaml:5:29: preparation.cross_validation.folds: must be in [2, 1000]"),
              std::string::npos)
        << output;
  }
  {
    auto [code, output] = train("{folds: 24}");  // one row per fold is allowed
    EXPECT_EQ(code, 0) << output;
  }
  // Only the last run published.
  EXPECT_TRUE(std::ifstream(d + "/registry/bad/1/metadata.json").good());
  EXPECT_FALSE(std::ifstream(d + "/registry/bad/2/metadata.json").good());
}

// The tuning objective "cross_validation:<metric>" works for the unsupervised algorithms too:
// k-means' held-out inertia per row only falls as k grows, so minimising it picks the largest k.
// k is required by k-means: tuning it is enough (it is not also a fixed hyperparameter).
TEST(CrossValidationTrainTest, TuningOnKMeansHeldOutInertia) {
  testing::TempDir dir;
  WriteFile(dir.path() + "/data.csv", Csv(300, 9));
  WriteFile(dir.path() + "/t.yaml", R"(name: km
registry: ./registry
data: {path: data.csv, header: true, label: y}
preparation: {cross_validation: {folds: 3}}
algorithm: kmeans
hyperparameters: {init_method: kmeans++}  # k (required) is tuned
tuning:
  strategy: grid
  objective: {metric: "cross_validation:inertia_per_row", type: minimize}
  parameter_ranges:
    k: {type: integer, min: 1, max: 4}
)");
  auto [code, output] =
      testing::RunCommand("cd " + dir.path() + " && " + kOsprey + " train -c t.yaml 2>&1");
  ASSERT_EQ(code, 0) << output;
  auto [pcode, k] = testing::RunCommand(
      "/usr/bin/python3 -c \"import json; m = json.load(open('" + dir.path() +
      "/registry/km/1/metadata.json')); print(m['hyperparameters']['k'], "
      "len(m['tuning']['trials']), m['metrics']['cross_validation']['folds'])\" 2>&1");
  ASSERT_EQ(pcode, 0) << k;
  EXPECT_EQ(k, "4 4 3\n") << output;

  // A value k-means rejects is reported at the range, before any data is read.
  std::string yaml = ReadFile(dir.path() + "/t.yaml");
  yaml.replace(yaml.find("min: 1"), 6, "min: 0");
  WriteFile(dir.path() + "/bad.yaml", yaml);
  auto [bcode, bad] =
      testing::RunCommand("cd " + dir.path() + " && " + kOsprey + " train -c bad.yaml 2>&1");
  EXPECT_EQ(bcode, 1);
  EXPECT_NE(bad.find("bad.yaml:11:5: tuning.parameter_ranges.k: value 0: must be in [1, "),
            std::string::npos)
      << bad;
}

TEST(CrossValidationTrainTest, ProgressBarOverTheFoldsOnATerminal) {
  if (testing::RunCommand("command -v script").first != 0) {
    GTEST_SKIP() << "util-linux `script` (a pseudo-terminal) is not installed";
  }
  testing::TempDir dir;
  WriteFile(dir.path() + "/data.csv", Csv(200, 5));
  WriteFile(dir.path() + "/t.yaml", R"(name: tty
registry: ./registry
data: {path: data.csv, header: true, label: y}
preparation: {cross_validation: {folds: 4}}
algorithm: pca
hyperparameters: {num_components: 1}
)");
  auto [code, output] = testing::RunCommand("cd " + dir.path() + " && script -qec '" + kOsprey +
                                            " train -c t.yaml' /dev/null");
  ASSERT_EQ(code, 0) << output;
  EXPECT_NE(output.find("\rcross-validation [======="), std::string::npos) << output;
  EXPECT_NE(output.find("] 4/4"), std::string::npos) << output;
}

}  // namespace
}  // namespace osprey
