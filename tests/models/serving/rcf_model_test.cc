#include "models/serving/rcf_model.h"

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "models/rcf/thresholded.h"

namespace osprey::models {
namespace {

// A forest over two values fed `n` ordinary points.
std::unique_ptr<rcf::ThresholdedForest> Trained(int n) {
  rcf::ThresholdedOptions o;
  o.forest.input_dim = 2;
  o.forest.shingle_size = 2;
  o.forest.number_of_trees = 30;
  o.forest.sample_size = 64;
  o.forest.random_seed = 11;
  auto forest = rcf::ThresholdedForest::Create(o);
  EXPECT_TRUE(forest.ok());
  std::mt19937 rng(301);
  std::normal_distribution<double> noise(0, 0.1);
  for (int idx = 0; idx < n; ++idx) {
    const double x[2] = {std::sin(idx * 0.1) + noise(rng), 5 + noise(rng)};
    EXPECT_TRUE((*forest)->Process(x).ok());
  }
  return std::move(*forest);
}

ModelArtifact Artifact(const std::string& snapshot, const std::string& inputs) {
  ModelArtifact a;
  a.name = "host-00";
  a.version = "1";
  a.kind = "rcf";
  a.metadata_json =
      R"({"format_version":1,"kind":"rcf","task":"anomaly","model_file":"model.bin")" + inputs +
      "}";
  a.files["model.bin"] = snapshot;
  return a;
}

TEST(RcfModelTest, ScoresLikeThePeekOfTheSourceForestWithoutChangingIt) {
  auto forest = Trained(400);
  const std::string snapshot = forest->Save();
  auto model =
      LoadRcfModel(Artifact(snapshot, R"(,"inputs":[{"name":"cpu"},{"name":"latency_ms"}])"));
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_EQ((*model)->task(), ModelTask::kAnomaly);
  EXPECT_EQ((*model)->inputs()[1].name, "latency_ms");
  std::vector<FeatureRow> rows = {FeatureRow{0.5, 5.0}, FeatureRow{0.4, 50.0}};
  auto preds = (*model)->Predict(rows);
  ASSERT_TRUE(preds.ok()) << preds.status().ToString();
  for (size_t r = 0; r < rows.size(); ++r) {
    const double x[2] = {std::get<double>(rows[r][0]), std::get<double>(rows[r][1])};
    auto expected = forest->Peek(x);
    ASSERT_TRUE(expected.ok());
    EXPECT_DOUBLE_EQ((*preds)[r].score, expected->score);
    EXPECT_DOUBLE_EQ((*preds)[r].extra.at("grade"), expected->grade);
    EXPECT_EQ((*preds)[r].values, expected->attribution);
  }
  // The outlier scores far above the ordinary point, is graded, and is blamed on latency_ms.
  EXPECT_GT((*preds)[1].score, 2 * (*preds)[0].score);
  EXPECT_GT((*preds)[1].extra.at("grade"), 0);
  EXPECT_GT((*preds)[1].values[1], (*preds)[1].values[0]);
  // Peek is const: the source forest is unchanged by scoring.
  EXPECT_EQ(forest->Save(), snapshot);
}

TEST(RcfModelTest, RejectsCorruptSnapshotsAndWrongInputs) {
  const std::string snapshot = Trained(50)->Save();
  auto corrupt = LoadRcfModel(Artifact(snapshot.substr(0, snapshot.size() / 2), ""));
  ASSERT_FALSE(corrupt.ok());
  EXPECT_EQ(corrupt.status().code(), Status::Code::kCorruption);
  auto wrong = LoadRcfModel(Artifact(snapshot, R"(,"inputs":[{"name":"only"}])"));
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("the forest takes 2"), std::string::npos);
  auto unnamed = LoadRcfModel(Artifact(snapshot, ""));
  ASSERT_TRUE(unnamed.ok());
  EXPECT_EQ((*unnamed)->inputs()[0].name, "v0");
  std::vector<FeatureRow> bad = {FeatureRow{1.0, std::string("x")}};
  EXPECT_EQ((*unnamed)->Predict(bad).status().code(), Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace osprey::models
