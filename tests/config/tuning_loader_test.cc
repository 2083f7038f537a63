// The `tuning:` section of `osprey train` files.
#include <gtest/gtest.h>

#include "config/train_loader.h"

namespace osprey::config {
namespace {

constexpr char kHead[] = R"(name: m
data: {path: d.csv}
algorithm: linear_learner
hyperparameters:
  predictor_type: regressor
)";

TEST(TuningLoaderTest, ReadsStrategyObjectiveBudgetAndRanges) {
  auto cfg = LoadTrainConfigString(std::string(kHead) + R"(tuning:
  strategy: sobol
  objective: {metric: "validation:r2"}
  max_jobs: 12
  max_parallel_jobs: 2
  seed: 7
  parameter_ranges:
    learning_rate: {type: continuous, min: 0.0001, max: 0.5, scaling: logarithmic}
    mini_batch_size: {type: integer, min: 10, max: 200}
    optimizer: {type: categorical, values: [sgd, adam]}
)",
                                   "t.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  const TuningOptions& t = cfg->tuning;
  EXPECT_TRUE(t.enabled);
  EXPECT_EQ(t.strategy, TuningStrategy::kSobol);
  EXPECT_EQ(t.objective_metric, "validation:r2");
  EXPECT_FALSE(t.minimize);  // r2: higher is better
  EXPECT_EQ(t.max_jobs, 12);
  EXPECT_EQ(t.max_parallel_jobs, 2);
  EXPECT_EQ(t.seed, 7u);
  ASSERT_EQ(t.ranges.size(), 3u);
  EXPECT_EQ(t.ranges[0].name, "learning_rate");
  EXPECT_EQ(t.ranges[0].scaling, TuningScaling::kLogarithmic);
  EXPECT_DOUBLE_EQ(t.ranges[0].min_value, 0.0001);
  EXPECT_EQ(t.ranges[0].location.line, 13);
  EXPECT_EQ(t.ranges[1].type, TuningParameterType::kInteger);
  EXPECT_EQ(t.ranges[2].values, (std::vector<std::string>{"sgd", "adam"}));

  auto rmse = LoadTrainConfigString(std::string(kHead) + R"(tuning:
  objective: {metric: "validation:rmse"}
  parameter_ranges: {wd: {type: continuous, min: 0, max: 1}}
)",
                                    "t.yaml");
  ASSERT_TRUE(rmse.ok()) << rmse.status().ToString();
  EXPECT_TRUE(rmse->tuning.minimize);
  EXPECT_EQ(rmse->tuning.strategy, TuningStrategy::kBayesian);
  EXPECT_EQ(rmse->tuning.max_jobs, 0);
  EXPECT_FALSE(LoadTrainConfigString(kHead, "t.yaml")->tuning.enabled);
}

TEST(TuningLoaderTest, ReportsProblemsAtTheirKeys) {
  auto cfg = LoadTrainConfigString(std::string(kHead) + R"(  wd: 0.1
tuning:
  strategy: annealing
  objective: {metric: rmse, type: lower}
  max_parallel_jobs: 0
  parameter_ranges:
    wd: {type: continuous, min: 0, max: 1}
    learning_rate: {type: continuous, min: 0, max: 1, scaling: logarithmic}
    epochs: {type: integer, min: 5, max: 2}
    loss: {type: categorical}
    l1: {type: continuous, min: 0, max: 1, step: 2}
)",
                                   "t.yaml");
  ASSERT_FALSE(cfg.ok());
  const std::string m = cfg.status().message();
  EXPECT_NE(m.find("t.yaml:8:13: tuning.strategy: expected one of bayesian|random|grid|sobol"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("tuning.objective.metric: expected validation:<metric>"), std::string::npos)
      << m;
  EXPECT_NE(m.find("tuning.max_parallel_jobs"), std::string::npos) << m;
  EXPECT_NE(m.find("t.yaml:12:5: tuning.parameter_ranges.wd: also set under hyperparameters"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("tuning.parameter_ranges.learning_rate.scaling: logarithmic needs min > 0"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("tuning.parameter_ranges.epochs.max: must be greater than min"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("tuning.parameter_ranges.loss"), std::string::npos) << m;
  EXPECT_NE(m.find("unknown key 'step'"), std::string::npos) << m;

  auto cv = LoadTrainConfigString(std::string(kHead) + R"(tuning:
  objective: {metric: "cross_validation:rmse"}
  parameter_ranges: {wd: {type: continuous, min: 0, max: 1}}
)",
                                  "t.yaml");
  ASSERT_FALSE(cv.ok());
  EXPECT_NE(cv.status().message().find("needs preparation.cross_validation"), std::string::npos);
}

}  // namespace
}  // namespace osprey::config
