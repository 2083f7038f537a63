#include "config/train_loader.h"

#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace osprey::config {
namespace {

TEST(TrainLoaderTest, ReadsEverySection) {
  MapEnvironment env;
  env.Set("K", "4");
  auto cfg = LoadTrainConfigString(R"(name: demand.v2
registry: /tmp/reg
data:
  format: jsonl
  path: rows.jsonl
  label: y
  features: [a, b]
preparation:
  missing: most_frequent
  missing_indicators: true
  seed: 9
  stratify: false
  split: {train: 0.8, validation: 0, test: 0.2}
  cross_validation: {leave_one_out: true}
algorithm: kmeans
hyperparameters:
  k: ${K}
  init_method: random
)",
                                   "t.yaml", &env);
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(cfg->name, "demand.v2");
  EXPECT_EQ(cfg->data.format, TrainDataFormat::kJsonLines);
  EXPECT_EQ(cfg->data.features, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(cfg->preparation.missing, MissingValues::kMostFrequent);
  EXPECT_TRUE(cfg->preparation.missing_indicators);
  EXPECT_EQ(cfg->preparation.seed, 9u);
  EXPECT_DOUBLE_EQ(cfg->preparation.train_fraction, 0.8);
  EXPECT_EQ(cfg->preparation.cross_validation_folds, -1);
  EXPECT_EQ(cfg->preparation.cross_validation_location.ToString(), "t.yaml:14:3");
  EXPECT_EQ(cfg->algorithm, TrainAlgorithm::kKMeans);
  EXPECT_EQ(cfg->algorithm_name, "kmeans");
  ASSERT_EQ(cfg->hyperparameters.size(), 2u);
  EXPECT_EQ(cfg->hyperparameters.at("k").value, "4");
  EXPECT_EQ(cfg->hyperparameters.at("k").location.line, 17);
  EXPECT_EQ(cfg->hyperparameters.at("k").location.column, 3);
}

TEST(TrainLoaderTest, DefaultsAreSageMakersCsvConvention) {
  auto cfg = LoadTrainConfigString("name: m\ndata: {path: d.csv}\nalgorithm: pca\n", "t.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(cfg->data.format, TrainDataFormat::kCsv);
  EXPECT_FALSE(cfg->data.header);
  EXPECT_EQ(cfg->data.label_index, 0);
  EXPECT_DOUBLE_EQ(cfg->preparation.validation_fraction, 0.1);
  EXPECT_EQ(cfg->preparation.missing, MissingValues::kMean);
}

TEST(TrainLoaderTest, ReportsEveryProblemWithItsPosition) {
  auto cfg = LoadTrainConfigString(R"(name: "bad name"
data:
  path: d.csv
  header: true
  label_index: 2
preparation:
  split: {train: 0.5, validation: 0.1, test: 0.1}
  missing: sometimes
algorithm: svm
)",
                                   "t.yaml");
  ASSERT_FALSE(cfg.ok());
  const std::string& m = cfg.status().message();
  EXPECT_NE(m.find("t.yaml:1:7: name: must match"), std::string::npos) << m;
  EXPECT_NE(m.find("t.yaml:5:16: data.label_index: with header: true"), std::string::npos) << m;
  EXPECT_NE(m.find("preparation.split: train + validation + test must be 1"), std::string::npos)
      << m;
  EXPECT_NE(m.find("t.yaml:8:12: preparation.missing: expected one of"), std::string::npos) << m;
  EXPECT_NE(m.find("t.yaml:9:12: algorithm: expected one of linear_learner|kmeans|pca|xgboost"),
            std::string::npos)
      << m;
  auto missing = LoadTrainConfigString("data: {path: d.csv}\n", "t.yaml");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("missing required key 'name'"), std::string::npos);
  EXPECT_NE(missing.status().message().find("missing required key 'algorithm'"), std::string::npos);
}

TEST(TrainLoaderTest, BadFoldCountsFailWithTheirPosition) {
  for (const auto& [cv, expected] : std::vector<std::pair<std::string, std::string>>{
           {"{folds: 1}", "t.yaml:4:29: preparation.cross_validation.folds: must be in [2, 1000]"},
           {"{folds: 0}", "t.yaml:4:29: preparation.cross_validation.folds: must be in [2, 1000]"},
           {"{folds: 1001}",
            "t.yaml:4:29: preparation.cross_validation.folds: must be in [2, 1000]"},
           {"{folds: many}", "t.yaml:4:29: preparation.cross_validation.folds:"},
           {"{}", "t.yaml:4:3: preparation.cross_validation: give folds (2 to 1000) or "
                  "leave_one_out: true"},
           {"{folds: 3, leave_one_out: true}",
            "t.yaml:4:29: preparation.cross_validation.folds: give folds or leave_one_out, not "
            "both"}}) {
    auto cfg = LoadTrainConfigString("name: m\ndata: {path: d.csv}\npreparation:\n  "
                                     "cross_validation: " + cv + "\nalgorithm: pca\n",
                                     "t.yaml");
    ASSERT_FALSE(cfg.ok()) << cv;
    EXPECT_NE(cfg.status().message().find(expected), std::string::npos)
        << cv << ": " << cfg.status().message();
  }
  auto ok = LoadTrainConfigString(
      "name: m\ndata: {path: d.csv}\npreparation:\n  cross_validation: {folds: 5}\n"
      "algorithm: pca\n",
      "t.yaml");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->preparation.cross_validation_folds, 5);
  EXPECT_EQ(ok->preparation.cross_validation_location.ToString(), "t.yaml:4:3");
}

TEST(TrainLoaderTest, HistorySourceReadsADaemonsHistoryAsCsvWithAHeader) {
  auto cfg = LoadTrainConfigString(R"(name: m
data:
  history: {config: daemon.yaml, pipeline: p, store: sp}
  label: y
  features: [a, partition]
algorithm: linear_learner
)",
                                   "t.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_TRUE(cfg->data.history.enabled);
  EXPECT_EQ(cfg->data.history.config, "daemon.yaml");
  EXPECT_EQ(cfg->data.history.pipeline, "p");
  EXPECT_EQ(cfg->data.history.store, "sp");
  EXPECT_TRUE(cfg->data.path.empty());
  EXPECT_EQ(cfg->data.format, TrainDataFormat::kCsv);
  EXPECT_TRUE(cfg->data.header);
  EXPECT_EQ(cfg->data.label, "y");
  EXPECT_EQ(cfg->data.features, (std::vector<std::string>{"a", "partition"}));

  auto bad = LoadTrainConfigString(R"(name: m
data:
  history: {config: daemon.yaml, pipline: p}
  path: d.csv
  label_index: 1
algorithm: pca
)",
                                   "t.yaml");
  ASSERT_FALSE(bad.ok());
  const std::string& m = bad.status().message();
  EXPECT_NE(m.find("data.history: missing required key 'pipeline'"), std::string::npos) << m;
  EXPECT_NE(m.find("pipline"), std::string::npos) << m;
  EXPECT_NE(m.find("t.yaml:4:9: data.path: give either path or history"), std::string::npos) << m;
  EXPECT_NE(m.find("t.yaml:5:16: data.label_index: not with history"), std::string::npos) << m;
}

}  // namespace
}  // namespace osprey::config
