#include "models/ml/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "config/base/check.h"

namespace osprey::models::ml {

namespace {

void CheckSizes(size_t a, size_t b) { OSPREY_CHECK(a == b && a > 0) << a << " vs " << b; }

// Rows sorted by decreasing score, and per distinct score the cumulative (tp, fp).
struct Counts {
  std::vector<double> tp, fp, thresholds;
  double positives = 0, negatives = 0;
};

Counts CumulativeCounts(std::span<const int> y_true, std::span<const double> scores) {
  CheckSizes(y_true.size(), scores.size());
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  Counts c;
  double tp = 0, fp = 0;
  for (size_t idx = 0; idx < order.size(); ++idx) {
    const size_t row = order[idx];
    (y_true[row] == 1 ? tp : fp) += 1.0;
    if (idx + 1 == order.size() || scores[order[idx + 1]] != scores[row]) {
      c.tp.push_back(tp);
      c.fp.push_back(fp);
      c.thresholds.push_back(scores[row]);
    }
  }
  c.positives = tp;
  c.negatives = fp;
  return c;
}

}  // namespace

double Rmse(std::span<const double> y_true, std::span<const double> y_pred) {
  CheckSizes(y_true.size(), y_pred.size());
  double ss = 0.0;
  for (size_t idx = 0; idx < y_true.size(); ++idx) {
    const double r = y_true[idx] - y_pred[idx];
    ss += r * r;
  }
  return std::sqrt(ss / static_cast<double>(y_true.size()));
}

double Mae(std::span<const double> y_true, std::span<const double> y_pred) {
  CheckSizes(y_true.size(), y_pred.size());
  double s = 0.0;
  for (size_t idx = 0; idx < y_true.size(); ++idx) s += std::abs(y_true[idx] - y_pred[idx]);
  return s / static_cast<double>(y_true.size());
}

double Mape(std::span<const double> y_true, std::span<const double> y_pred) {
  CheckSizes(y_true.size(), y_pred.size());
  constexpr double kEps = 2.220446049250313e-16;
  double s = 0.0;
  for (size_t idx = 0; idx < y_true.size(); ++idx) {
    s += std::abs(y_true[idx] - y_pred[idx]) / std::max(std::abs(y_true[idx]), kEps);
  }
  return s / static_cast<double>(y_true.size());
}

double R2(std::span<const double> y_true, std::span<const double> y_pred) {
  CheckSizes(y_true.size(), y_pred.size());
  double mean = 0.0;
  for (double v : y_true) mean += v;
  mean /= static_cast<double>(y_true.size());
  double ss_res = 0.0, ss_tot = 0.0;
  for (size_t idx = 0; idx < y_true.size(); ++idx) {
    ss_res += (y_true[idx] - y_pred[idx]) * (y_true[idx] - y_pred[idx]);
    ss_tot += (y_true[idx] - mean) * (y_true[idx] - mean);
  }
  if (ss_tot == 0.0) return ss_res == 0.0 ? 1.0 : 0.0;
  return 1.0 - ss_res / ss_tot;
}

std::vector<std::vector<int64_t>> ConfusionMatrix(std::span<const int> y_true,
                                                  std::span<const int> y_pred, int num_classes) {
  CheckSizes(y_true.size(), y_pred.size());
  std::vector<std::vector<int64_t>> m(static_cast<size_t>(num_classes),
                                      std::vector<int64_t>(static_cast<size_t>(num_classes), 0));
  for (size_t idx = 0; idx < y_true.size(); ++idx) {
    OSPREY_CHECK(y_true[idx] >= 0 && y_true[idx] < num_classes && y_pred[idx] >= 0 &&
                 y_pred[idx] < num_classes);
    ++m[static_cast<size_t>(y_true[idx])][static_cast<size_t>(y_pred[idx])];
  }
  return m;
}

double Accuracy(std::span<const int> y_true, std::span<const int> y_pred) {
  CheckSizes(y_true.size(), y_pred.size());
  size_t right = 0;
  for (size_t idx = 0; idx < y_true.size(); ++idx) right += y_true[idx] == y_pred[idx];
  return static_cast<double>(right) / static_cast<double>(y_true.size());
}

ClassScores ScoresForClass(const std::vector<std::vector<int64_t>>& confusion, int positive) {
  const auto p = static_cast<size_t>(positive);
  double tp = static_cast<double>(confusion[p][p]);
  double predicted = 0, actual = 0;
  for (size_t idx = 0; idx < confusion.size(); ++idx) {
    predicted += static_cast<double>(confusion[idx][p]);
    actual += static_cast<double>(confusion[p][idx]);
  }
  ClassScores s;
  s.precision = predicted > 0 ? tp / predicted : 0.0;
  s.recall = actual > 0 ? tp / actual : 0.0;
  s.f1 = s.precision + s.recall > 0 ? 2 * s.precision * s.recall / (s.precision + s.recall) : 0.0;
  return s;
}

ClassScores MacroScores(const std::vector<std::vector<int64_t>>& confusion) {
  ClassScores mean;
  for (size_t cls = 0; cls < confusion.size(); ++cls) {
    ClassScores s = ScoresForClass(confusion, static_cast<int>(cls));
    mean.precision += s.precision;
    mean.recall += s.recall;
    mean.f1 += s.f1;
  }
  const auto k = static_cast<double>(confusion.size());
  mean.precision /= k;
  mean.recall /= k;
  mean.f1 /= k;
  return mean;
}

Curve RocCurve(std::span<const int> y_true, std::span<const double> scores) {
  Counts c = CumulativeCounts(y_true, scores);
  OSPREY_CHECK(c.positives > 0 && c.negatives > 0) << "ROC needs both classes";
  Curve curve;
  curve.x.push_back(0.0);
  curve.y.push_back(0.0);
  curve.thresholds.push_back(std::numeric_limits<double>::infinity());
  for (size_t idx = 0; idx < c.tp.size(); ++idx) {
    curve.x.push_back(c.fp[idx] / c.negatives);
    curve.y.push_back(c.tp[idx] / c.positives);
    curve.thresholds.push_back(c.thresholds[idx]);
  }
  return curve;
}

double RocAuc(std::span<const int> y_true, std::span<const double> scores) {
  Curve roc = RocCurve(y_true, scores);
  double area = 0.0;
  for (size_t idx = 1; idx < roc.x.size(); ++idx) {
    area += (roc.x[idx] - roc.x[idx - 1]) * 0.5 * (roc.y[idx] + roc.y[idx - 1]);
  }
  return area;
}

Curve PrecisionRecallCurve(std::span<const int> y_true, std::span<const double> scores) {
  Counts c = CumulativeCounts(y_true, scores);
  OSPREY_CHECK(c.positives > 0) << "precision-recall needs a positive";
  Curve curve;
  for (size_t idx = 0; idx < c.tp.size(); ++idx) {
    curve.x.push_back(c.tp[idx] / c.positives);
    curve.y.push_back(c.tp[idx] / (c.tp[idx] + c.fp[idx]));
    curve.thresholds.push_back(c.thresholds[idx]);
  }
  return curve;
}

double AveragePrecision(std::span<const int> y_true, std::span<const double> scores) {
  Curve pr = PrecisionRecallCurve(y_true, scores);
  double ap = 0.0, prev_recall = 0.0;
  for (size_t idx = 0; idx < pr.x.size(); ++idx) {
    ap += (pr.x[idx] - prev_recall) * pr.y[idx];
    prev_recall = pr.x[idx];
  }
  return ap;
}

double Inertia(const Matrix& x, const Matrix& centroids, std::span<const int> labels) {
  CheckSizes(static_cast<size_t>(x.rows()), labels.size());
  double sum = 0.0;
  for (Eigen::Index row = 0; row < x.rows(); ++row) {
    sum += (x.row(row) - centroids.row(labels[static_cast<size_t>(row)])).squaredNorm();
  }
  return sum;
}

double Silhouette(const Matrix& x, std::span<const int> labels) {
  CheckSizes(static_cast<size_t>(x.rows()), labels.size());
  const int k = *std::max_element(labels.begin(), labels.end()) + 1;
  std::vector<double> size(static_cast<size_t>(k), 0.0);
  for (int l : labels) size[static_cast<size_t>(l)] += 1.0;
  std::vector<double> dist_sum(static_cast<size_t>(k));
  double total = 0.0;
  const Eigen::Index n = x.rows();
  for (Eigen::Index row = 0; row < n; ++row) {
    std::fill(dist_sum.begin(), dist_sum.end(), 0.0);
    for (Eigen::Index other = 0; other < n; ++other) {
      dist_sum[static_cast<size_t>(labels[static_cast<size_t>(other)])] +=
          (x.row(row) - x.row(other)).norm();
    }
    const auto own = static_cast<size_t>(labels[static_cast<size_t>(row)]);
    if (size[own] <= 1) continue;  // singleton: 0
    const double a = dist_sum[own] / (size[own] - 1);
    double b = std::numeric_limits<double>::infinity();
    for (size_t cls = 0; cls < dist_sum.size(); ++cls) {
      if (cls != own && size[cls] > 0) b = std::min(b, dist_sum[cls] / size[cls]);
    }
    total += (b - a) / std::max(a, b);
  }
  return total / static_cast<double>(n);
}

}  // namespace osprey::models::ml
