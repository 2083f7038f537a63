// The XGBoost kind against Python's xgboost: the test trains small models with /usr/bin/python3
// at run time (skipped when xgboost cannot be imported there), loads them here in both of
// XGBoost's formats, and compares the predictions with Python's on the same rows.
#include "models/serving/xgboost_model.h"

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

namespace osprey::models {
namespace {

namespace fs = std::filesystem;

constexpr char kScript[] = R"PY(
import sys, numpy as np, xgboost as xgb
out = sys.argv[1]
rng = np.random.RandomState(7)
X = rng.randn(300, 4)
X[5, 2] = np.nan
targets = {
    "regression": (X[:, 0] * 2 + np.sin(X[:, 1]) + 0.1 * rng.randn(300),
                   {"objective": "reg:squarederror"}),
    "binary": ((X[:, 0] + X[:, 2] > 0).astype(int), {"objective": "binary:logistic"}),
    "multiclass": ((X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5).astype(int),
                   {"objective": "multi:softprob", "num_class": 3}),
    "poisson": (np.exp(0.3 * X[:, 0]).round(), {"objective": "count:poisson"}),
    # dart is evaluated by libxgboost, not natively: both paths are compared with Python.
    "dart": (X[:, 0] * 2 + X[:, 3], {"objective": "reg:squarederror", "booster": "dart",
                                     "rate_drop": 0.1}),
}
Xt = rng.randn(25, 4)
Xt[3, 1] = np.nan
np.savetxt(out + "/x.csv", Xt, delimiter=",", fmt="%.9g")
for name, (y, params) in targets.items():
    params.update({"max_depth": 3, "eta": 0.3, "seed": 1, "nthread": 1})
    b = xgb.train(params, xgb.DMatrix(X, label=y), num_boost_round=15)
    b.save_model(out + "/" + name + ".json")
    b.save_model(out + "/" + name + ".ubj")
    p = b.predict(xgb.DMatrix(Xt)).reshape(len(Xt), -1)
    np.savetxt(out + "/" + name + ".pred", p, delimiter=",", fmt="%.9g")
)PY";

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::vector<double>> ReadCsv(const fs::path& p) {
  std::vector<std::vector<double>> rows;
  std::ifstream in(p);
  std::string line;
  while (std::getline(in, line)) {
    auto& row = rows.emplace_back();
    std::stringstream fields(line);
    std::string f;
    while (std::getline(fields, f, ',')) row.push_back(f == "nan" ? std::nan("") : std::stod(f));
  }
  return rows;
}

class XgboostModelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (std::system("/usr/bin/python3 -c 'import xgboost' >/dev/null 2>&1") != 0) return;
    dir_ = new fs::path(fs::temp_directory_path() / ("osprey_xgb_" + std::to_string(::getpid())));
    fs::create_directories(*dir_);
    std::ofstream(*dir_ / "train.py") << kScript;
    const std::string cmd = "/usr/bin/python3 " + (*dir_ / "train.py").string() + " " +
                            dir_->string() + " >" + (*dir_ / "log.txt").string() + " 2>&1";
    trained_ = std::system(cmd.c_str()) == 0;
  }
  static void TearDownTestSuite() {
    if (dir_ != nullptr) fs::remove_all(*dir_);
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (dir_ == nullptr)
      GTEST_SKIP() << "/usr/bin/python3 cannot import xgboost "
                      "(install python3-xgboost); skipping the comparison";
    ASSERT_TRUE(trained_) << ReadAll(*dir_ / "log.txt");
  }

  static ModelArtifact Artifact(const std::string& task, const std::string& file) {
    ModelArtifact a;
    a.name = task;
    a.version = "1";
    a.kind = "xgboost";
    a.metadata_json = R"({"format_version":1,"kind":"xgboost","task":")" + task +
                      R"(","model_file":")" + file + R"("})";
    a.files[file] = ReadAll(*dir_ / file);
    return a;
  }

  static std::vector<FeatureRow> Rows() {
    std::vector<FeatureRow> rows;
    for (const auto& r : ReadCsv(*dir_ / "x.csv")) {
      FeatureRow row;
      for (double v : r) {
        row.push_back(std::isnan(v) ? FeatureValue() : FeatureValue(v));
      }
      rows.push_back(std::move(row));
    }
    return rows;
  }

  static fs::path* dir_;
  static bool trained_;
};

fs::path* XgboostModelTest::dir_ = nullptr;
bool XgboostModelTest::trained_ = false;

TEST_F(XgboostModelTest, PredictsWhatPythonPredictsInBothFormats) {
  const std::vector<FeatureRow> rows = Rows();
  ASSERT_EQ(rows.size(), 25u);
  for (const std::string name : {"regression", "binary", "multiclass", "poisson", "dart"}) {
    const std::string task = name == "poisson" || name == "dart" ? std::string("regression") : name;
    const auto expected = ReadCsv(*dir_ / (name + ".pred"));
    ASSERT_EQ(expected.size(), rows.size());
    for (const std::string ext : {".json", ".ubj"}) {
      SCOPED_TRACE(name + ext);
      auto model = LoadXgboostModel(Artifact(task, name + ext));
      ASSERT_TRUE(model.ok()) << model.status().ToString();
      ASSERT_EQ((*model)->inputs().size(), 4u);
      EXPECT_EQ((*model)->inputs()[0].name, "f0");
      auto preds = (*model)->Predict(rows);
      ASSERT_TRUE(preds.ok()) << preds.status().ToString();
      for (size_t r = 0; r < rows.size(); ++r) {
        const Prediction& p = (*preds)[r];
        if (task == "multiclass") {
          ASSERT_EQ(p.probabilities.size(), 3u);
          for (int k = 0; k < 3; ++k) EXPECT_NEAR(p.probabilities[k], expected[r][k], 1e-6);
        } else {
          EXPECT_NEAR(p.score, expected[r][0], 1e-6 * std::max(1.0, std::abs(expected[r][0])))
              << "row " << r;
        }
        if (task == "binary") EXPECT_EQ(p.predicted_label, expected[r][0] >= 0.5 ? 1 : 0);
      }
    }
  }
}

TEST_F(XgboostModelTest, ConcurrentPredictionsAgree) {
  auto model = LoadXgboostModel(Artifact("multiclass", "multiclass.ubj"));
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  const std::vector<FeatureRow> rows = Rows();
  auto reference = (*model)->Predict(rows);
  ASSERT_TRUE(reference.ok());
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int iter = 0; iter < 200; ++iter) {
        auto p = (*model)->Predict(rows);
        if (!p.ok() || p->size() != reference->size()) {
          ++mismatches;
          continue;
        }
        for (size_t r = 0; r < rows.size(); ++r) {
          if ((*p)[r].probabilities != (*reference)[r].probabilities) ++mismatches;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST_F(XgboostModelTest, RejectsWrongInputsAndCorruptFiles) {
  ModelArtifact a = Artifact("regression", "regression.json");
  a.metadata_json = R"({"kind":"xgboost","task":"regression","model_file":"regression.json",)"
                    R"("inputs":[{"name":"a"},{"name":"b"}]})";
  auto wrong = LoadXgboostModel(a);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("lists 2 inputs, the model has 4 features"),
            std::string::npos)
      << wrong.status().message();

  a = Artifact("regression", "regression.json");
  a.files["regression.json"].resize(a.files["regression.json"].size() / 2);
  auto corrupt = LoadXgboostModel(a);
  ASSERT_FALSE(corrupt.ok());
  EXPECT_EQ(corrupt.status().code(), Status::Code::kCorruption);

  auto model = LoadXgboostModel(Artifact("regression", "regression.json"));
  ASSERT_TRUE(model.ok());
  std::vector<FeatureRow> short_row = {FeatureRow{1.0, 2.0}};
  EXPECT_EQ((*model)->Predict(short_row).status().code(), Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace osprey::models
