// `osprey train` and `osprey evaluate` as a user runs them: generated CSV files, a YAML file, the
// real binary. Each published artifact is read back from the registry directory, loaded by the
// registry's loaders and must predict exactly what the trainer predicted for the test split
// (written by --predictions-out), in process and over HTTP from a daemon serving the registry
// (the model's :predict route and SageMaker's /invocations). Bad configurations and data fail
// with exit code 1 and the position of the problem.
#include <cmath>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "daemon/trainer/registry_files.h"
#include "models/ml/served.h"
#include "tests/integration/served_as_trained.h"
#include "tests/integration/subprocess.h"
#include "tests/testing/fake_clock.h"

namespace osprey {
namespace {

const std::string kOsprey = std::string(OSPREY_BIN_DIR) + "/osprey";

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

std::vector<std::vector<std::string>> ReadCsv(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::vector<std::string>> rows;
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) cells.push_back(cell);
    rows.push_back(cells);
  }
  return rows;
}

// Label first, no header (SageMaker's convention): y = 1 when 2a - 0.5b + noise > 0; every
// 40th value of c is missing.
std::string BinaryCsv(int rows, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.0, 1.0);
  std::ostringstream out;
  out.precision(10);
  for (int r = 0; r < rows; ++r) {
    const double a = g(rng), b = 3 * g(rng), c = 5 + g(rng);
    const int y = 2 * a - 0.5 * b + 0.3 * g(rng) > 0 ? 1 : 0;
    out << y << ',' << a << ',' << b << ',';
    if (r % 40 != 0) out << c;
    out << '\n';
  }
  return out.str();
}

std::string ClustersCsv(int rows, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.0, 1.0);
  std::ostringstream out;
  out.precision(10);
  out << "u,v,w\n";
  const double centres[3][3] = {{0, 0, 0}, {10, 0, 5}, {0, 10, -5}};
  for (int r = 0; r < rows; ++r) {
    const auto& c = centres[r % 3];
    out << c[0] + g(rng) << ',' << c[1] + g(rng) << ',' << c[2] + 0.1 * g(rng) << '\n';
  }
  return out.str();
}

// Loads the latest version of `name` and returns its predictions for the feature columns of
// the trainer's predictions file (the first `inputs` columns).
std::vector<models::Prediction> ServePredictions(const std::string& registry,
                                                 const std::string& name,
                                                 const std::vector<std::vector<std::string>>& csv,
                                                 size_t inputs) {
  std::vector<models::FeatureRow> rows;
  for (size_t r = 1; r < csv.size(); ++r) {
    models::FeatureRow row;
    for (size_t c = 0; c < inputs; ++c) row.emplace_back(std::stod(csv[r][c]));
    rows.push_back(std::move(row));
  }
  return testing::PredictWithRegistryModel(registry, name, rows, inputs);
}

TEST(TrainerTest, LinearLearnerPublishesAModelThatServesWhatTheTrainerPredicted) {
  testing::TempDir dir;
  WriteFile(dir.path() + "/data.csv", BinaryCsv(3000, 1));
  WriteFile(dir.path() + "/train.yaml", R"(name: churn
registry: ./registry
data: {format: csv, path: data.csv}
preparation:
  missing: median
  seed: 3
  cross_validation: {folds: 4}
algorithm: linear_learner
hyperparameters:
  predictor_type: binary_classifier
  loss: logistic
  mini_batch_size: 64
  epochs: 20
  wd: 0.0001
)");
  auto [code, output] = testing::RunCommand("cd " + dir.path() + " && " + kOsprey +
                                            " train --config train.yaml --predictions-out p.csv");
  ASSERT_EQ(code, 0) << output;
  EXPECT_NE(output.find("churn version 1"), std::string::npos) << output;
  EXPECT_NE(output.find("rows              train 2100, validation 300, test 600"),
            std::string::npos)
      << output;
  EXPECT_NE(output.find("cross-validation  accuracy"), std::string::npos) << output;
  // A progress bar only on a terminal: this run's stderr is a pipe.
  EXPECT_EQ(output.find('\r'), std::string::npos);

  const auto csv = ReadCsv(dir.path() + "/p.csv");
  ASSERT_EQ(csv.size(), 601u);
  EXPECT_EQ(csv[0], (std::vector<std::string>{"x1", "x2", "x3", "score"}));
  const auto preds = ServePredictions(dir.path() + "/registry", "churn", csv, 3);
  ASSERT_EQ(preds.size(), 600u);
  for (size_t r = 0; r < preds.size(); ++r) {
    const double trainer = std::stod(csv[r + 1][3]);
    EXPECT_NEAR(preds[r].score, trainer, 1e-12 * std::max(1.0, std::abs(trainer))) << r;
    ASSERT_TRUE(preds[r].predicted_label.has_value());
    EXPECT_EQ(*preds[r].predicted_label, trainer >= 0.5 ? 1 : 0);
  }
  {
    auto served = testing::StartServingDaemon(dir.path() + "/registry", dir.path() + "/state");
    ASSERT_NE(served, nullptr);
    testing::ExpectServedAsTrained(served->http_port(), "churn",
                                   testing::ReadTrainerPredictions(dir.path() + "/p.csv"), 3,
                                   1e-12);
    EXPECT_TRUE(served->Shutdown().ok());
  }

  // The metadata records what REGISTRY.md asks for.
  auto meta = daemon::trainer::ReadFileBytes(dir.path() + "/registry/churn/1/metadata.json");
  ASSERT_TRUE(meta.ok());
  for (const char* field :
       {"\"kind\":\"linear\"", "\"task\":\"binary\"", "\"algorithm\":\"linear_learner\"",
        "\"model_file\":\"model.json\"", "\"hyperparameters\":{",
        "\"predictor_type\":\"binary_classifier\"", "\"content_hash\":\"sha256:",
        "\"test\":{\"accuracy\":", "\"cross_validation\":{", "\"source\":{\"data\":\"data.csv\""}) {
    EXPECT_NE(meta->find(field), std::string::npos) << field << " in " << *meta;
  }

  // A second run publishes version 2; evaluate scores the latest on the whole file.
  auto [code2, output2] =
      testing::RunCommand("cd " + dir.path() + " && " + kOsprey + " train -c train.yaml");
  ASSERT_EQ(code2, 0) << output2;
  EXPECT_NE(output2.find("churn version 2"), std::string::npos) << output2;
  auto [code3, output3] = testing::RunCommand("cd " + dir.path() + " && " + kOsprey +
                                              " evaluate --registry registry --model churn "
                                              "--data data.csv");
  ASSERT_EQ(code3, 0) << output3;
  EXPECT_NE(output3.find("churn version 2"), std::string::npos) << output3;
  const auto at = output3.find("accuracy");
  ASSERT_NE(at, std::string::npos) << output3;
  EXPECT_GT(std::stod(output3.substr(output3.find_first_of("0123456789", at))), 0.9) << output3;
}

TEST(TrainerTest, KMeansAndPcaServeWhatTheTrainerPredicted) {
  testing::TempDir dir;
  WriteFile(dir.path() + "/clusters.csv", ClustersCsv(1500, 2));
  WriteFile(dir.path() + "/km.yaml", R"(name: clusters
registry: ./registry
data: {path: clusters.csv, header: true}
algorithm: kmeans
hyperparameters: {k: 3, init_method: kmeans++, algorithm: elkan}
)");
  WriteFile(dir.path() + "/pca.yaml", R"(name: axes
registry: ./registry
data: {path: clusters.csv, header: true}
algorithm: pca
hyperparameters: {num_components: 2, algorithm_mode: regular}
)");
  auto [code, output] = testing::RunCommand("cd " + dir.path() + " && " + kOsprey +
                                            " train --config km.yaml --predictions-out km.csv");
  ASSERT_EQ(code, 0) << output;
  EXPECT_NE(output.find("silhouette"), std::string::npos) << output;
  auto csv = ReadCsv(dir.path() + "/km.csv");
  ASSERT_EQ(csv.size(), 301u);
  EXPECT_EQ(csv[0][3], "closest_cluster");
  auto preds = ServePredictions(dir.path() + "/registry", "clusters", csv, 3);
  ASSERT_EQ(preds.size(), 300u);
  for (size_t r = 0; r < preds.size(); ++r) {
    EXPECT_EQ(preds[r].predicted_label.value_or(-1), std::stoi(csv[r + 1][3])) << r;
    EXPECT_NEAR(preds[r].score, std::stod(csv[r + 1][4]), 1e-9) << r;
  }

  auto [pcode, poutput] = testing::RunCommand("cd " + dir.path() + " && " + kOsprey +
                                              " train --config pca.yaml --predictions-out pca.csv");
  ASSERT_EQ(pcode, 0) << poutput;
  csv = ReadCsv(dir.path() + "/pca.csv");
  ASSERT_EQ(csv.size(), 301u);
  preds = ServePredictions(dir.path() + "/registry", "axes", csv, 3);
  ASSERT_EQ(preds.size(), 300u);
  for (size_t r = 0; r < preds.size(); ++r) {
    ASSERT_EQ(preds[r].values.size(), 2u);
    EXPECT_NEAR(preds[r].values[0], std::stod(csv[r + 1][3]), 1e-9) << r;
    EXPECT_NEAR(preds[r].values[1], std::stod(csv[r + 1][4]), 1e-9) << r;
  }

  auto served = testing::StartServingDaemon(dir.path() + "/registry", dir.path() + "/state");
  ASSERT_NE(served, nullptr);
  testing::ExpectServedAsTrained(served->http_port(), "clusters",
                                 testing::ReadTrainerPredictions(dir.path() + "/km.csv"), 3, 1e-9);
  testing::ExpectServedAsTrained(served->http_port(), "axes",
                                 testing::ReadTrainerPredictions(dir.path() + "/pca.csv"), 3, 1e-9);
  EXPECT_TRUE(served->Shutdown().ok());
}

TEST(TrainerTest, XGBoostModelsMoveBothWaysBetweenOspreyAndPython) {
  testing::TempDir dir;
  WriteFile(dir.path() + "/data.csv", BinaryCsv(2000, 4));
  WriteFile(dir.path() + "/xgb.yaml", R"(name: trees
registry: ./registry
data: {path: data.csv}
preparation: {missing: keep}
algorithm: xgboost
hyperparameters:
  num_round: 40
  early_stopping_rounds: 5
  objective: binary:logistic
  max_depth: 3
  eta: 0.3
  nthread: 1
)");
  auto [code, output] = testing::RunCommand("cd " + dir.path() + " && " + kOsprey +
                                            " train --config xgb.yaml --predictions-out p.csv");
  ASSERT_EQ(code, 0) << output;
  EXPECT_NE(output.find("xgboost (binary)"), std::string::npos) << output;
  const auto csv = ReadCsv(dir.path() + "/p.csv");
  ASSERT_EQ(csv.size(), 401u);
  const auto preds = ServePredictions(dir.path() + "/registry", "trees", csv, 3);
  ASSERT_EQ(preds.size(), 400u);
  for (size_t r = 0; r < preds.size(); ++r) {
    EXPECT_NEAR(preds[r].score, std::stod(csv[r + 1][3]), 1e-7) << r;
  }
  {
    auto served = testing::StartServingDaemon(dir.path() + "/registry", dir.path() + "/state");
    ASSERT_NE(served, nullptr);
    testing::ExpectServedAsTrained(served->http_port(), "trees",
                                   testing::ReadTrainerPredictions(dir.path() + "/p.csv"), 3, 1e-7);
    EXPECT_TRUE(served->Shutdown().ok());
  }
  // Python's xgboost (Debian python3-xgboost) loads the file and predicts the same.
  auto [pcode, pout] =
      testing::RunCommand("cd " + dir.path() +
                          " && /usr/bin/python3 -c \"import xgboost, numpy; "
                          "b = xgboost.Booster(); b.load_model('registry/trees/1/model.json'); "
                          "x = numpy.loadtxt('p.csv', delimiter=',', skiprows=1); "
                          "p = b.predict(xgboost.DMatrix(x[:, :3])); "
                          "print('maxdiff', float(abs(p - x[:, 3]).max()))\" 2>&1");
  if (pout.find("No module named") != std::string::npos) {
    GTEST_SKIP() << "python3-xgboost not installed: " << pout;
  }
  ASSERT_EQ(pcode, 0) << pout;
  const auto at = pout.find("maxdiff ");
  ASSERT_NE(at, std::string::npos) << pout;
  EXPECT_LT(std::stod(pout.substr(at + 8)), 1e-6) << pout;

  // And the other way: a model trained by Python's xgboost, placed in the registry, is served
  // here (evaluate loads it through the registry's loaders).
  auto [tcode, tout] = testing::RunCommand(
      "cd " + dir.path() +
      " && mkdir -p registry/py/1 && /usr/bin/python3 -c \"import xgboost, "
      "numpy; d = numpy.genfromtxt('data.csv', delimiter=','); "
      "b = xgboost.train({'objective': 'binary:logistic', 'max_depth': 3, 'nthread': 1}, "
      "xgboost.DMatrix(d[:, 1:], label=d[:, 0]), 20); b.save_model('registry/py/1/model.json'); "
      "open('registry/py/1/metadata.json', 'w').write('{\\\"format_version\\\": 1, "
      "\\\"kind\\\": \\\"xgboost\\\", \\\"task\\\": \\\"binary\\\", "
      "\\\"model_file\\\": \\\"model.json\\\", \\\"inputs\\\": [{\\\"name\\\": "
      "\\\"a\\\"}, {\\\"name\\\": \\\"b\\\"}, {\\\"name\\\": \\\"c\\\"}]}')\" 2>&1");
  ASSERT_EQ(tcode, 0) << tout;
  auto [ecode, eout] = testing::RunCommand("cd " + dir.path() + " && " + kOsprey +
                                           " evaluate -r registry -m py -d data.csv");
  ASSERT_EQ(ecode, 0) << eout;
  EXPECT_NE(eout.find("py version 1 (xgboost, binary)"), std::string::npos) << eout;
  const auto acc = eout.find("accuracy");
  ASSERT_NE(acc, std::string::npos) << eout;
  EXPECT_GT(std::stod(eout.substr(eout.find_first_of("0123456789", acc))), 0.9) << eout;
}

TEST(TrainerTest, ProgressBarOnATerminal) {
  if (testing::RunCommand("command -v script").first != 0) {
    GTEST_SKIP() << "util-linux `script` (a pseudo-terminal) is not installed";
  }
  testing::TempDir dir;
  WriteFile(dir.path() + "/data.csv", BinaryCsv(500, 6));
  WriteFile(dir.path() + "/t.yaml", R"(name: tty
registry: ./registry
data: {path: data.csv}
algorithm: linear_learner
hyperparameters: {predictor_type: binary_classifier, epochs: 3, early_stopping_patience: 5}
)");
  auto [code, output] = testing::RunCommand("cd " + dir.path() + " && script -qec '" + kOsprey +
                                            " train -c t.yaml' /dev/null");
  ASSERT_EQ(code, 0) << output;
  EXPECT_NE(output.find("\repochs [=========="), std::string::npos) << output;
  EXPECT_NE(output.find("] 3/3"), std::string::npos) << output;
}

TEST(TrainerTest, BadConfigAndBadDataFailWithTheirPosition) {
  testing::TempDir dir;
  WriteFile(dir.path() + "/data.csv", "1,2,3\n0,4,x\n");
  WriteFile(dir.path() + "/typo.yaml", R"(name: m
registry: ./registry
data: {path: data.csv}
algoritm: kmeans
)");
  auto [code, output] =
      testing::RunCommand("cd " + dir.path() + " && " + kOsprey + " train -c typo.yaml");
  EXPECT_EQ(code, 1);
  EXPECT_NE(output.find("typo.yaml:4:1: algoritm: unknown key 'algoritm' (did you mean "
                        "'algorithm'?)"),
            std::string::npos)
      << output;

  WriteFile(dir.path() + "/hp.yaml", R"(name: m
registry: ./registry
data: {path: data.csv}
algorithm: linear_learner
hyperparameters:
  predictor_type: regressor
  epochz: 3
)");
  auto [code2, output2] =
      testing::RunCommand("cd " + dir.path() + " && " + kOsprey + " train -c hp.yaml");
  EXPECT_EQ(code2, 1);
  EXPECT_NE(output2.find("hp.yaml:7:3: hyperparameters.epochz: unknown hyperparameter"),
            std::string::npos)
      << output2;

  WriteFile(dir.path() + "/ok.yaml", R"(name: m
registry: ./registry
data: {path: data.csv}
algorithm: linear_learner
hyperparameters: {predictor_type: regressor}
)");
  auto [code3, output3] =
      testing::RunCommand("cd " + dir.path() + " && " + kOsprey + " train -c ok.yaml");
  EXPECT_EQ(code3, 1);
  EXPECT_NE(output3.find("data.csv: line 2, column 3 ('x2'): not a number: 'x'"), std::string::npos)
      << output3;
  // Nothing was published.
  auto missing = daemon::trainer::ReadArtifact(dir.path() + "/registry", "m");
  EXPECT_FALSE(missing.ok());
}

}  // namespace
}  // namespace osprey
