#include "models/ml/metrics.h"

#include <cmath>
#include <vector>

#include <gtest/gtest.h>

namespace osprey::models::ml {
namespace {

TEST(MetricsTest, Regression) {
  std::vector<double> y{3, -0.5, 2, 7};
  std::vector<double> p{2.5, 0.0, 2, 8};
  // Residuals 0.5, -0.5, 0, -1: squares 0.25 0.25 0 1.
  EXPECT_DOUBLE_EQ(Rmse(y, p), std::sqrt(1.5 / 4));
  EXPECT_DOUBLE_EQ(Mae(y, p), 2.0 / 4);
  EXPECT_DOUBLE_EQ(Mape(y, p), (0.5 / 3 + 0.5 / 0.5 + 0 + 1.0 / 7) / 4);
  // mean 2.875; SS_tot = 0.015625 + 11.390625 + 0.765625 + 17.015625 = 29.1875.
  EXPECT_NEAR(R2(y, p), 1 - 1.5 / 29.1875, 1e-12);
}

TEST(MetricsTest, ClassificationCounts) {
  std::vector<int> t{0, 0, 1, 1, 1, 2};
  std::vector<int> p{0, 1, 1, 1, 0, 2};
  auto cm = ConfusionMatrix(t, p, 3);
  EXPECT_EQ(cm[0][0], 1);
  EXPECT_EQ(cm[0][1], 1);
  EXPECT_EQ(cm[1][0], 1);
  EXPECT_EQ(cm[1][1], 2);
  EXPECT_EQ(cm[2][2], 1);
  EXPECT_DOUBLE_EQ(Accuracy(t, p), 4.0 / 6);
  ClassScores one = ScoresForClass(cm, 1);
  EXPECT_DOUBLE_EQ(one.precision, 2.0 / 3);
  EXPECT_DOUBLE_EQ(one.recall, 2.0 / 3);
  EXPECT_DOUBLE_EQ(one.f1, 2.0 / 3);
  ClassScores macro = MacroScores(cm);
  EXPECT_DOUBLE_EQ(macro.precision, (0.5 + 2.0 / 3 + 1.0) / 3);
  EXPECT_DOUBLE_EQ(macro.recall, (0.5 + 2.0 / 3 + 1.0) / 3);
}

TEST(MetricsTest, RocAndPrecisionRecall) {
  // scikit-learn's docs example: y = [0 0 1 1], scores = [0.1 0.4 0.35 0.8]: AUC 0.75,
  // average precision 0.8333.
  std::vector<int> y{0, 0, 1, 1};
  std::vector<double> s{0.1, 0.4, 0.35, 0.8};
  EXPECT_DOUBLE_EQ(RocAuc(y, s), 0.75);
  EXPECT_NEAR(AveragePrecision(y, s), 5.0 / 6, 1e-12);
  Curve roc = RocCurve(y, s);
  ASSERT_EQ(roc.x.size(), 5u);
  EXPECT_EQ(roc.x.back(), 1.0);
  EXPECT_EQ(roc.y.back(), 1.0);
  EXPECT_DOUBLE_EQ(roc.y[1], 0.5);  // threshold 0.8: one positive found
  // Ties get half credit: all scores equal -> AUC 0.5.
  std::vector<double> flat{1, 1, 1, 1};
  EXPECT_DOUBLE_EQ(RocAuc(y, flat), 0.5);
  Curve pr = PrecisionRecallCurve(y, s);
  EXPECT_DOUBLE_EQ(pr.y[0], 1.0);
  EXPECT_DOUBLE_EQ(pr.x[0], 0.5);
}

TEST(MetricsTest, InertiaAndSilhouette) {
  Matrix x(4, 1);
  x << 0, 1, 10, 11;
  Matrix c(2, 1);
  c << 0.5, 10.5;
  std::vector<int> labels{0, 0, 1, 1};
  EXPECT_DOUBLE_EQ(Inertia(x, c, labels), 4 * 0.25);
  // Row 0: a = 1, b = (10 + 11) / 2 = 10.5 -> 9.5 / 10.5; row 1: a = 1, b = 9.5 -> 8.5 / 9.5;
  // symmetric for the other two.
  EXPECT_NEAR(Silhouette(x, labels), (9.5 / 10.5 + 8.5 / 9.5) / 2, 1e-12);
}

}  // namespace
}  // namespace osprey::models::ml
