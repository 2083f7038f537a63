#include "models/ml/xgboost.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <string>
#include <vector>

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
  XGBoostFitReport report;
  auto model = FitXGBoost(train, &val, *options, &report);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  const int best = report.best_round;
  EXPECT_LT(best, 500);
  EXPECT_TRUE(report.early_stopped);
  // The curve runs to the stopping round: best + early_stopping_rounds points, logloss.
  EXPECT_EQ(report.rounds_run, best + 5);
  EXPECT_EQ(report.metric, "logloss");
  ASSERT_EQ(report.train_metric.size(), static_cast<size_t>(best + 5));
  ASSERT_EQ(report.validation_metric.size(), report.train_metric.size());
  // The kept round is the validation minimum, and no later round beat it.
  const auto best_it =
      std::min_element(report.validation_metric.begin(), report.validation_metric.end());
  EXPECT_EQ(best_it - report.validation_metric.begin(), best - 1);
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

// The fit report's learning curve: one point per round on both sets, XGBoost's default metric
// for the objective, falling on an easy problem; the training value equals the metric computed
// from the final model's predictions.
TEST(XGBoostTest, FitReportRecordsTheLearningCurve) {
  Dataset train = Data(2000, 6, false), val = Data(400, 7, false);
  auto options = XGBoostOptions::FromHyperparameters(
      {{"num_round", "25"}, {"max_depth", "3"}, {"eta", "0.3"}, {"nthread", "1"}});
  ASSERT_TRUE(options.ok()) << options.status().ToString();
  XGBoostFitReport report;
  auto model = FitXGBoost(train, &val, *options, &report);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_EQ(report.metric, "rmse");
  EXPECT_EQ(report.rounds_run, 25);
  EXPECT_FALSE(report.early_stopped);
  EXPECT_EQ(report.train_metric_rows, 2000);
  ASSERT_EQ(report.train_metric.size(), 25u);
  ASSERT_EQ(report.validation_metric.size(), 25u);
  for (size_t r = 1; r < report.train_metric.size(); ++r) {
    EXPECT_LE(report.train_metric[r], report.train_metric[r - 1]) << "round " << r + 1;
  }
  EXPECT_LT(report.train_metric.back(), 0.5 * report.train_metric.front());
  EXPECT_LT(report.validation_metric.back(), 0.5 * report.validation_metric.front());
  const auto best_it =
      std::min_element(report.validation_metric.begin(), report.validation_metric.end());
  EXPECT_EQ(report.best_round, best_it - report.validation_metric.begin() + 1);
  // The last training value is the final model's RMSE on the training rows (float precision).
  auto pred = (*model)->Predict(train.x);
  ASSERT_TRUE(pred.ok());
  std::vector<double> y(train.y.data(), train.y.data() + train.y.size());
  std::vector<double> p(pred->data(), pred->data() + pred->rows());
  EXPECT_NEAR(report.train_metric.back(), Rmse(y, p), 1e-4);

  // Without a validation set: only the training curve; eval_metric names the metric.
  auto mae = XGBoostOptions::FromHyperparameters(
      {{"num_round", "8"}, {"eval_metric", "mae"}, {"nthread", "1"}});
  ASSERT_TRUE(mae.ok());
  auto alone = FitXGBoost(train, nullptr, *mae, &report);
  ASSERT_TRUE(alone.ok()) << alone.status().ToString();
  EXPECT_EQ(report.metric, "mae");
  EXPECT_EQ(report.train_metric.size(), 8u);
  EXPECT_TRUE(report.validation_metric.empty());
  EXPECT_EQ(report.best_round, 8);
}

// Above curve_sample_above training rows the training curve is XGBoost's metric on an even
// sample of curve_sample_rows of them (row i * rows / curve_sample_rows).
TEST(XGBoostTest, FitReportSamplesLargeTrainingSets) {
  const Dataset train = Data(3000, 8, false);
  auto options = XGBoostOptions::FromHyperparameters(
      {{"num_round", "4"}, {"max_depth", "3"}, {"nthread", "1"}});
  ASSERT_TRUE(options.ok());
  options->curve_sample_above = 2000;
  options->curve_sample_rows = 700;
  XGBoostFitReport report;
  auto model = FitXGBoost(train, nullptr, *options, &report);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_EQ(report.train_metric_rows, 700);
  ASSERT_EQ(report.train_metric.size(), 4u);
  std::vector<size_t> rows;
  for (int64_t i = 0; i < 700; ++i) rows.push_back(static_cast<size_t>(i * 3000 / 700));
  const Dataset sample = train.Rows(rows);
  auto pred = (*model)->Predict(sample.x);
  ASSERT_TRUE(pred.ok());
  std::vector<double> y(sample.y.data(), sample.y.data() + sample.y.size());
  std::vector<double> p(pred->data(), pred->data() + pred->rows());
  EXPECT_NEAR(report.train_metric.back(), Rmse(y, p), 1e-4);
  // ... and not the metric on all rows.
  auto all = (*model)->Predict(train.x);
  ASSERT_TRUE(all.ok());
  std::vector<double> y_all(train.y.data(), train.y.data() + train.y.size());
  std::vector<double> p_all(all->data(), all->data() + all->rows());
  EXPECT_GT(std::abs(report.train_metric.back() - Rmse(y_all, p_all)), 1e-6);
}

// The split thresholds of the model's trees (inner nodes' split_conditions in XGBoost's JSON).
std::set<double> SplitValues(const std::string& json) {
  auto array = [&](size_t from, const char* key, size_t* end) {
    std::vector<double> out;
    size_t pos = json.find(key, from);
    if (pos == std::string::npos) {
      *end = std::string::npos;
      return out;
    }
    pos = json.find('[', pos) + 1;
    const size_t close = json.find(']', pos);
    while (pos < close) {
      char* next = nullptr;
      out.push_back(std::strtod(json.c_str() + pos, &next));
      pos = static_cast<size_t>(next - json.c_str());
      while (pos < close && (json[pos] == ',' || json[pos] == ' ')) ++pos;
    }
    *end = close;
    return out;
  };
  std::set<double> values;
  size_t at = 0;
  while (true) {
    size_t end = 0;
    const std::vector<double> left = array(at, "\"left_children\"", &end);
    if (end == std::string::npos) break;
    size_t end2 = 0;
    const std::vector<double> cond = array(at, "\"split_conditions\"", &end2);
    EXPECT_EQ(left.size(), cond.size());
    for (size_t i = 0; i < left.size() && i < cond.size(); ++i) {
      if (left[i] != -1) values.insert(cond[i]);
    }
    at = std::max(end, end2);
  }
  return values;
}

// sketch_sample_rows: the hist cuts come from an even sample; the model still fits, and its
// split thresholds are among the sample's few cuts (at most sample rows + 1 per feature).
TEST(XGBoostTest, SketchSampleRowsTakesTheCutsFromASample) {
  const Dataset train = Data(4000, 11, false), test = Data(500, 12, false);
  Hyperparameters params = {{"num_round", "60"},     {"max_depth", "4"}, {"eta", "0.3"},
                            {"tree_method", "hist"}, {"max_bin", "256"}, {"nthread", "1"}};
  auto full_options = XGBoostOptions::FromHyperparameters(params);
  params["sketch_sample_rows"] = "40";
  auto sampled_options = XGBoostOptions::FromHyperparameters(params);
  ASSERT_TRUE(full_options.ok() && sampled_options.ok());
  EXPECT_EQ(sampled_options->sketch_sample_rows, 40);
  XGBoostFitReport report;
  auto full = FitXGBoost(train, nullptr, *full_options);
  auto sampled = FitXGBoost(train, &test, *sampled_options, &report);
  ASSERT_TRUE(full.ok()) << full.status().ToString();
  ASSERT_TRUE(sampled.ok()) << sampled.status().ToString();
  EXPECT_EQ(report.train_metric.size(), 60u);
  auto pf = (*full)->Predict(test.x);
  auto ps = (*sampled)->Predict(test.x);
  ASSERT_TRUE(pf.ok() && ps.ok());
  std::vector<double> y(test.y.data(), test.y.data() + test.y.size());
  std::vector<double> p_full(pf->data(), pf->data() + pf->rows());
  std::vector<double> p_sampled(ps->data(), ps->data() + ps->rows());
  EXPECT_GT(R2(y, p_full), 0.97);
  EXPECT_GT(R2(y, p_sampled), 0.95);
  EXPECT_NEAR(report.validation_metric.back(), Rmse(y, p_sampled), 1e-4);
  auto full_json = (*full)->SaveJson();
  auto sampled_json = (*sampled)->SaveJson();
  ASSERT_TRUE(full_json.ok() && sampled_json.ok());
  const size_t full_splits = SplitValues(*full_json).size();
  const size_t sampled_splits = SplitValues(*sampled_json).size();
  EXPECT_LE(sampled_splits, 2u * 41u) << "full-sketch model: " << full_splits;
  EXPECT_GT(full_splits, 2u * 41u) << "sampled model: " << sampled_splits;
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
  EXPECT_FALSE(XGBoostOptions::FromHyperparameters(
                   {{"num_round", "3"}, {"sketch_sample_rows", "1000"}}, &problems)
                   .ok());
  EXPECT_EQ(problems[0].key, "sketch_sample_rows");
  // Settings that go into the DMatrix's JSON are checked as integers, not pasted in.
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"nthread", "two"}, {"nthread", "2, \"missing\": 0"}, {"max_bin", "1"}}) {
    EXPECT_FALSE(
        XGBoostOptions::FromHyperparameters({{"num_round", "3"}, {key, value}}, &problems).ok())
        << key << "=" << value;
    ASSERT_EQ(problems.size(), 1u) << key << "=" << value;
    EXPECT_EQ(problems[0].key, key);
  }
  EXPECT_TRUE(XGBoostOptions::FromHyperparameters(
                  {{"num_round", "3"}, {"nthread", "2"}, {"max_bin", "64"}}, &problems)
                  .ok());
  auto with_auto = XGBoostOptions::FromHyperparameters({{"num_round", "3"}, {"nthread", "auto"}});
  ASSERT_TRUE(with_auto.ok()) << with_auto.status().message();
  EXPECT_FALSE(with_auto->booster_params.contains("nthread"));  // XGBoost's default
}

}  // namespace
}  // namespace osprey::models::ml
