#include "models/ml/served.h"
#include "models/serving/builtin_kinds.h"

#include <cmath>
#include <limits>

#include <gtest/gtest.h>

namespace osprey::models::ml {
namespace {

using ::osprey::models::RegisterBuiltinKinds;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::vector<FeatureSpec> TwoInputs() {
  return {{"a", FeatureType::kNumeric}, {"b", FeatureType::kNumeric}};
}

ModelArtifact Artifact(std::string kind, std::string file, std::string bytes,
                       std::string metadata = "{}") {
  ModelArtifact a;
  a.name = "m";
  a.version = "1";
  a.kind = std::move(kind);
  a.metadata_json = std::move(metadata);
  a.files[std::move(file)] = std::move(bytes);
  return a;
}

TEST(ServedKMeansTest, RoundTripAndSageMakerShape) {
  KMeansModel km;
  km.centroids.resize(2, 2);
  km.centroids << 0, 0, 10, 10;
  std::string bytes = SaveKMeans(km, TwoInputs(), {5.0, kNaN});
  ModelKindRegistry registry;
  RegisterModelKinds(registry);
  const ModelLoader* loader = registry.Find("kmeans");
  ASSERT_NE(loader, nullptr);
  auto model = (*loader)(Artifact("kmeans", "model.bin", bytes));
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_EQ((*model)->kind(), "kmeans");
  EXPECT_EQ((*model)->task(), ModelTask::kClustering);
  EXPECT_EQ((*model)->inputs()[1].name, "b");
  std::vector<FeatureRow> rows{{1.0, 1.0}, {std::string("9"), 12.0}, {std::monostate{}, 6.0}};
  auto preds = (*model)->Predict(rows);
  ASSERT_TRUE(preds.ok()) << preds.status().ToString();
  EXPECT_EQ((*preds)[0].predicted_label, 0);
  EXPECT_NEAR((*preds)[0].score, std::sqrt(2.0), 1e-12);
  EXPECT_EQ((*preds)[1].predicted_label, 1);
  EXPECT_NEAR((*preds)[1].score, std::sqrt(5.0), 1e-12);
  EXPECT_EQ((*preds)[2].predicted_label, 1);  // a filled with 5: (5, 6)
  // A missing value without a fill, a bad string, a wrong arity: errors naming the row.
  std::vector<FeatureRow> missing_b{{1.0, 1.0}, {1.0, std::monostate{}}};
  auto st = (*model)->Predict(missing_b);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.status().message(), "row 1, column 'b': missing value");
  std::vector<FeatureRow> text{{std::string("x"), 1.0}};
  EXPECT_FALSE((*model)->Predict(text).ok());
  std::vector<FeatureRow> short_row{{1.0}};
  EXPECT_FALSE((*model)->Predict(short_row).ok());
}

TEST(ServedPcaTest, RoundTripProjection) {
  PcaModel pca;
  pca.mean = Eigen::RowVector2d(1, 2);
  pca.components.resize(1, 2);
  pca.components << 0.6, 0.8;
  pca.explained_variance = Eigen::VectorXd::Constant(1, 3.0);
  pca.explained_variance_ratio = Eigen::VectorXd::Constant(1, 0.75);
  pca.total_variance = 4.0;
  auto model = LoadPcaModel(Artifact("pca", "model.bin", SavePca(pca, TwoInputs(), {kNaN, kNaN})));
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_EQ((*model)->task(), ModelTask::kProjection);
  std::vector<FeatureRow> rows{{2.0, 4.0}};
  auto preds = (*model)->Predict(rows);
  ASSERT_TRUE(preds.ok());
  ASSERT_EQ((*preds)[0].values.size(), 1u);
  EXPECT_NEAR((*preds)[0].values[0], 0.6 + 1.6, 1e-12);
  EXPECT_EQ((*preds)[0].score, (*preds)[0].values[0]);
}

TEST(ServedModelTest, CorruptOrMissingFilesAreErrors) {
  KMeansModel km;
  km.centroids.resize(1, 2);
  km.centroids << 0, 0;
  std::string bytes = SaveKMeans(km, TwoInputs(), {kNaN, kNaN});
  EXPECT_FALSE(
      LoadKMeansModel(Artifact("kmeans", "model.bin", bytes.substr(0, bytes.size() - 3))).ok());
  EXPECT_FALSE(LoadPcaModel(Artifact("pca", "model.bin", bytes)).ok());  // wrong kind
  auto absent = LoadKMeansModel(Artifact("kmeans", "other.bin", bytes));
  ASSERT_FALSE(absent.ok());
  EXPECT_EQ(absent.status().code(), Status::Code::kNotFound);
  // metadata "model_file" names the file.
  EXPECT_TRUE(
      LoadKMeansModel(Artifact("kmeans", "other.bin", bytes, "{\"model_file\": \"other.bin\"}"))
          .ok());
}

TEST(ServedLinearTest, TheDaemonsLoaderServesTheTrainerFormatWithItsImputation) {
  LinearModel m;
  m.task = ModelTask::kBinary;
  m.link = LinkFunction::kLogistic;
  m.weights.resize(1, 2);
  m.weights << 1, -1;
  m.bias = Eigen::VectorXd::Constant(1, 0.5);
  ModelKindRegistry registry;
  RegisterBuiltinKinds(registry);
  const std::string metadata =
      "{\"format_version\": 1, \"kind\": \"linear\", \"task\": \"binary\", \"inputs\": "
      "[{\"name\": \"a\", \"type\": \"numeric\"}, {\"name\": \"b\"}], "
      "\"preprocessing\": {\"impute\": [1.5, null]}}";
  auto model = (*registry.Find("linear"))(Artifact("linear", "model.json", m.ToJson(), metadata));
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  std::vector<FeatureRow> rows{{2.0, 0.0}, {0.0, 3.0}, {std::monostate{}, 0.0}};
  auto preds = (*model)->Predict(rows);
  ASSERT_TRUE(preds.ok()) << preds.status().ToString();
  EXPECT_NEAR((*preds)[0].score, 1 / (1 + std::exp(-2.5)), 1e-12);
  EXPECT_EQ((*preds)[0].predicted_label, 1);
  EXPECT_EQ((*preds)[1].predicted_label, 0);
  // A missing 'a' takes the trainer's fill value 1.5: margin 1.5 - 0 + 0.5.
  EXPECT_NEAR((*preds)[2].score, 1 / (1 + std::exp(-2.0)), 1e-12);
  // 'b' has no fill value: a missing 'b' is an error naming the row and the column.
  std::vector<FeatureRow> bad{{2.0, 0.0}, {2.0, std::monostate{}}};
  auto refused = (*model)->Predict(bad);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("row 1"), std::string::npos);
  EXPECT_NE(refused.status().message().find("'b'"), std::string::npos);
  // Inputs and weights must agree.
  EXPECT_FALSE((*registry.Find("linear"))(
                   Artifact("linear", "model.json", m.ToJson(),
                            "{\"format_version\": 1, \"kind\": \"linear\", \"task\": "
                            "\"binary\", \"inputs\": [{\"name\": \"a\"}]}"))
                   .ok());
}

}  // namespace
}  // namespace osprey::models::ml
