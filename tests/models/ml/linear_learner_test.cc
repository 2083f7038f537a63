#include "models/ml/linear_learner.h"

#include <cmath>
#include <random>
#include <vector>

#include <Eigen/QR>
#include <gtest/gtest.h>

#include "models/ml/metrics.h"
#include "models/ml/prepare.h"

namespace osprey::models::ml {
namespace {

// A labelled data set of `n` rows and numeric columns a, b, c, values to be filled.
Dataset ThreeColumns(size_t n) {
  Dataset ds;
  ds.columns = {{"a", ColumnType::kNumeric, {}},
                {"b", ColumnType::kNumeric, {}},
                {"c", ColumnType::kNumeric, {}}};
  ds.has_label = true;
  ds.x.resize(static_cast<Eigen::Index>(n), 3);
  ds.y.resize(static_cast<Eigen::Index>(n));
  return ds;
}

// y = 3 x0 - 2 x1 + 0 x2 + 5 + noise, features on different scales.
Dataset Planted(size_t n, uint64_t seed, double noise) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.0, 1.0);
  Dataset ds = ThreeColumns(n);
  for (Eigen::Index r = 0; r < ds.x.rows(); ++r) {
    ds.x(r, 0) = g(rng) * 10 + 4;
    ds.x(r, 1) = g(rng) * 0.5;
    ds.x(r, 2) = g(rng);
    ds.y[r] = 3 * ds.x(r, 0) - 2 * ds.x(r, 1) + 5 + noise * g(rng);
  }
  return ds;
}

LinearLearnerOptions Regressor() {
  LinearLearnerOptions o;
  o.predictor_type = PredictorType::kRegressor;
  o.mini_batch_size = 64;
  o.epochs = 60;
  o.learning_rate = 0.02;
  o.seed = 5;
  return o;
}

TEST(LinearLearnerTest, RecoversPlantedCoefficientsSquaredLoss) {
  Dataset train = Planted(4000, 1, 0.1);
  Dataset val = Planted(500, 2, 0.1);
  LinearFitReport report;
  auto model = FitLinearLearner(train, &val, Regressor(), &report);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  ASSERT_EQ(model->weights.rows(), 1);
  EXPECT_NEAR(model->weights(0, 0), 3.0, 0.02);
  EXPECT_NEAR(model->weights(0, 1), -2.0, 0.05);
  EXPECT_NEAR(model->weights(0, 2), 0.0, 0.02);
  EXPECT_NEAR(model->bias[0], 5.0, 0.1);
  EXPECT_GT(report.epochs_run, 1);
  EXPECT_EQ(report.validation_loss.size(), static_cast<size_t>(report.epochs_run));
  EXPECT_LT(report.validation_loss.back(), report.validation_loss.front());
}

TEST(LinearLearnerTest, AbsoluteLossAndSgdAlsoRecover) {
  Dataset train = Planted(4000, 3, 0.1);
  LinearLearnerOptions o = Regressor();
  o.loss = LinearLoss::kAbsolute;
  auto abs_model = FitLinearLearner(train, nullptr, o);
  ASSERT_TRUE(abs_model.ok());
  EXPECT_NEAR(abs_model->weights(0, 0), 3.0, 0.05);
  EXPECT_NEAR(abs_model->bias[0], 5.0, 0.3);
  LinearLearnerOptions sgd = Regressor();
  sgd.optimizer = OptimizerKind::kSgd;
  sgd.learning_rate = 0.05;
  sgd.lr_scheduler_step = 100;
  sgd.lr_scheduler_factor = 0.9;
  auto sgd_model = FitLinearLearner(train, nullptr, sgd);
  ASSERT_TRUE(sgd_model.ok());
  EXPECT_NEAR(sgd_model->weights(0, 0), 3.0, 0.02);
  EXPECT_NEAR(sgd_model->weights(0, 1), -2.0, 0.05);
}

TEST(LinearLearnerTest, L1ZeroesTheIrrelevantFeature) {
  Dataset train = Planted(3000, 4, 0.5);
  LinearLearnerOptions o = Regressor();
  o.l1 = 0.01;
  o.optimizer = OptimizerKind::kSgd;
  o.learning_rate = 0.05;
  auto model = FitLinearLearner(train, nullptr, o);
  ASSERT_TRUE(model.ok());
  EXPECT_EQ(model->weights(0, 2), 0.0);
  EXPECT_NEAR(model->weights(0, 0), 3.0, 0.1);
}

// Two Gaussian blobs per class in 2-D, classes overlapping slightly.
Dataset Blobs(size_t n, int classes, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.0, 1.0);
  Dataset ds;
  ds.columns = {{"a", ColumnType::kNumeric, {}}, {"b", ColumnType::kNumeric, {}}};
  ds.has_label = true;
  ds.x.resize(static_cast<Eigen::Index>(n), 2);
  ds.y.resize(static_cast<Eigen::Index>(n));
  for (Eigen::Index r = 0; r < ds.x.rows(); ++r) {
    const int c = static_cast<int>(r % classes);
    const double angle = 2 * M_PI * c / classes;
    ds.x(r, 0) = 4 * std::cos(angle) + g(rng);
    ds.x(r, 1) = 4 * std::sin(angle) + g(rng) + 100;  // off-centre: the bias matters
    ds.y[r] = c;
  }
  return ds;
}

double AccuracyOf(const LinearModel& m, const Dataset& d) {
  std::vector<int> truth(d.rows());
  for (size_t r = 0; r < d.rows(); ++r)
    truth[r] = static_cast<int>(d.y[static_cast<Eigen::Index>(r)]);
  auto pred = m.PredictClasses(m.Predict(d.x));
  return Accuracy(truth, pred);
}

TEST(LinearLearnerTest, BinaryLogisticAndHinge) {
  Dataset train = Blobs(2000, 2, 7), test = Blobs(1000, 2, 8);
  for (LinearLoss loss : {LinearLoss::kLogistic, LinearLoss::kHinge}) {
    LinearLearnerOptions o;
    o.predictor_type = PredictorType::kBinaryClassifier;
    o.loss = loss;
    o.mini_batch_size = 50;
    o.epochs = 20;
    auto model = FitLinearLearner(train, nullptr, o);
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    EXPECT_EQ(model->task, ModelTask::kBinary);
    // Bayes accuracy for blobs 8 apart with unit noise is ~1.
    EXPECT_GT(AccuracyOf(*model, test), 0.99) << static_cast<int>(loss);
  }
}

TEST(LinearLearnerTest, MulticlassSoftmaxAndHinge) {
  Dataset train = Blobs(3000, 4, 9), test = Blobs(1000, 4, 10);
  for (LinearLoss loss : {LinearLoss::kSoftmax, LinearLoss::kHinge}) {
    LinearLearnerOptions o;
    o.predictor_type = PredictorType::kMulticlassClassifier;
    o.loss = loss;
    o.num_classes = 4;
    o.mini_batch_size = 50;
    o.epochs = 20;
    auto model = FitLinearLearner(train, nullptr, o);
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    ASSERT_EQ(model->weights.rows(), 4);
    EXPECT_GT(AccuracyOf(*model, test), 0.97) << static_cast<int>(loss);
    Matrix p = model->Predict(test.x.topRows(3));
    EXPECT_NEAR(p.row(0).sum(), 1.0, 1e-12);
  }
}

TEST(LinearLearnerTest, EarlyStoppingStopsBeforeTheLastEpoch) {
  Dataset train = Planted(2000, 11, 1.0), val = Planted(300, 12, 1.0);
  LinearLearnerOptions o = Regressor();
  o.epochs = 500;
  o.early_stopping_patience = 2;
  o.early_stopping_tolerance = 0.01;
  LinearFitReport report;
  ASSERT_TRUE(FitLinearLearner(train, &val, o, &report).ok());
  EXPECT_TRUE(report.early_stopped);
  EXPECT_LT(report.epochs_run, 500);
  EXPECT_LE(report.best_epoch, report.epochs_run);
}

TEST(LinearLearnerTest, RejectsMissingValuesAndBadLabels) {
  Dataset train = Planted(100, 1, 0.1);
  train.x(5, 1) = std::nan("");
  auto st = FitLinearLearner(train, nullptr, Regressor());
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.status().message().find("row 6, column 'b': missing value"), std::string::npos);
  // Without standardisation (no statistics to reveal it) the missing value is found too.
  LinearLearnerOptions raw = Regressor();
  raw.normalize_data = false;
  auto st_raw = FitLinearLearner(train, nullptr, raw);
  ASSERT_FALSE(st_raw.ok());
  EXPECT_NE(st_raw.status().message().find("row 6, column 'b': missing value"), std::string::npos);
  Dataset blobs = Blobs(100, 2, 1);
  blobs.y[3] = 2;
  LinearLearnerOptions o;
  o.predictor_type = PredictorType::kBinaryClassifier;
  EXPECT_FALSE(FitLinearLearner(blobs, nullptr, o).ok());
}

TEST(LinearLearnerTest, HyperparametersBySageMakerNames) {
  Hyperparameters p{{"predictor_type", "binary_classifier"},
                    {"loss", "hinge_loss"},
                    {"l1", "0.1"},
                    {"wd", "auto"},
                    {"mini_batch_size", "32"},
                    {"optimizer", "sgd"},
                    {"epochs", "7"},
                    {"average_start_epoch", "4"}};
  auto o = LinearLearnerOptions::FromHyperparameters(p);
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->loss, LinearLoss::kHinge);
  EXPECT_EQ(o->mini_batch_size, 32);
  EXPECT_EQ(o->optimizer, OptimizerKind::kSgd);
  EXPECT_EQ(o->wd, 0.0);
  EXPECT_EQ(o->average_start_epoch, 4);
  EXPECT_FALSE(LinearLearnerOptions::FromHyperparameters(
                   {{"predictor_type", "regressor"}, {"average_start_epoch", "-1"}})
                   .ok());
  std::vector<HyperparameterProblem> problems;
  auto bad = LinearLearnerOptions::FromHyperparameters(
      {{"predictor_type", "regressor"}, {"epochz", "3"}, {"l1", "-1"}}, &problems);
  ASSERT_FALSE(bad.ok());
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_EQ(problems[0].key, "l1");
  EXPECT_EQ(problems[1].key, "epochz");
  auto mismatch = LinearLearnerOptions::FromHyperparameters(
      {{"predictor_type", "regressor"}, {"loss", "logistic"}});
  EXPECT_FALSE(mismatch.ok());
  EXPECT_FALSE(LinearLearnerOptions::FromHyperparameters({}).ok());
}

// y = x0 + x1 + 0.5 x2 + noise with x1 = x0 + small noise (correlation ~0.999): the loss is
// nearly flat along x0 - x1, where mini-batch iterates jitter instead of converging.
Dataset Correlated(size_t n, uint64_t seed, double noise = 1.0) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.0, 1.0);
  Dataset ds = ThreeColumns(n);
  for (Eigen::Index r = 0; r < ds.x.rows(); ++r) {
    ds.x(r, 0) = g(rng);
    ds.x(r, 1) = ds.x(r, 0) + 0.05 * g(rng);
    ds.x(r, 2) = g(rng);
    ds.y[r] = ds.x(r, 0) + ds.x(r, 1) + 0.5 * ds.x(r, 2) + noise * g(rng);
  }
  return ds;
}

double R2Of(const LinearModel& m, const Dataset& d) {
  const Matrix p = m.Predict(d.x);
  std::vector<double> truth(d.y.data(), d.y.data() + d.y.size());
  std::vector<double> pred(p.data(), p.data() + p.size());
  return R2(truth, pred);
}

// The exact least-squares fit of `train` (with an intercept).
LinearModel LeastSquares(const Dataset& train) {
  Eigen::MatrixXd design(train.x.rows(), train.x.cols() + 1);
  design << train.x, Eigen::VectorXd::Ones(train.x.rows());
  const Eigen::VectorXd ols = design.colPivHouseholderQr().solve(Eigen::VectorXd(train.y));
  LinearModel exact;
  exact.weights = ols.head(train.x.cols()).transpose();
  exact.bias = ols.tail(1);
  return exact;
}

// Mini-batches of 32 at a constant learning rate: the last iterate jitters around the optimum
// (and along the correlated columns barely moves); the mean of the iterates reaches the least-
// squares fit's r2 on the training rows. Early stopping as in tests/bench/sklearn_compare.sh.
TEST(LinearLearnerTest, AveragingReachesTheLeastSquaresFitOnCorrelatedColumns) {
  const Dataset train = Correlated(400, 41, 4.0);
  const double ols_r2 = R2Of(LeastSquares(train), train);
  LinearLearnerOptions o;
  o.predictor_type = PredictorType::kRegressor;
  o.mini_batch_size = 32;
  o.epochs = 300;
  o.learning_rate = 0.1;
  o.early_stopping_patience = 10;
  o.seed = 3;
  auto plain = FitLinearLearner(train, nullptr, o);
  ASSERT_TRUE(plain.ok()) << plain.status().message();
  o.average_start_epoch = 5;
  LinearFitReport report;
  auto averaged = FitLinearLearner(train, nullptr, o, &report);
  ASSERT_TRUE(averaged.ok()) << averaged.status().message();
  EXPECT_GT(ols_r2 - R2Of(*plain, train), 5e-3);
  EXPECT_LT(ols_r2 - R2Of(*averaged, train), 1e-3);
  // The reported training loss is the averaged model's, one per epoch; the kept model is the
  // best epoch's average.
  ASSERT_EQ(report.train_loss.size(), static_cast<size_t>(report.epochs_run));
  const double best_loss = report.train_loss[static_cast<size_t>(report.best_epoch - 1)];
  for (double l : report.train_loss) EXPECT_GE(l, best_loss);
  // The model's own training loss (standardised units: 0.5 mean squared error / var(y)).
  const Matrix pred = averaged->Predict(train.x);
  const double var_y = (train.y.array() - train.y.mean()).square().mean();
  const double own_loss = 0.5 * (pred.col(0) - train.y).squaredNorm() /
                          static_cast<double>(train.rows()) / var_y;
  EXPECT_NEAR(own_loss, best_loss, 1e-9 * best_loss);
}

TEST(LinearLearnerTest, AveragingJudgesTheAverageOnTheValidationSet) {
  const Dataset train = Correlated(600, 43, 2.0), val = Correlated(200, 44, 2.0);
  LinearLearnerOptions o;
  o.predictor_type = PredictorType::kRegressor;
  o.mini_batch_size = 32;
  o.epochs = 40;
  o.learning_rate = 0.05;
  o.early_stopping_patience = 100;
  o.seed = 9;
  o.average_start_epoch = 41;  // never reached: the same model as without averaging
  auto late = FitLinearLearner(train, &val, o);
  o.average_start_epoch = 0;
  auto off = FitLinearLearner(train, &val, o);
  ASSERT_TRUE(late.ok() && off.ok());
  EXPECT_EQ(late->weights, off->weights);
  EXPECT_EQ(late->bias, off->bias);
  o.average_start_epoch = 3;
  LinearFitReport report;
  auto averaged = FitLinearLearner(train, &val, o, &report);
  ASSERT_TRUE(averaged.ok());
  ASSERT_EQ(report.validation_loss.size(), static_cast<size_t>(report.epochs_run));
  // The kept model is the average whose validation loss was the lowest.
  const double best_loss = report.validation_loss[static_cast<size_t>(report.best_epoch - 1)];
  for (double l : report.validation_loss) EXPECT_GE(l, best_loss);
  const Matrix pred = averaged->Predict(val.x);
  const double var_y = (train.y.array() - train.y.mean()).square().mean();
  const double own_loss =
      0.5 * (pred.col(0) - val.y).squaredNorm() / static_cast<double>(val.rows()) / var_y;
  EXPECT_NEAR(own_loss, best_loss, 1e-9 * best_loss);
  EXPECT_NE(averaged->weights, off->weights);
}

TEST(LinearModelTest, JsonRoundTrip) {
  LinearModel m;
  m.task = ModelTask::kMulticlass;
  m.link = LinkFunction::kSoftmax;
  m.weights.resize(3, 2);
  m.weights << 1, 2, 3, 4, 5, 0.125;
  m.bias.resize(3);
  m.bias << -1, 0, 1;
  m.classes = {"a", "b", "c"};
  auto back = LinearModel::FromJson(m.ToJson());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->weights, m.weights);
  EXPECT_EQ(back->bias, m.bias);
  EXPECT_EQ(back->classes, m.classes);
  EXPECT_EQ(back->link, LinkFunction::kSoftmax);
  EXPECT_FALSE(LinearModel::FromJson("{\"format\":\"other\"}").ok());
  EXPECT_FALSE(LinearModel::FromJson("not json").ok());
}

TEST(LinearLearnerTest, ThreadCountDoesNotChangeTheModel) {
  // 40 000 rows: several chunks for the parallel scaling statistics and shuffled copy.
  Dataset train = Planted(40000, 21, 0.3);
  LinearLearnerOptions o = Regressor();
  o.mini_batch_size = 500;
  o.epochs = 3;
  std::vector<LinearModel> models;
  for (int threads : {1, 2, 3, 1}) {
    o.num_threads = threads;
    auto m = FitLinearLearner(train, nullptr, o);
    ASSERT_TRUE(m.ok()) << m.status().message();
    models.push_back(*m);
  }
  // Bit-identical across thread counts and runs, and still a good fit.
  for (const LinearModel& m : models) {
    EXPECT_EQ(m.weights, models[0].weights);
    EXPECT_EQ(m.bias, models[0].bias);
  }
  EXPECT_NEAR(models[0].weights(0, 0), 3.0, 0.05);
  EXPECT_NEAR(models[0].weights(0, 1), -2.0, 0.1);
}

// Large-data mode (one row order, mini-batches visited in a new order each epoch), forced with
// reshuffle_max_cells = 0. The learner's own path trains on a shuffled, standardised copy: rows
// ShuffledIndices(n, seed) of its input. Given those rows already in that order and
// rows_in_random_order, it trains in place (standardising each mini-batch on the fly) and must
// visit the same mini-batches: the same model and losses, up to rounding.
TEST(LinearLearnerTest, InPlaceTrainingMatchesTheShuffledCopy) {
  struct Case {
    PredictorType type;
    LinearLoss loss;
    Dataset data;
  };
  std::vector<Case> cases;
  cases.push_back({PredictorType::kRegressor, LinearLoss::kSquared, Planted(6000, 31, 0.3)});
  cases.push_back({PredictorType::kRegressor, LinearLoss::kAbsolute, Planted(6000, 32, 0.3)});
  cases.push_back({PredictorType::kBinaryClassifier, LinearLoss::kLogistic, Blobs(6000, 2, 33)});
  cases.push_back({PredictorType::kBinaryClassifier, LinearLoss::kHinge, Blobs(6000, 2, 34)});
  cases.push_back({PredictorType::kMulticlassClassifier, LinearLoss::kSoftmax, Blobs(6000, 4, 35)});
  for (const Case& c : cases) {
    SCOPED_TRACE(static_cast<int>(c.loss));
    LinearLearnerOptions o;
    o.predictor_type = c.type;
    o.loss = c.loss;
    o.mini_batch_size = 100;
    o.epochs = 4;
    o.early_stopping_patience = 10;
    o.seed = 7;
    o.reshuffle_max_cells = 0;
    LinearFitReport copy_report, in_place_report;
    auto copy = FitLinearLearner(c.data, nullptr, o, &copy_report);
    ASSERT_TRUE(copy.ok()) << copy.status().message();
    const Dataset shuffled = c.data.Rows(ShuffledIndices(c.data.rows(), o.seed));
    o.rows_in_random_order = true;
    auto in_place = FitLinearLearner(shuffled, nullptr, o, &in_place_report);
    ASSERT_TRUE(in_place.ok()) << in_place.status().message();
    ASSERT_EQ(in_place->weights.rows(), copy->weights.rows());
    const double scale = copy->weights.cwiseAbs().maxCoeff() + copy->bias.cwiseAbs().maxCoeff();
    EXPECT_LT((in_place->weights - copy->weights).cwiseAbs().maxCoeff(), 1e-9 * scale);
    EXPECT_LT((in_place->bias - copy->bias).cwiseAbs().maxCoeff(), 1e-9 * scale);
    ASSERT_EQ(in_place_report.train_loss.size(), copy_report.train_loss.size());
    for (size_t e = 0; e < copy_report.train_loss.size(); ++e) {
      EXPECT_NEAR(in_place_report.train_loss[e], copy_report.train_loss[e],
                  1e-9 * copy_report.train_loss[e]);
    }
    // Without the promise of random order, the same data takes the copy path again.
    o.rows_in_random_order = false;
    auto again = FitLinearLearner(shuffled, nullptr, o);
    ASSERT_TRUE(again.ok());
    EXPECT_GT((again->weights - in_place->weights).cwiseAbs().maxCoeff(), 1e-9 * scale);
  }
}

}  // namespace
}  // namespace osprey::models::ml
