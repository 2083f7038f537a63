// `osprey train` with a `features:` pipeline over numeric, categorical and text columns, as a
// user runs it: the published artifact (model + pipeline.json) is loaded by the registry's
// loaders and, fed the raw test rows the trainer wrote (--predictions-out), must predict
// exactly what the trainer predicted; `osprey evaluate` scores the raw data file.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "daemon/trainer/registry_files.h"
#include "models/serving/builtin_kinds.h"
#include "models/ml/dataset.h"
#include "models/ml/served.h"
#include "tests/integration/subprocess.h"
#include "tests/testing/fake_clock.h"

namespace osprey {
namespace {

const std::string kOsprey = std::string(OSPREY_BIN_DIR) + "/osprey";

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

// spend (log-normal, higher for churners; some missing), plan (category), review (free text
// with commas and quotes; some missing), churn (label).
std::string ChurnCsv(int rows, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.0, 1.0);
  const char* good[] = {"Great service, very happy!", "Loved the fast support",
                        "happy, happy customer", "works \"\"perfectly\"\""};
  const char* bad[] = {"Terrible: slow and broken.", "cancelled; SLOW support",
                       "broken again, refund please", "never works"};
  const char* plans[] = {"basic", "gold", "silver"};
  std::ostringstream out;
  out.precision(10);
  out << "spend,plan,review,churn\n";
  for (int r = 0; r < rows; ++r) {
    const bool churn = rng() % 5 < 2;
    if (r % 29 != 0) out << std::exp(2 + 0.5 * g(rng) + (churn ? 0.4 : 0.0));
    out << ',';
    if (r % 31 != 0) out << plans[churn ? rng() % 2 : rng() % 3];
    out << ',';
    const bool noisy = rng() % 7 == 0;
    if (r % 37 != 0) out << '"' << ((churn != noisy) ? bad[rng() % 4] : good[rng() % 4]) << '"';
    out << ',' << (churn ? 1 : 0) << '\n';
  }
  return out.str();
}

std::string TrainYaml(const std::string& algorithm) {
  std::string y = R"(name: churn
registry: ./registry
data: {format: csv, path: data.csv, header: true, label: churn, categorical: [plan], text: [review]}
preparation: {missing: MISSING, seed: 5}
features:
  - step: log
    columns: [spend]
  - step: standardize
  - step: polynomial
    columns: [spend]
  - step: bin
    columns: [spend^2]
    quantiles: 4
  - step: cross
    columns: [plan, spend^2]
  - step: text
    columns: [review]
    ngram_max: 2
    min_df: 0.01
)";
  // The imputer's fill values (per pipeline output) are recorded and applied when serving, for
  // XGBoost too (whose own loader would pass missing values on as missing).
  y.replace(y.find("MISSING"), 7, "mean");
  if (algorithm == "kmeans") {
    y += R"(  - step: one_hot
algorithm: kmeans
hyperparameters: {k: 3}
)";
  } else if (algorithm == "xgboost") {
    y += R"(  - step: tree_leaves
    columns: [spend]
    hyperparameters: {num_round: 3, max_depth: 2, objective: "binary:logistic"}
  - step: one_hot
algorithm: xgboost
hyperparameters: {num_round: 20, max_depth: 3, objective: "binary:logistic"}
)";
  } else {
    y += R"(  - step: one_hot
algorithm: linear_learner
hyperparameters: {predictor_type: binary_classifier, epochs: 10}
)";
  }
  return y;
}

class FeaturesTrainTest : public ::testing::TestWithParam<std::string> {};

TEST_P(FeaturesTrainTest, PublishedPipelineServesWhatTheTrainerPredicted) {
  testing::TempDir dir;
  WriteFile(dir.path() + "/data.csv", ChurnCsv(1500, 9));
  WriteFile(dir.path() + "/train.yaml", TrainYaml(GetParam()));
  auto [code, output] = testing::RunCommand("cd " + dir.path() + " && " + kOsprey +
                                            " train --config train.yaml --predictions-out p.csv");
  ASSERT_EQ(code, 0) << output;

  // The trainer's test rows are raw (strings quoted as CSV); the last column is its score.
  auto bytes = daemon::trainer::ReadFileBytes(dir.path() + "/p.csv");
  ASSERT_TRUE(bytes.ok());
  models::ml::CsvOptions o;
  o.header = true;
  o.label_column = "";
  o.categorical_columns = {"plan"};
  o.text_columns = {"review"};
  auto test = models::ml::ParseCsv(*bytes, o);
  ASSERT_TRUE(test.ok()) << test.status().ToString();
  // The served score: the classifier's P(1), or k-means' distance to the closest cluster.
  const bool kmeans = GetParam() == "kmeans";
  const size_t score_col = kmeans ? 4 : 3;
  ASSERT_EQ(test->cols(), score_col + 1);
  ASSERT_EQ(test->columns[score_col].name, kmeans ? "distance_to_cluster" : "score");
  ASSERT_EQ(test->rows(), 300u);

  auto artifact = daemon::trainer::ReadArtifact(dir.path() + "/registry", "churn");
  ASSERT_TRUE(artifact.ok()) << artifact.status().ToString();
  ASSERT_EQ(artifact->files.count("pipeline.json"), 1u);
  EXPECT_NE(artifact->metadata_json.find("\"preprocessing\":{\"file\":\"pipeline.json\""),
            std::string::npos);
  EXPECT_NE(artifact->metadata_json.find(
                R"("inputs":[{"name":"spend","type":"numeric"},{"name":"plan","type":"categorical"},{"name":"review","type":"text"}])"),
            std::string::npos)
      << artifact->metadata_json;
  models::ModelKindRegistry kinds;
  models::RegisterBuiltinKinds(kinds);  // the daemon's loaders
  const models::ModelLoader* loader = kinds.Find(artifact->kind);
  ASSERT_NE(loader, nullptr);
  auto model = (*loader)(*artifact);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  ASSERT_EQ((*model)->inputs().size(), 3u);

  std::vector<models::FeatureRow> rows(test->rows());
  size_t missing = 0;
  for (size_t r = 0; r < rows.size(); ++r) {
    for (size_t c = 0; c < 3; ++c) {
      const double v = test->x(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(c));
      if (std::isnan(v)) {
        rows[r].emplace_back(std::monostate{});
        ++missing;
      } else if (c == 0) {
        rows[r].emplace_back(v);
      } else {
        rows[r].emplace_back(test->columns[c].categories[static_cast<size_t>(v)]);
      }
    }
  }
  EXPECT_GT(missing, 0u);  // missing values of every kind are part of the check
  auto preds = (*model)->Predict(rows);
  ASSERT_TRUE(preds.ok()) << preds.status().ToString();
  for (size_t r = 0; r < rows.size(); ++r) {
    const double trainer = test->x(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(score_col));
    EXPECT_NEAR((*preds)[r].score, trainer, 1e-12 * std::max(1.0, std::abs(trainer))) << r;
    if (kmeans) {
      EXPECT_EQ((*preds)[r].predicted_label, static_cast<int>(test->x(static_cast<Eigen::Index>(r), 3)));
    }
  }
  if (kmeans) return;  // evaluate reports classifier metrics on labelled data

  auto [ecode, eout] = testing::RunCommand(kOsprey + " evaluate -r " + dir.path() +
                                           "/registry -m churn -d " + dir.path() +
                                           "/data.csv --header --label churn");
  ASSERT_EQ(ecode, 0) << eout;
  EXPECT_NE(eout.find("rows   1500"), std::string::npos) << eout;
  EXPECT_NE(eout.find("accuracy"), std::string::npos) << eout;
}

INSTANTIATE_TEST_SUITE_P(Algorithms, FeaturesTrainTest,
                         ::testing::Values("linear_learner", "xgboost", "kmeans"));

TEST(FeaturesTrainFailureTest, AnUnconvertedTextColumnFailsWithItsPosition) {
  testing::TempDir dir;
  WriteFile(dir.path() + "/data.csv", ChurnCsv(100, 1));
  WriteFile(dir.path() + "/train.yaml", R"(name: churn
registry: ./registry
data: {format: csv, path: data.csv, header: true, label: churn, categorical: [plan], text: [review]}
features:
  - step: one_hot
    columns: [plan]
  - step: standardize
    columns: [review]
algorithm: linear_learner
hyperparameters: {predictor_type: binary_classifier}
)");
  auto [code, output] =
      testing::RunCommand("cd " + dir.path() + " && " + kOsprey + " train --config train.yaml");
  EXPECT_EQ(code, 1);
  EXPECT_NE(output.find("train.yaml:7:5: features[1]: column 'review' is text, expected numeric"),
            std::string::npos)
      << output;

  // Missing-value indicator columns would be inputs the served pipeline cannot produce.
  WriteFile(dir.path() + "/train.yaml", R"(name: churn
registry: ./registry
data: {format: csv, path: data.csv, header: true, label: churn, categorical: [plan], text: [review]}
preparation: {missing_indicators: true}
features:
  - {step: text, columns: [review]}
  - {step: one_hot}
algorithm: linear_learner
hyperparameters: {predictor_type: binary_classifier}
)");
  auto [code2, output2] =
      testing::RunCommand("cd " + dir.path() + " && " + kOsprey + " train --config train.yaml");
  EXPECT_EQ(code2, 1);
  EXPECT_NE(output2.find("missing_indicators is not supported together with features"),
            std::string::npos)
      << output2;
}

}  // namespace
}  // namespace osprey
