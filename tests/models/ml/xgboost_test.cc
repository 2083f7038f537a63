#include "models/ml/xgboost.h"

#include <cmath>
#include <random>

#include <gtest/gtest.h>

#include "models/ml/metrics.h"
#include "models/ml/served.h"
#include "models/serving/builtin_kinds.h"

namespace osprey::models::ml {
namespace {

// y = step(x0) * 3 + x1^2 (a tree-friendly target); label 1 when x0 > 0.2 and x1 > -0.5.
Dataset Data(size_t n, uint64_t seed, bool classification) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  Dataset ds;
  ds.columns = {{"a", ColumnType::kNumeric, {}}, {"b", ColumnType::kNumeric, {}}};
  ds.has_label = true;
  ds.x.resize(static_cast<Eigen::Index>(n), 2);
  ds.y.resize(static_cast<Eigen::Index>(n));
  for (Eigen::Index r = 0; r < ds.x.rows(); ++r) {
    ds.x(r, 0) = u(rng);
    ds.x(r, 1) = u(rng);
    ds.y[r] = classification ? (ds.x(r, 0) > 0.2 && ds.x(r, 1) > -0.5 ? 1 : 0)
                             : (ds.x(r, 0) > 0 ? 3.0 : 0.0) + ds.x(r, 1) * ds.x(r, 1);
  }
  return ds;
}

TEST(XGBoostTest, RegressionFitsAStepFunction) {
  Dataset train = Data(3000, 1, false), test = Data(500, 2, false);
  auto options = XGBoostOptions::FromHyperparameters(
      {{"num_round", "60"}, {"max_depth", "4"}, {"eta", "0.3"}, {"objective", "reg:squarederror"}});
  ASSERT_TRUE(options.ok()) << options.status().ToString();
  auto model = FitXGBoost(train, nullptr, *options);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto pred = (*model)->Predict(test.x);
  ASSERT_TRUE(pred.ok());
  std::vector<double> y(test.y.data(), test.y.data() + test.y.size());
  std::vector<double> p(pred->data(), pred->data() + pred->rows());
  EXPECT_GT(R2(y, p), 0.97);
  EXPECT_EQ((*model)->rounds(), 60);
}

TEST(XGBoostTest, BinaryWithEarlyStoppingAndJsonRoundTrip) {
  Dataset train = Data(3000, 3, true), val = Data(500, 4, true), test = Data(500, 5, true);
  auto options = XGBoostOptions::FromHyperparameters({{"num_round", "500"},
                                                      {"early_stopping_rounds", "5"},
                                                      {"objective", "binary:logistic"},
                                                      {"eval_metric", "logloss"},
                                                      {"max_depth", "3"}});
  ASSERT_TRUE(options.ok());
  int best = 0;
  auto model = FitXGBoost(train, &val, *options, &best);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_LT(best, 500);
  EXPECT_EQ((*model)->rounds(), best);
  auto pred = (*model)->Predict(test.x);
  ASSERT_TRUE(pred.ok());
  std::vector<int> truth, labels;
  for (Eigen::Index r = 0; r < pred->rows(); ++r) {
    truth.push_back(static_cast<int>(test.y[r]));
    labels.push_back((*pred)(r, 0) >= 0.5 ? 1 : 0);
  }
  EXPECT_GT(Accuracy(truth, labels), 0.97);
  // Save as XGBoost JSON, load, same predictions; the served model gives the same shape.
  auto json = (*model)->SaveJson();
  ASSERT_TRUE(json.ok());
  EXPECT_NE(json->find("\"learner\""), std::string::npos);
  ModelArtifact artifact;
  artifact.kind = "xgboost";
  artifact.metadata_json =
      "{\"format_version\": 1, \"kind\": \"xgboost\", \"task\": \"binary\", "
      "\"inputs\": [{\"name\": \"a\"}, {\"name\": \"b\"}]}";
  artifact.files["model.json"] = *json;
  ModelKindRegistry kinds;
  RegisterBuiltinKinds(kinds);  // the daemon's loaders
  auto served = (*kinds.Find("xgboost"))(artifact);
  ASSERT_TRUE(served.ok()) << served.status().ToString();
  std::vector<FeatureRow> rows;
  for (Eigen::Index r = 0; r < 20; ++r) rows.push_back({test.x(r, 0), test.x(r, 1)});
  FeatureRow with_missing(2);  // b missing: XGBoost's default branch
  with_missing[0] = 0.9;
  rows.push_back(with_missing);
  auto preds = (*served)->Predict(rows);
  ASSERT_TRUE(preds.ok()) << preds.status().ToString();
  for (size_t r = 0; r < 20; ++r) {
    EXPECT_FLOAT_EQ((*preds)[r].score, (*pred)(static_cast<Eigen::Index>(r), 0));
    EXPECT_EQ((*preds)[r].predicted_label, labels[r]);
  }
}

TEST(XGBoostTest, HyperparameterChecks) {
  std::vector<HyperparameterProblem> problems;
  EXPECT_FALSE(XGBoostOptions::FromHyperparameters({{"eta", "0.1"}}, &problems).ok());
  EXPECT_EQ(problems[0].key, "num_round");
  EXPECT_FALSE(XGBoostOptions::FromHyperparameters(
                   {{"num_round", "3"}, {"objective", "multi:softprob"}}, &problems)
                   .ok());
  EXPECT_EQ(problems[0].key, "num_class");
  EXPECT_FALSE(
      XGBoostOptions::FromHyperparameters({{"num_round", "3"}, {"max_dept", "3"}}, &problems).ok());
  EXPECT_EQ(problems[0].key, "max_dept");
}

}  // namespace
}  // namespace osprey::models::ml
