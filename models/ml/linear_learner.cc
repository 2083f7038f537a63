#include "models/ml/linear_learner.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include <simdjson.h>

#include "config/base/json_writer.h"
#include "models/ml/parallel.h"
#include "models/ml/prepare.h"

namespace osprey::models::ml {

namespace {

using Eigen::Index;
using ColMatrix = Eigen::MatrixXd;

constexpr int kEvalChunkRows = 4096;

// Loss of one row of a single-output model (squared, absolute, logistic, binary hinge) for
// its raw score `s` and label `y`; sets *d = dL/ds.
inline double PointLoss(LinearLoss loss, double s, double y, double* d) {
  switch (loss) {
    case LinearLoss::kSquared: {
      const double e = s - y;
      *d = e;
      return 0.5 * e * e;
    }
    case LinearLoss::kAbsolute: {
      const double e = s - y;
      *d = e > 0 ? 1.0 : (e < 0 ? -1.0 : 0.0);
      return std::abs(e);
    }
    case LinearLoss::kLogistic:
      // log(1 + e^s) - y s, computed stably.
      *d = 1.0 / (1.0 + std::exp(-s)) - y;
      return std::max(s, 0.0) + std::log1p(std::exp(-std::abs(s))) - y * s;
    case LinearLoss::kHinge: {
      const double t = y > 0.5 ? 1.0 : -1.0;
      const double margin = t * s;
      *d = margin < 1.0 ? -t : 0.0;
      return std::max(0.0, 1.0 - margin);
    }
    case LinearLoss::kSoftmax:
    case LinearLoss::kAuto:
      break;
  }
  *d = 0.0;
  return 0.0;
}

// Loss and its gradient with respect to the raw scores, per row. Returns the summed loss.
// s: rows x K raw scores (in place replaced by dL/ds), y: rows labels.
double LossAndGradient(LinearLoss loss, Eigen::Ref<Matrix> s, const Eigen::Ref<const Vector>& y,
                       bool want_gradient) {
  const Index rows = s.rows();
  double total = 0.0;
  if (s.cols() == 1) {
    for (Index r = 0; r < rows; ++r) {
      double d = 0.0;
      total += PointLoss(loss, s(r, 0), y[r], &d);
      if (want_gradient) s(r, 0) = d;
    }
    return total;
  }
  switch (loss) {
    case LinearLoss::kHinge:
      // Crammer-Singer: max(0, 1 + max_{j != y} s_j - s_y).
      for (Index r = 0; r < rows; ++r) {
        const auto label = static_cast<Index>(y[r]);
        Index worst = label == 0 ? 1 : 0;
        for (Index c = 0; c < s.cols(); ++c) {
          if (c != label && s(r, c) > s(r, worst)) worst = c;
        }
        const double violation = 1.0 + s(r, worst) - s(r, label);
        total += std::max(0.0, violation);
        if (want_gradient) {
          s.row(r).setZero();
          if (violation > 0) {
            s(r, worst) = 1.0;
            s(r, label) = -1.0;
          }
        }
      }
      break;
    case LinearLoss::kSoftmax:
      for (Index r = 0; r < rows; ++r) {
        const auto label = static_cast<Index>(y[r]);
        const double max = s.row(r).maxCoeff();
        double sum = 0.0;
        for (Index c = 0; c < s.cols(); ++c) sum += std::exp(s(r, c) - max);
        total += std::log(sum) + max - s(r, label);
        if (want_gradient) {
          for (Index c = 0; c < s.cols(); ++c) s(r, c) = std::exp(s(r, c) - max) / sum;
          s(r, label) -= 1.0;
        }
      }
      break;
    case LinearLoss::kSquared:  // single-output losses: above
    case LinearLoss::kAbsolute:
    case LinearLoss::kLogistic:
    case LinearLoss::kAuto:
      break;
  }
  return total;
}

// Standardisation of features (and label) learned on the training rows.
struct Scaling {
  Eigen::RowVectorXd mean;
  Eigen::RowVectorXd inv_sd;
  double y_mean = 0.0;
  double y_sd = 1.0;
};

// One mini-batch of a single-output model (regression, binary) in one pass over the rows
// [begin, begin + n) of `x`, each read once: per row the score s = (x - center) . w + b, the
// loss and d = dL/ds; sets g (x.cols() entries) to the sum of d (x - center) and *sum_d to the
// sum of d, and returns the summed loss. Labels are standardised by `label_scaling` when it is
// not null. (Four partial sums per dot product, which the compiler vectorises; a fixed order.)
double SingleOutputBatch(LinearLoss loss, const Matrix& x, const Vector& y, Index begin, Index n,
                         const double* center, const double* w, double b,
                         const Scaling* label_scaling, double* g, double* sum_d) {
  const Index f = x.cols();
  std::fill(g, g + f, 0.0);
  double total = 0.0, d_total = 0.0;
  for (Index r = begin; r < begin + n; ++r) {
    const double* row = x.row(r).data();
    double p0 = 0.0, p1 = 0.0, p2 = 0.0, p3 = 0.0;
    Index c = 0;
    for (; c + 4 <= f; c += 4) {
      p0 += (row[c] - center[c]) * w[c];
      p1 += (row[c + 1] - center[c + 1]) * w[c + 1];
      p2 += (row[c + 2] - center[c + 2]) * w[c + 2];
      p3 += (row[c + 3] - center[c + 3]) * w[c + 3];
    }
    for (; c < f; ++c) p0 += (row[c] - center[c]) * w[c];
    const double score = ((p0 + p1) + (p2 + p3)) + b;
    const double label =
        label_scaling != nullptr ? (y[r] - label_scaling->y_mean) / label_scaling->y_sd : y[r];
    double d = 0.0;
    total += PointLoss(loss, score, label, &d);
    d_total += d;
    for (c = 0; c < f; ++c) g[c] += d * (row[c] - center[c]);
  }
  *sum_d = d_total;
  return total;
}

// Copies rows row_of(0), ..., row_of(n - 1) of x (standardised) into the top of `xb`, their
// labels (standardised for regression) into `yb`. `scattered` rows are prefetched a few rows
// ahead. Large copies run chunk-parallel on `threads` threads (each row is written by exactly
// one thread: the result does not depend on them).
template <typename RowOf>
void Gather(const Dataset& data, Index n, const RowOf& row_of, bool scattered,
            const Scaling& scaling, bool scale_label, Matrix* xb, Vector* yb, int threads = 1) {
  constexpr Index kGatherChunk = 16384;
  const auto chunks = static_cast<size_t>((n + kGatherChunk - 1) / kGatherChunk);
  ParallelChunks(chunks, threads, [&](size_t chunk) {
    const Index lo = static_cast<Index>(chunk) * kGatherChunk;
    const Index hi = std::min(n, lo + kGatherChunk);
    // Scattered source rows: prefetch a few rows ahead (a row of 50 doubles spans 7 cache lines
    // the hardware prefetcher cannot guess).
    constexpr Index kAhead = 8;
    const auto row_bytes = static_cast<size_t>(data.x.cols()) * sizeof(double);
    for (Index r = lo; r < hi; ++r) {
      if (scattered && r + kAhead < hi) {
        const auto* ahead = reinterpret_cast<const char*>(data.x.row(row_of(r + kAhead)).data());
        for (size_t byte = 0; byte < row_bytes; byte += 64) __builtin_prefetch(ahead + byte);
      }
      const Index src = row_of(r);
      xb->row(r) = (data.x.row(src) - scaling.mean).cwiseProduct(scaling.inv_sd);
      const double y = data.y[src];
      (*yb)[r] = scale_label ? (y - scaling.y_mean) / scaling.y_sd : y;
    }
  });
}

// Gather of the rows `order` (a permutation of the rows).
void GatherOrder(const Dataset& data, const std::vector<size_t>& order, const Scaling& scaling,
                 bool scale_label, Matrix* xb, Vector* yb, int threads) {
  Gather(
      data, static_cast<Index>(order.size()),
      [&](Index r) { return static_cast<Index>(order[static_cast<size_t>(r)]); }, true, scaling,
      scale_label, xb, yb, threads);
}

// Gather of the consecutive rows [begin, begin + n).
void GatherRange(const Dataset& data, Index begin, Index n, const Scaling& scaling,
                 bool scale_label, Matrix* xb, Vector* yb) {
  Gather(
      data, n, [begin](Index r) { return begin + r; }, false, scaling, scale_label, xb, yb);
}

// Checks labels and, with `check_missing`, that no feature value is missing.
Status CheckData(const Dataset& data, const char* what, PredictorType type, int num_classes,
                 bool check_missing = true) {
  if (!data.has_label) return Status::InvalidArgument(std::string(what) + ": no label column");
  const bool has_nan = check_missing && HasMissing(data.x);
  for (Index row = 0; row < data.x.rows(); ++row) {
    for (Index col = 0; has_nan && col < data.x.cols(); ++col) {
      if (std::isnan(data.x(row, col))) {
        return Status::InvalidArgument(
            std::string(what) + ": row " + std::to_string(row + 1) + ", column '" +
            data.columns[static_cast<size_t>(col)].name +
            "': missing value (set preparation.missing to impute or drop rows)");
      }
    }
    const double y = data.y[row];
    if (type == PredictorType::kRegressor) continue;
    const int hi = type == PredictorType::kBinaryClassifier ? 1 : num_classes - 1;
    if (y != std::floor(y) || y < 0 || y > hi) {
      return Status::InvalidArgument(std::string(what) + ": row " + std::to_string(row + 1) +
                                     ": label " + std::to_string(y) + " is not a class in [0, " +
                                     std::to_string(hi) + "]");
    }
  }
  return Status::Ok();
}

// Mean loss over a whole data set (no regularisation), in chunks.
double MeanLoss(const Dataset& data, LinearLoss loss, const ColMatrix& w, const Vector& b,
                const Scaling& scaling, bool scale_label, Matrix* xb, Vector* yb, Matrix* sb) {
  const Index rows = data.x.rows();
  double total = 0.0;
  for (Index begin = 0; begin < rows; begin += kEvalChunkRows) {
    const Index n = std::min<Index>(rows - begin, kEvalChunkRows);
    GatherRange(data, begin, n, scaling, scale_label, xb, yb);
    sb->topRows(n).noalias() = xb->topRows(n) * w.transpose();
    sb->topRows(n).rowwise() += b.transpose();
    total += LossAndGradient(loss, sb->topRows(n), yb->head(n), false);
  }
  return total / static_cast<double>(std::max<Index>(1, rows));
}

}  // namespace

Result<LinearLearnerOptions> LinearLearnerOptions::FromHyperparameters(
    const Hyperparameters& params, std::vector<HyperparameterProblem>* problems) {
  LinearLearnerOptions o;
  HyperparameterReader r(params);
  int type = -1;
  r.Choice("predictor_type", &type, {"regressor", "binary_classifier", "multiclass_classifier"});
  if (type < 0 && !params.contains("predictor_type")) {
    // Reported as a problem of the (absent) key itself.
    std::vector<HyperparameterProblem> missing{{"predictor_type", "required"}};
    if (problems != nullptr) *problems = missing;
    return Status::InvalidArgument("predictor_type: required");
  }
  if (type >= 0) o.predictor_type = static_cast<PredictorType>(type);
  int loss = 0;
  r.Choice("loss", &loss,
           {"auto", "squared_loss", "absolute_loss", "logistic", "softmax_loss", "hinge_loss"});
  o.loss = static_cast<LinearLoss>(loss);
  r.Double("l1", &o.l1, 0.0);
  r.Double("wd", &o.wd, 0.0);
  r.Double("learning_rate", &o.learning_rate, 0.0, 10.0, true);
  r.Int("mini_batch_size", &o.mini_batch_size, 1, 1 << 24);
  r.Int("epochs", &o.epochs, 1, 100000);
  int optimizer = o.optimizer == OptimizerKind::kAdam ? 1 : 0;
  r.Choice("optimizer", &optimizer, {"sgd", "adam"});
  o.optimizer = static_cast<OptimizerKind>(optimizer);
  r.Int("lr_scheduler_step", &o.lr_scheduler_step, 0, 1 << 30);
  r.Double("lr_scheduler_factor", &o.lr_scheduler_factor, 0.0, 1.0, true);
  r.Double("lr_scheduler_minimum_lr", &o.lr_scheduler_minimum_lr, 0.0);
  r.Int("early_stopping_patience", &o.early_stopping_patience, 1, 100000);
  r.Double("early_stopping_tolerance", &o.early_stopping_tolerance, 0.0);
  r.Int("num_classes", &o.num_classes, 3, 1000000);
  r.Bool("normalize_data", &o.normalize_data);
  r.Bool("normalize_label", &o.normalize_label);
  r.Double("beta_1", &o.beta_1, 0.0, 1.0);
  r.Double("beta_2", &o.beta_2, 0.0, 1.0);
  r.Double("momentum", &o.momentum, 0.0, 1.0);
  r.Int("average_start_epoch", &o.average_start_epoch, 0, 100000);
  r.UInt64("seed", &o.seed);
  r.Finish();
  if (r.ok()) {
    Status st = o.Validate();
    if (st.ok()) return o;
    if (problems != nullptr) *problems = {{"loss", st.message()}};
    return Status::InvalidArgument("loss: " + st.message());
  }
  if (problems != nullptr) *problems = r.problems();
  return r.ToStatus();
}

LinearLoss LinearLearnerOptions::ResolvedLoss() const {
  if (loss != LinearLoss::kAuto) return loss;
  switch (predictor_type) {
    case PredictorType::kRegressor:
      return LinearLoss::kSquared;
    case PredictorType::kBinaryClassifier:
      return LinearLoss::kLogistic;
    case PredictorType::kMulticlassClassifier:
      return LinearLoss::kSoftmax;
  }
  return LinearLoss::kSquared;
}

Status LinearLearnerOptions::Validate() const {
  const LinearLoss l = ResolvedLoss();
  const bool ok = predictor_type == PredictorType::kRegressor
                      ? (l == LinearLoss::kSquared || l == LinearLoss::kAbsolute)
                  : predictor_type == PredictorType::kBinaryClassifier
                      ? (l == LinearLoss::kLogistic || l == LinearLoss::kHinge)
                      : (l == LinearLoss::kSoftmax || l == LinearLoss::kHinge);
  if (!ok) {
    return Status::InvalidArgument(
        "this loss does not fit the predictor_type (regressor: squared_loss|absolute_loss; "
        "binary_classifier: logistic|hinge_loss; multiclass_classifier: softmax_loss|hinge_loss)");
  }
  if (mini_batch_size < 1 || epochs < 1) {
    return Status::InvalidArgument("mini_batch_size and epochs must be >= 1");
  }
  if (average_start_epoch < 0) return Status::InvalidArgument("average_start_epoch must be >= 0");
  return Status::Ok();
}

Result<LinearModel> FitLinearLearner(const Dataset& train, const Dataset* validation,
                                     const LinearLearnerOptions& options, LinearFitReport* report,
                                     const ProgressCallback& progress) {
  OSPREY_RETURN_IF_ERROR(options.Validate());
  if (train.rows() == 0) return Status::InvalidArgument("no training rows");
  const LinearLoss loss = options.ResolvedLoss();
  int num_classes = options.num_classes;
  if (options.predictor_type == PredictorType::kMulticlassClassifier && num_classes == 0) {
    num_classes = train.has_label ? static_cast<int>(train.y.maxCoeff()) + 1 : 0;
    if (num_classes < 3) num_classes = 3;
  }
  const Index f = train.x.cols();
  const Index k = options.predictor_type == PredictorType::kMulticlassClassifier ? num_classes : 1;
  const bool regression = options.predictor_type == PredictorType::kRegressor;

  Scaling scaling;
  scaling.mean = Eigen::RowVectorXd::Zero(f);
  scaling.inv_sd = Eigen::RowVectorXd::Ones(f);
  const auto n_rows = static_cast<double>(train.rows());
  const int threads = ResolveThreads(options.num_threads);
  if (options.normalize_data) {
    // One pass over the rows: per chunk of rows (fixed by the row count; small enough to stay
    // in cache for its second look) its mean and sum of squared deviations, merged in chunk
    // order with Chan et al.'s pairwise update (stable, and independent of the thread count).
    const Index rows = train.x.rows();
    constexpr Index kStatChunk = 2048;
    const auto chunks = static_cast<size_t>((rows + kStatChunk - 1) / kStatChunk);
    Matrix chunk_mean(static_cast<Index>(chunks), f), chunk_m2(static_cast<Index>(chunks), f);
    ParallelChunks(chunks, threads, [&](size_t chunk) {
      const Index lo = static_cast<Index>(chunk) * kStatChunk;
      const Index m = std::min(rows, lo + kStatChunk) - lo;
      const auto block = train.x.middleRows(lo, m);
      const Eigen::RowVectorXd mu =
          (block.transpose() * Vector::Ones(m)).transpose() / static_cast<double>(m);
      Eigen::RowVectorXd m2 = Eigen::RowVectorXd::Zero(f);
      for (Index r = 0; r < m; ++r) m2 += (block.row(r) - mu).cwiseAbs2();
      chunk_mean.row(static_cast<Index>(chunk)) = mu;
      chunk_m2.row(static_cast<Index>(chunk)) = m2;
    });
    Eigen::RowVectorXd mean = Eigen::RowVectorXd::Zero(f), var = Eigen::RowVectorXd::Zero(f);
    double count = 0.0;
    for (Index c = 0; c < static_cast<Index>(chunks); ++c) {
      const double m = static_cast<double>(std::min(rows, (c + 1) * kStatChunk) - c * kStatChunk);
      const Eigen::RowVectorXd delta = chunk_mean.row(c) - mean;
      const double total = count + m;
      mean += delta * (m / total);
      var += chunk_m2.row(c) + delta.cwiseAbs2() * (count * m / total);
      count = total;
    }
    scaling.mean = mean;
    var /= n_rows;
    for (Index c = 0; c < f; ++c)
      scaling.inv_sd[c] = var[c] > 1e-24 ? 1.0 / std::sqrt(var[c]) : 1.0;
  }
  // A missing value makes its column's statistics NaN: the scan that names it runs only then
  // (or when there are no statistics).
  const bool stats_finite =
      options.normalize_data && scaling.mean.allFinite() && scaling.inv_sd.allFinite();
  OSPREY_RETURN_IF_ERROR(CheckData(train, "training data", options.predictor_type, num_classes,
                                   /*check_missing=*/!stats_finite));
  if (validation != nullptr && validation->rows() == 0) validation = nullptr;
  if (validation != nullptr) {
    if (validation->cols() != train.cols()) {
      return Status::InvalidArgument("validation data has a different number of columns");
    }
    OSPREY_RETURN_IF_ERROR(
        CheckData(*validation, "validation data", options.predictor_type, num_classes));
  }
  const bool scale_label = regression && options.normalize_label;
  if (scale_label) {
    scaling.y_mean = train.y.mean();
    const double var = (train.y.array() - scaling.y_mean).square().mean();
    scaling.y_sd = var > 1e-24 ? std::sqrt(var) : 1.0;
  }

  ColMatrix w = ColMatrix::Zero(k, f);
  Vector b = Vector::Zero(k);
  ColMatrix m_w = ColMatrix::Zero(k, f), v_w = ColMatrix::Zero(k, f), g_w(k, f);
  Vector m_b = Vector::Zero(k), v_b = Vector::Zero(k), g_b(k);
  ColMatrix best_w = w;
  Vector best_b = b;
  // Polyak-Ruppert averages of the iterates since average_start_epoch, and their count.
  ColMatrix avg_w;
  Vector avg_b;
  int64_t averaged = 0;

  const auto batch = static_cast<Index>(
      std::min<size_t>(static_cast<size_t>(options.mini_batch_size), train.rows()));
  const Index buffer_rows = std::max<Index>(batch, kEvalChunkRows);
  Matrix xb(buffer_rows, f);
  Vector yb(buffer_rows);
  Matrix sb(buffer_rows, k);

  double lr = options.learning_rate > 0 ? options.learning_rate
                                        : (options.optimizer == OptimizerKind::kAdam ? 0.01 : 0.1);
  int64_t step = 0;
  double beta1_t = 1.0, beta2_t = 1.0;
  // Small data gets fully reshuffled rows every epoch, so mini-batches differ from epoch to
  // epoch; large data keeps its rows and reshuffles the order of the batches.
  const bool reshuffle_rows = train.x.size() <= options.reshuffle_max_cells;
  // Large data in random order (the caller says so) is trained in place: each mini-batch of
  // consecutive rows is standardised into a buffer when it is used, and no copy is made.
  // Otherwise one shuffled, standardised copy of the training rows: each epoch then visits its
  // contiguous mini-batches in a new random order, instead of gathering scattered rows every
  // epoch (one extra copy of the training matrix buys cache-friendly epochs).
  const bool in_place = !reshuffle_rows && options.rows_in_random_order;
  Matrix xs;
  Vector ys;
  if (!in_place) {
    xs.resize(train.x.rows(), f);
    ys.resize(train.x.rows());
    GatherOrder(train, ShuffledIndices(train.rows(), options.seed), scaling, scale_label, &xs, &ys,
                threads);
  }
  // Single-output batches' buffers: effective weights, raw gradient, a zero centre.
  Eigen::RowVectorXd w_eff(f), g_raw(f);
  const Eigen::RowVectorXd zero = Eigen::RowVectorXd::Zero(f);
  const size_t num_batches =
      (train.rows() + static_cast<size_t>(batch) - 1) / static_cast<size_t>(batch);
  double best = std::numeric_limits<double>::infinity();
  int since_best = 0;
  LinearFitReport local;
  LinearFitReport& rep = report != nullptr ? *report : local;
  rep = LinearFitReport{};

  for (int epoch = 1; epoch <= options.epochs; ++epoch) {
    if (reshuffle_rows && epoch > 1) {
      GatherOrder(train, ShuffledIndices(train.rows(), options.seed + static_cast<uint64_t>(epoch)),
                  scaling, scale_label, &xs, &ys, threads);
    }
    const std::vector<size_t> batch_order =
        ShuffledIndices(num_batches, options.seed + static_cast<uint64_t>(epoch));
    double epoch_loss = 0.0;
    const bool averaging = options.average_start_epoch > 0 && epoch >= options.average_start_epoch;
    for (const size_t batch_idx : batch_order) {
      const auto begin = static_cast<Index>(batch_idx) * batch;
      const Index n = std::min(batch, train.x.rows() - begin);
      const double inv_n = 1.0 / static_cast<double>(n);
      if (k == 1) {
        // One pass over the batch's rows. In place, the standardisation is applied on the fly:
        // (x - mean) * inv_sd . w = (x - mean) . (inv_sd * w), and the gradient is scaled by
        // inv_sd the same way.
        double sum_d = 0.0;
        if (in_place) {
          w_eff = w.row(0).cwiseProduct(scaling.inv_sd);
          epoch_loss +=
              SingleOutputBatch(loss, train.x, train.y, begin, n, scaling.mean.data(), w_eff.data(),
                                b[0], scale_label ? &scaling : nullptr, g_raw.data(), &sum_d);
          g_w.row(0) = g_raw.cwiseProduct(scaling.inv_sd) * inv_n;
        } else {
          w_eff = w.row(0);
          epoch_loss += SingleOutputBatch(loss, xs, ys, begin, n, zero.data(), w_eff.data(), b[0],
                                          nullptr, g_raw.data(), &sum_d);
          g_w.row(0) = g_raw * inv_n;
        }
        if (options.wd > 0) g_w += options.wd * w;
        g_b[0] = sum_d * inv_n;
      } else {
        if (in_place) GatherRange(train, begin, n, scaling, scale_label, &xb, &yb);
        const auto xblock = in_place ? xb.topRows(n) : xs.middleRows(begin, n);
        const auto yblock = in_place ? yb.head(n) : ys.segment(begin, n);
        auto s = sb.topRows(n);
        s.noalias() = xblock * w.transpose();
        s.rowwise() += b.transpose();
        epoch_loss += LossAndGradient(loss, s, yblock, true);
        g_w.noalias() = s.transpose() * xblock;
        g_w *= inv_n;
        if (options.wd > 0) g_w += options.wd * w;
        g_b = s.colwise().sum().transpose() * inv_n;
      }
      ++step;
      if (options.optimizer == OptimizerKind::kAdam) {
        beta1_t *= options.beta_1;
        beta2_t *= options.beta_2;
        m_w = options.beta_1 * m_w + (1 - options.beta_1) * g_w;
        v_w = options.beta_2 * v_w + (1 - options.beta_2) * g_w.cwiseAbs2();
        m_b = options.beta_1 * m_b + (1 - options.beta_1) * g_b;
        v_b = options.beta_2 * v_b + (1 - options.beta_2) * g_b.cwiseAbs2();
        const double a = lr * std::sqrt(1 - beta2_t) / (1 - beta1_t);
        w.array() -= a * m_w.array() / (v_w.array().sqrt() + 1e-8);
        b.array() -= a * m_b.array() / (v_b.array().sqrt() + 1e-8);
      } else {
        m_w = options.momentum * m_w + g_w;
        m_b = options.momentum * m_b + g_b;
        w -= lr * m_w;
        b -= lr * m_b;
      }
      if (options.l1 > 0) {
        const double t = lr * options.l1;
        w = w.unaryExpr([t](double v) { return v > t ? v - t : (v < -t ? v + t : 0.0); });
      }
      if (options.lr_scheduler_step > 0 && step % options.lr_scheduler_step == 0) {
        lr = std::max(options.lr_scheduler_minimum_lr, lr * options.lr_scheduler_factor);
      }
      if (averaging) {
        // Running mean: avg += (w - avg) / count (the first update starts it at w).
        ++averaged;
        if (averaged == 1) {
          avg_w = w;
          avg_b = b;
        } else {
          const double inv_count = 1.0 / static_cast<double>(averaged);
          avg_w += (w - avg_w) * inv_count;
          avg_b += (b - avg_b) * inv_count;
        }
      }
    }
    // The model this epoch ends with: the average when averaging, else the last iterate.
    const ColMatrix& model_w = averaging ? avg_w : w;
    const Vector& model_b = averaging ? avg_b : b;
    epoch_loss /= n_rows;
    if (averaging) {
      // The epoch's running loss scored the iterates, not their mean: score the mean.
      epoch_loss = MeanLoss(train, loss, model_w, model_b, scaling, scale_label, &xb, &yb, &sb);
    }
    rep.train_loss.push_back(epoch_loss);
    double monitored = epoch_loss;
    if (validation != nullptr) {
      monitored =
          MeanLoss(*validation, loss, model_w, model_b, scaling, scale_label, &xb, &yb, &sb);
      rep.validation_loss.push_back(monitored);
    }
    rep.epochs_run = epoch;
    if (progress) progress(epoch, options.epochs, monitored);
    const bool improved = !std::isfinite(best) ||
                          (best - monitored) > options.early_stopping_tolerance * std::abs(best);
    if (monitored < best) {
      best = monitored;
      best_w = model_w;
      best_b = model_b;
      rep.best_epoch = epoch;
    }
    since_best = improved ? 0 : since_best + 1;
    if (since_best >= options.early_stopping_patience) {
      rep.early_stopped = epoch < options.epochs;
      break;
    }
  }
  if (!std::isfinite(best)) return Status::InvalidArgument("training diverged (loss not finite)");

  // Fold the standardisation into weights on raw features:
  //   y = y_sd * (W_s ((x - mean) * inv_sd) + b_s) + y_mean.
  LinearModel model;
  model.weights = best_w.array().rowwise() * scaling.inv_sd.array();
  model.bias = best_b - model.weights * scaling.mean.transpose();
  model.weights *= scaling.y_sd;
  model.bias = model.bias * scaling.y_sd;
  model.bias.array() += scaling.y_mean;
  switch (options.predictor_type) {
    case PredictorType::kRegressor:
      model.task = ModelTask::kRegression;
      model.link = LinkFunction::kIdentity;
      break;
    case PredictorType::kBinaryClassifier:
      // Hinge margins go through the logistic link too: same decisions, a score in [0, 1].
      model.task = ModelTask::kBinary;
      model.link = LinkFunction::kLogistic;
      break;
    case PredictorType::kMulticlassClassifier:
      model.task = ModelTask::kMulticlass;
      model.link = LinkFunction::kSoftmax;
      break;
  }
  if (!regression) {
    if (!train.label_classes.empty()) {
      model.classes = train.label_classes;
    } else {
      for (Index c = 0; c < std::max<Index>(k, 2); ++c) model.classes.push_back(std::to_string(c));
    }
  }
  return model;
}

Matrix LinearModel::Predict(const Matrix& x) const {
  Matrix s = x * weights.transpose();
  s.rowwise() += bias.transpose();
  switch (link) {
    case LinkFunction::kIdentity:
      break;
    case LinkFunction::kLogistic:
      s = s.unaryExpr([](double z) { return 1.0 / (1.0 + std::exp(-z)); });
      break;
    case LinkFunction::kSoftmax:
      for (Index r = 0; r < s.rows(); ++r) {
        const double max = s.row(r).maxCoeff();
        s.row(r) = (s.row(r).array() - max).exp();
        s.row(r) /= s.row(r).sum();
      }
      break;
  }
  return s;
}

std::vector<int> LinearModel::PredictClasses(const Matrix& scores) const {
  std::vector<int> out(static_cast<size_t>(scores.rows()));
  for (Index r = 0; r < scores.rows(); ++r) {
    if (scores.cols() == 1) {
      out[static_cast<size_t>(r)] = scores(r, 0) >= 0.5 ? 1 : 0;
    } else {
      Index arg = 0;
      scores.row(r).maxCoeff(&arg);
      out[static_cast<size_t>(r)] = static_cast<int>(arg);
    }
  }
  return out;
}

std::string LinearModel::ToJson() const {
  std::string out;
  JsonWriter j(&out);
  j.BeginObject().Key("format").String("osprey-linear/1");
  j.Key("task").String(TaskName(task));
  j.Key("link").String(link == LinkFunction::kIdentity   ? "identity"
                       : link == LinkFunction::kLogistic ? "logistic"
                                                         : "softmax");
  j.Key("weights").BeginArray();
  for (Index r = 0; r < weights.rows(); ++r) {
    j.BeginArray();
    for (Index c = 0; c < weights.cols(); ++c) j.Double(weights(r, c));
    j.EndArray();
  }
  j.EndArray();
  j.Key("bias").BeginArray();
  for (Index r = 0; r < bias.size(); ++r) j.Double(bias[r]);
  j.EndArray();
  if (!classes.empty()) {
    j.Key("classes").BeginArray();
    for (const auto& c : classes) j.String(c);
    j.EndArray();
  }
  j.EndObject();
  return out;
}

Result<LinearModel> LinearModel::FromJson(std::string_view json) {
  namespace dom = simdjson::dom;
  dom::parser parser;
  simdjson::padded_string padded(json);
  dom::element doc;
  if (auto err = parser.parse(padded).get(doc); err) {
    return Status::Corruption(std::string("linear model: invalid JSON: ") +
                              simdjson::error_message(err));
  }
  auto bad = [](const std::string& what) { return Status::Corruption("linear model: " + what); };
  std::string_view format, task, link;
  if (doc["format"].get(format) || format != "osprey-linear/1") {
    return bad("format must be \"osprey-linear/1\"");
  }
  if (doc["task"].get(task)) return bad("missing task");
  if (doc["link"].get(link)) return bad("missing link");
  LinearModel m;
  auto t = ParseTask(task);
  if (!t ||
      (*t != ModelTask::kRegression && *t != ModelTask::kBinary && *t != ModelTask::kMulticlass)) {
    return bad("task must be regression|binary|multiclass");
  }
  m.task = *t;
  if (link == "identity") {
    m.link = LinkFunction::kIdentity;
  } else if (link == "logistic") {
    m.link = LinkFunction::kLogistic;
  } else if (link == "softmax") {
    m.link = LinkFunction::kSoftmax;
  } else {
    return bad("link must be identity|logistic|softmax");
  }
  dom::array weights, bias;
  if (doc["weights"].get(weights) || doc["bias"].get(bias)) return bad("missing weights or bias");
  const auto k = static_cast<Index>(weights.size());
  if (k == 0 || static_cast<Index>(bias.size()) != k) {
    return bad("weights and bias must have one entry per output");
  }
  Index f = -1;
  Index r = 0;
  for (dom::element row : weights) {
    dom::array values;
    if (row.get(values)) return bad("weights must be an array of arrays");
    if (f < 0) {
      f = static_cast<Index>(values.size());
      m.weights.resize(k, f);
    } else if (static_cast<Index>(values.size()) != f) {
      return bad("weight rows differ in length");
    }
    Index c = 0;
    for (dom::element v : values) {
      double d = 0;
      if (v.get(d)) return bad("weights must be numbers");
      m.weights(r, c++) = d;
    }
    ++r;
  }
  m.bias.resize(k);
  r = 0;
  for (dom::element v : bias) {
    double d = 0;
    if (v.get(d)) return bad("bias must be numbers");
    m.bias[r++] = d;
  }
  dom::array classes;
  if (!doc["classes"].get(classes)) {
    for (dom::element v : classes) {
      std::string_view s;
      if (v.get(s)) return bad("classes must be strings");
      m.classes.emplace_back(s);
    }
  }
  return m;
}

}  // namespace osprey::models::ml
