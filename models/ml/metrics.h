// Evaluation metrics: regression (RMSE, MAE, MAPE, R²), classification (accuracy, precision,
// recall, F1, confusion matrix, ROC curve + AUC, precision-recall curve + average precision)
// and clustering (inertia, silhouette). Definitions follow scikit-learn's, so figures compare.
// Thread-safe: pure functions.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "models/ml/dataset.h"

namespace osprey::models::ml {

// REQUIRES (all): y_true and its partner have the same, non-zero size.
double Rmse(std::span<const double> y_true, std::span<const double> y_pred);
double Mae(std::span<const double> y_true, std::span<const double> y_pred);
// Mean of |y - p| / max(|y|, 2.2e-16), as a fraction (scikit-learn's definition).
double Mape(std::span<const double> y_true, std::span<const double> y_pred);
// 1 - SS_res / SS_tot; 1 when both are 0, 0 when only SS_tot is 0.
double R2(std::span<const double> y_true, std::span<const double> y_pred);

// counts[t][p]: rows of true class t predicted as p. REQUIRES: labels in [0, num_classes).
std::vector<std::vector<int64_t>> ConfusionMatrix(std::span<const int> y_true,
                                                  std::span<const int> y_pred, int num_classes);
double Accuracy(std::span<const int> y_true, std::span<const int> y_pred);

struct ClassScores {
  double precision = 0.0;  // 0 when nothing was predicted positive
  double recall = 0.0;     // 0 when there is no positive
  double f1 = 0.0;
};
// Precision / recall / F1 of `positive` against the rest.
ClassScores ScoresForClass(const std::vector<std::vector<int64_t>>& confusion, int positive);
// Unweighted mean over classes (scikit-learn average="macro").
ClassScores MacroScores(const std::vector<std::vector<int64_t>>& confusion);

// A curve over decreasing thresholds: one point per distinct score, starting at (0, 0) for ROC.
struct Curve {
  std::vector<double> x;           // ROC: false-positive rate; PR: recall
  std::vector<double> y;           // ROC: true-positive rate;  PR: precision
  std::vector<double> thresholds;  // score at or above which rows are called positive
};
// REQUIRES: y_true in {0, 1}, both classes present.
Curve RocCurve(std::span<const int> y_true, std::span<const double> scores);
// Area under the ROC curve (trapezoids; ties get half credit, as the Mann-Whitney U).
double RocAuc(std::span<const int> y_true, std::span<const double> scores);
Curve PrecisionRecallCurve(std::span<const int> y_true, std::span<const double> scores);
// sum over thresholds of (R_n - R_{n-1}) * P_n (scikit-learn's average_precision_score).
double AveragePrecision(std::span<const int> y_true, std::span<const double> scores);

// Sum of squared distances of rows to their assigned centroid.
double Inertia(const Matrix& x, const Matrix& centroids, std::span<const int> labels);
// Mean silhouette coefficient (Euclidean). O(n²·d): pass a sample for large data. Rows in
// singleton clusters score 0. REQUIRES: at least 2 distinct labels.
double Silhouette(const Matrix& x, std::span<const int> labels);

}  // namespace osprey::models::ml
