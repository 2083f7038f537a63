#include "models/serving/linear_model.h"

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "models/serving/builtin_kinds.h"
#include "models/serving/metadata.h"

namespace osprey::models {
namespace {

std::string Metadata(const std::string& task, int inputs) {
  std::string m = R"({"format_version":1,"kind":"linear","task":")" + task + R"(","inputs":[)";
  for (int col = 0; col < inputs; ++col) {
    m += (col > 0 ? "," : "") + std::string(R"({"name":"x)") + std::to_string(col) +
         R"(","type":"numeric"})";
  }
  return m + R"(],"label":{"name":"y","classes":["a","b","c"]}})";
}

std::string Array(const std::vector<double>& v) {
  std::string out = "[";
  for (size_t idx = 0; idx < v.size(); ++idx) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.17g", v[idx]);
    out += (idx > 0 ? "," : "") + std::string(buf);
  }
  return out + "]";
}

ModelArtifact Artifact(const std::string& task, const std::string& link,
                       const std::vector<std::vector<double>>& weights,
                       const std::vector<double>& bias) {
  ModelArtifact a;
  a.name = "lin";
  a.version = "1";
  a.kind = "linear";
  a.metadata_json = Metadata(task, static_cast<int>(weights[0].size()));
  std::string w = "[";
  for (size_t k = 0; k < weights.size(); ++k) w += (k > 0 ? "," : "") + Array(weights[k]);
  w += "]";
  a.files["model.json"] = R"({"format":"osprey-linear/1","task":")" + task + R"(","link":")" +
                          link + R"(","weights":)" + w + R"(,"bias":)" + Array(bias) + "}";
  return a;
}

FeatureRow Row(const std::vector<double>& x) { return FeatureRow(x.begin(), x.end()); }

TEST(LinearModelTest, RegressionIsDotProductPlusBias) {
  std::mt19937 rng(301);
  std::normal_distribution<double> normal;
  std::vector<double> w(5), x(5);
  for (double& v : w) v = normal(rng);
  auto model = LoadLinearModel(Artifact("regression", "identity", {w}, {0.25}));
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_EQ((*model)->task(), ModelTask::kRegression);
  std::vector<FeatureRow> rows;
  for (int r = 0; r < 20; ++r) {
    for (double& v : x) v = normal(rng);
    rows.push_back(Row(x));
  }
  rows[3][1] = std::string(" 1.5 ");  // numbers given as strings are parsed
  auto preds = (*model)->Predict(rows);
  ASSERT_TRUE(preds.ok()) << preds.status().ToString();
  ASSERT_EQ(preds->size(), rows.size());
  for (size_t r = 0; r < rows.size(); ++r) {
    double dot = 0.25;
    for (size_t col = 0; col < w.size(); ++col) {
      const FeatureValue& v = rows[r][col];
      dot += w[col] * (std::holds_alternative<double>(v) ? std::get<double>(v) : 1.5);
    }
    EXPECT_NEAR((*preds)[r].score, dot, 1e-12) << "row " << r;
    EXPECT_FALSE((*preds)[r].predicted_label.has_value());
  }
}

TEST(LinearModelTest, BinaryIsSigmoidAndLabelAtOneHalf) {
  auto model = LoadLinearModel(Artifact("binary", "logistic", {{2.0, -1.0}}, {0.5}));
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  std::vector<FeatureRow> rows = {Row({0, 0}), Row({-1, 0}), Row({0, 3})};
  auto preds = (*model)->Predict(rows);
  ASSERT_TRUE(preds.ok());
  const double margins[] = {0.5, -1.5, -2.5};
  for (size_t r = 0; r < 3; ++r) {
    const double p = 1 / (1 + std::exp(-margins[r]));
    EXPECT_NEAR((*preds)[r].score, p, 1e-12);
    EXPECT_EQ((*preds)[r].predicted_label, p >= 0.5 ? 1 : 0);
  }
}

TEST(LinearModelTest, MulticlassIsSoftmax) {
  auto model =
      LoadLinearModel(Artifact("multiclass", "softmax", {{1, 0}, {0, 1}, {-1, -1}}, {0, 0.5, 0}));
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  std::vector<FeatureRow> rows = {Row({2, 1})};
  auto preds = (*model)->Predict(rows);
  ASSERT_TRUE(preds.ok());
  const double m[] = {2, 1.5, -3};
  double total = 0;
  for (double v : m) total += std::exp(v);
  const Prediction& p = (*preds)[0];
  ASSERT_EQ(p.probabilities.size(), 3u);
  for (int k = 0; k < 3; ++k) EXPECT_NEAR(p.probabilities[k], std::exp(m[k]) / total, 1e-12);
  EXPECT_EQ(p.predicted_label, 0);
  EXPECT_NEAR(p.score, std::exp(2) / total, 1e-12);
}

TEST(LinearModelTest, BadRowsNameRowAndColumn) {
  auto model = LoadLinearModel(Artifact("regression", "identity", {{1, 1}}, {0}));
  ASSERT_TRUE(model.ok());
  std::vector<FeatureRow> arity = {Row({1, 2}), Row({1})};
  auto r1 = (*model)->Predict(arity);
  ASSERT_FALSE(r1.ok());
  EXPECT_EQ(r1.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(r1.status().message().find("row 1: expected 2 values, got 1"), std::string::npos)
      << r1.status().message();
  std::vector<FeatureRow> text = {FeatureRow{1.0, std::string("abc")}};
  auto r2 = (*model)->Predict(text);
  ASSERT_FALSE(r2.ok());
  EXPECT_NE(r2.status().message().find("row 0, column 'x1': not a number"), std::string::npos)
      << r2.status().message();
  std::vector<FeatureRow> missing = {FeatureRow{1.0, std::monostate()}};
  EXPECT_FALSE((*model)->Predict(missing).ok());
}

TEST(LinearModelTest, MalformedModelsAreRejectedWithTheReason) {
  ModelArtifact a = Artifact("regression", "identity", {{1, 1}}, {0});
  a.files["model.json"] = "{not json";
  auto bad = LoadLinearModel(a);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("malformed model.json"), std::string::npos);

  a = Artifact("regression", "identity", {{1, 1, 1}}, {0});
  a.metadata_json = Metadata("regression", 2);  // 3 weights for 2 inputs
  bad = LoadLinearModel(a);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("weights[0] has 3 values for 2 inputs"), std::string::npos)
      << bad.status().message();

  a = Artifact("regression", "logistic", {{1, 1}}, {0});
  EXPECT_FALSE(LoadLinearModel(a).ok());

  a = Artifact("regression", "identity", {{1, 1}}, {0});
  a.files.clear();
  bad = LoadLinearModel(a);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Status::Code::kNotFound);
}

TEST(MetadataTest, ParsesFieldsAndRejectsBadOnes) {
  auto m = ParseMetadata(Metadata("multiclass", 2));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->kind, "linear");
  EXPECT_EQ(m->task, ModelTask::kMulticlass);
  ASSERT_EQ(m->inputs.size(), 2u);
  EXPECT_EQ(m->inputs[1].name, "x1");
  EXPECT_EQ(m->classes, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_FALSE(ParseMetadata("[]").ok());
  EXPECT_FALSE(ParseMetadata(R"({"kind":"linear"})").ok());                 // no task
  EXPECT_FALSE(ParseMetadata(R"({"kind":"linear","task":"guess"})").ok());  // bad task
  EXPECT_FALSE(ParseMetadata(R"({"format_version":2,"kind":"x","task":"binary"})").ok());
  EXPECT_FALSE(ParseMetadata(R"({"kind":"x","task":"binary","inputs":[{"type":"numeric"}]})").ok());
}

TEST(BuiltinKindsTest, RegistersTheServedKinds) {
  ModelKindRegistry registry;
  RegisterBuiltinKinds(registry);
  EXPECT_EQ(registry.kinds(), (std::vector<std::string>{"kmeans", "linear", "pca", "rcf", "xgboost"}));
  EXPECT_NE(registry.Find("linear"), nullptr);
  EXPECT_EQ(registry.Find("nope"), nullptr);
}

}  // namespace
}  // namespace osprey::models
