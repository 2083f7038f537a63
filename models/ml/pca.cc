#include "models/ml/pca.h"

#include <algorithm>
#include <cmath>

#include <Eigen/Eigenvalues>
#include <Eigen/QR>
#include <Eigen/SVD>

#include "models/rcf/rng.h"

namespace osprey::models::ml {

namespace {

using Eigen::Index;
using ColMatrix = Eigen::MatrixXd;

// Each row signed so its largest-magnitude entry is positive.
void FixSigns(Matrix* components) {
  for (Index r = 0; r < components->rows(); ++r) {
    Index arg = 0;
    components->row(r).cwiseAbs().maxCoeff(&arg);
    if ((*components)(r, arg) < 0) components->row(r) *= -1.0;
  }
}

double Gaussian(rcf::Rng& rng) {
  // Box-Muller; one of the pair is enough here.
  const double u1 = rng.NextOpenDouble();
  const double u2 = rng.NextDouble();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

}  // namespace

Result<PcaOptions> PcaOptions::FromHyperparameters(const Hyperparameters& params,
                                                   std::vector<HyperparameterProblem>* problems) {
  PcaOptions o;
  HyperparameterReader r(params);
  r.Int("num_components", &o.num_components, 1, 1 << 20);
  if (!params.contains("num_components")) {
    if (problems != nullptr) *problems = {{"num_components", "required"}};
    return Status::InvalidArgument("num_components: required");
  }
  int mode = 0;
  r.Choice("algorithm_mode", &mode, {"regular", "randomized"});
  o.algorithm_mode = static_cast<PcaMode>(mode);
  r.Bool("subtract_mean", &o.subtract_mean);
  r.Int("extra_components", &o.extra_components, -1, 1 << 20);
  r.Int("power_iterations", &o.power_iterations, 0, 100);
  r.UInt64("seed", &o.seed);
  r.Finish();
  if (!r.ok()) {
    if (problems != nullptr) *problems = r.problems();
    return r.ToStatus();
  }
  return o;
}

Matrix PcaModel::Project(const Matrix& x) const {
  Matrix out = (x.rowwise() - mean) * components.transpose();
  return out;
}

Result<PcaModel> FitPca(const Matrix& x, const PcaOptions& options) {
  const Index n = x.rows();
  const Index d = x.cols();
  const Index c = options.num_components;
  if (c < 1 || c > std::min(n, d)) {
    return Status::InvalidArgument("num_components must be in [1, min(rows, features)] = [1, " +
                                   std::to_string(std::min(n, d)) + "], got " + std::to_string(c));
  }
  if (n < 2) return Status::InvalidArgument("PCA needs at least 2 rows");
  if (HasMissing(x)) {
    return Status::InvalidArgument(
        "missing values in the data (set preparation.missing to impute or drop rows)");
  }
  PcaModel model;
  model.mean =
      options.subtract_mean ? Eigen::RowVectorXd(x.colwise().mean()) : Eigen::RowVectorXd::Zero(d);
  const double denom = static_cast<double>(n - 1);
  model.total_variance = (x.rowwise() - model.mean).squaredNorm() / denom;
  if (options.algorithm_mode == PcaMode::kRegular) {
    // Covariance (d x d) from the centred data, then its eigenvectors.
    ColMatrix cov = ColMatrix::Zero(d, d);
    constexpr Index kBlock = 4096;
    Matrix block;
    for (Index begin = 0; begin < n; begin += kBlock) {
      const Index m = std::min(kBlock, n - begin);
      block = x.middleRows(begin, m).rowwise() - model.mean;
      cov.selfadjointView<Eigen::Lower>().rankUpdate(block.transpose());
    }
    cov = cov.selfadjointView<Eigen::Lower>();
    cov /= denom;
    Eigen::SelfAdjointEigenSolver<ColMatrix> eig(cov);
    if (eig.info() != Eigen::Success) return Status::Internal("eigendecomposition failed");
    // Ascending order: take the last c, reversed.
    model.components.resize(c, d);
    model.explained_variance.resize(c);
    for (Index k = 0; k < c; ++k) {
      model.components.row(k) = eig.eigenvectors().col(d - 1 - k).transpose();
      model.explained_variance[k] = std::max(0.0, eig.eigenvalues()[d - 1 - k]);
    }
  } else {
    const Index p = options.extra_components < 0 ? 10 : options.extra_components;
    const Index l = std::min(d, c + p);
    rcf::Rng rng(options.seed);
    ColMatrix omega(d, l);
    for (Index col = 0; col < l; ++col) {
      for (Index row = 0; row < d; ++row) omega(row, col) = Gaussian(rng);
    }
    // A = X - 1 mean; A w = X w - 1 (mean w); A^T q = X^T q - mean^T (1^T q).
    auto apply = [&](const ColMatrix& w) {
      ColMatrix y = x * w;
      y.rowwise() -= model.mean * w;
      return y;
    };
    auto apply_t = [&](const ColMatrix& q) {
      ColMatrix z = x.transpose() * q;
      z -= model.mean.transpose() * q.colwise().sum();
      return z;
    };
    ColMatrix q =
        Eigen::HouseholderQR<ColMatrix>(apply(omega)).householderQ() * ColMatrix::Identity(n, l);
    for (int it = 0; it < options.power_iterations; ++it) {
      ColMatrix z =
          Eigen::HouseholderQR<ColMatrix>(apply_t(q)).householderQ() * ColMatrix::Identity(d, l);
      q = Eigen::HouseholderQR<ColMatrix>(apply(z)).householderQ() * ColMatrix::Identity(n, l);
    }
    ColMatrix bt = apply_t(q);  // d x l = (Q^T A)^T
    Eigen::JacobiSVD<ColMatrix> svd(bt, Eigen::ComputeThinU);
    model.components = svd.matrixU().leftCols(c).transpose();
    model.explained_variance = svd.singularValues().head(c).array().square() / denom;
  }
  FixSigns(&model.components);
  model.explained_variance_ratio =
      model.total_variance > 0 ? Eigen::VectorXd(model.explained_variance / model.total_variance)
                               : Eigen::VectorXd::Zero(c);
  return model;
}

}  // namespace osprey::models::ml
