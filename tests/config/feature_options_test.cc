// The `features:` list of train files (config/feature_options.h) through the strict loader.
#include <gtest/gtest.h>

#include "config/train_loader.h"

namespace osprey::config {
namespace {

constexpr const char* kHead = R"(name: m
data: {format: csv, path: d.csv, header: true, label: y, categorical: [plan], text: [review]}
algorithm: linear_learner
)";

TEST(FeatureOptionsTest, ReadsEveryStepKind) {
  auto cfg = LoadTrainConfigString(std::string(kHead) + R"(features:
  - step: log
    columns: [spend]
    offset: 2
  - step: power
    columns: [spend]
    exponent: 0.5
  - step: polynomial
    columns: [spend]
    degree: 3
  - step: bin
    columns: [age]
    edges: [18, 30, 65]
  - step: bin
    columns: [spend]
    quantiles: 5
  - step: cross
    columns: [plan, age]
  - step: quadratic
  - step: text
    columns: [review]
    ngram_max: 2
    stem: false
    min_df: 0.01
    max_df: 0.9
    max_terms: 500
  - step: tree_leaves
    hyperparameters: {num_round: 4, objective: "binary:logistic"}
  - step: one_hot
  - step: drop
    columns: [age]
  - step: standardize
)",
                                   "t.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(cfg->data.categorical, (std::vector<std::string>{"plan"}));
  EXPECT_EQ(cfg->data.text, (std::vector<std::string>{"review"}));
  const auto& f = cfg->features;
  ASSERT_EQ(f.size(), 12u);
  EXPECT_EQ(f[0].kind, FeatureStepKind::kLog);
  EXPECT_EQ(f[0].offset, 2.0);
  EXPECT_EQ(f[0].location.line, 5);
  EXPECT_EQ(f[1].exponent, 0.5);
  EXPECT_EQ(f[2].degree, 3);
  EXPECT_EQ(f[3].edges, (std::vector<double>{18, 30, 65}));
  EXPECT_EQ(f[4].quantiles, 5);
  EXPECT_EQ(f[5].kind, FeatureStepKind::kCross);
  EXPECT_TRUE(f[6].columns.empty());
  EXPECT_EQ(f[7].ngram_max, 2);
  EXPECT_FALSE(f[7].stem);
  EXPECT_TRUE(f[7].stop_words);  // default
  EXPECT_EQ(f[7].min_df, 0.01);
  EXPECT_EQ(f[7].max_df, 0.9);
  EXPECT_EQ(f[7].max_terms, 500);
  EXPECT_EQ(f[8].hyperparameters.at("num_round"), "4");
  EXPECT_EQ(f[8].hyperparameters.at("objective"), "binary:logistic");
  EXPECT_EQ(f[9].kind, FeatureStepKind::kOneHot);
  EXPECT_EQ(f[10].columns, (std::vector<std::string>{"age"}));
  EXPECT_EQ(f[11].kind, FeatureStepKind::kStandardize);
}

TEST(FeatureOptionsTest, ProblemsCarryFileLineAndKey) {
  auto cfg = LoadTrainConfigString(std::string(kHead) + R"(features:
  - step: logg
  - step: bin
    columns: [a]
  - step: bin
    edges: [3, 1]
  - step: text
    columns: [review]
    min_df: 0.5
    max_df: 0.2
    degree: 2
  - step: cross
    columns: [a]
  - columns: [a]
)",
                                   "t.yaml");
  ASSERT_FALSE(cfg.ok());
  const std::string m = cfg.status().message();
  for (const char* want :
       {"t.yaml:5:11: features[0].step: expected one of standardize|log|power|polynomial|bin|"
        "cross|quadratic|one_hot|text|tree_leaves|drop, got 'logg'",
        "t.yaml:6:5: features[1]: bin: give either edges or quantiles",
        "features[2].edges[1]: edges must be strictly increasing",
        "features[3].min_df: must not exceed max_df",
        "t.yaml:14:5: features[3].degree: unknown key 'degree'",
        "features[4].columns: cross takes two columns",
        "t.yaml:17:5: features[5]: missing required key 'step'"}) {
    EXPECT_NE(m.find(want), std::string::npos) << want << "\n--- got:\n" << m;
  }
}

TEST(FeatureOptionsTest, StringColumnsNeedAPipeline) {
  auto cfg = LoadTrainConfigString(kHead, "t.yaml");
  ASSERT_FALSE(cfg.ok());
  EXPECT_NE(cfg.status().message().find("categorical and text columns need a 'features' list"),
            std::string::npos)
      << cfg.status().message();
}

}  // namespace
}  // namespace osprey::config
