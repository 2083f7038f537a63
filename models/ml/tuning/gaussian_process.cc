#include "models/ml/tuning/gaussian_process.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numbers>
#include <utility>
#include <vector>

#include <Eigen/Cholesky>

#include "models/rcf/rng.h"

namespace osprey::models::ml {

namespace {

const double kSqrt5 = std::sqrt(5.0);

// Bounds of the log hyperparameters: length scales (the inputs are in [0, 1]), signal and noise
// variances of the standardised targets.
constexpr double kMinLengthScale = 0.01, kMaxLengthScale = 20.0;
constexpr double kMinSignal = 0.01, kMaxSignal = 100.0;
constexpr double kMinNoise = 1e-8, kMaxNoise = 1.0;

double Matern52(double r) { return (1.0 + kSqrt5 * r + 5.0 / 3.0 * r * r) * std::exp(-kSqrt5 * r); }

struct Standardised {
  Eigen::VectorXd y;
  double mean = 0.0, scale = 1.0;
};

Standardised Standardise(const Eigen::VectorXd& y) {
  Standardised s;
  s.mean = y.mean();
  const double var =
      y.size() > 1 ? (y.array() - s.mean).square().sum() / static_cast<double>(y.size() - 1) : 0.0;
  s.scale = var > 1e-24 ? std::sqrt(var) : 1.0;
  s.y = (y.array() - s.mean) / s.scale;
  return s;
}

// Squared differences per dimension: diffs[d](i, j) = (x_id - x_jd)^2.
std::vector<Eigen::MatrixXd> SquaredDiffs(const Eigen::MatrixXd& x) {
  std::vector<Eigen::MatrixXd> out(static_cast<size_t>(x.cols()));
  const Eigen::Index n = x.rows();
  for (Eigen::Index d = 0; d < x.cols(); ++d) {
    auto& m = out[static_cast<size_t>(d)];
    m.resize(n, n);
    for (Eigen::Index j = 0; j < n; ++j) {
      for (Eigen::Index i = 0; i < n; ++i) {
        const double t = x(i, d) - x(j, d);
        m(i, j) = t * t;
      }
    }
  }
  return out;
}

Eigen::MatrixXd Covariance(const std::vector<Eigen::MatrixXd>& diffs, const GpHyperparameters& hp,
                           Eigen::Index n) {
  Eigen::MatrixXd r2 = Eigen::MatrixXd::Zero(n, n);
  for (size_t d = 0; d < diffs.size(); ++d) {
    const double l = hp.length_scales[static_cast<Eigen::Index>(d)];
    r2 += diffs[d] / (l * l);
  }
  Eigen::MatrixXd k =
      r2.unaryExpr([&](double v) { return hp.signal_variance * Matern52(std::sqrt(v)); });
  k.diagonal().array() += hp.noise_variance;
  return k;
}

// -log marginal likelihood; +inf when K is not positive definite.
double NegativeLml(const std::vector<Eigen::MatrixXd>& diffs, const Eigen::VectorXd& y,
                   const GpHyperparameters& hp, Eigen::LLT<Eigen::MatrixXd>* llt_out = nullptr) {
  const Eigen::Index n = y.size();
  Eigen::LLT<Eigen::MatrixXd> llt(Covariance(diffs, hp, n));
  if (llt.info() != Eigen::Success) return std::numeric_limits<double>::infinity();
  const Eigen::VectorXd alpha = llt.solve(y);
  const double log_det = 2.0 * llt.matrixLLT().diagonal().array().log().sum();
  const double v = 0.5 * y.dot(alpha) + 0.5 * log_det +
                   0.5 * static_cast<double>(n) * std::log(2.0 * std::numbers::pi);
  if (llt_out != nullptr) *llt_out = std::move(llt);
  return std::isfinite(v) ? v : std::numeric_limits<double>::infinity();
}

// theta = (log l_1 .. log l_d, log signal, log noise), clamped into the bounds.
GpHyperparameters FromTheta(const Eigen::VectorXd& theta, Eigen::Index d) {
  GpHyperparameters hp;
  hp.length_scales.resize(d);
  for (Eigen::Index i = 0; i < d; ++i) {
    hp.length_scales[i] = std::clamp(std::exp(theta[i]), kMinLengthScale, kMaxLengthScale);
  }
  hp.signal_variance = std::clamp(std::exp(theta[d]), kMinSignal, kMaxSignal);
  hp.noise_variance = std::clamp(std::exp(theta[d + 1]), kMinNoise, kMaxNoise);
  return hp;
}

Eigen::VectorXd ClampTheta(Eigen::VectorXd t, Eigen::Index d) {
  for (Eigen::Index i = 0; i < d; ++i) {
    t[i] = std::clamp(t[i], std::log(kMinLengthScale), std::log(kMaxLengthScale));
  }
  t[d] = std::clamp(t[d], std::log(kMinSignal), std::log(kMaxSignal));
  t[d + 1] = std::clamp(t[d + 1], std::log(kMinNoise), std::log(kMaxNoise));
  return t;
}

// Nelder-Mead (reflection 1, expansion 2, contraction 0.5, shrink 0.5) from `start`, each
// vertex clamped into the box by `clamp`; at most `max_evals` evaluations of f.
Eigen::VectorXd NelderMead(const std::function<double(const Eigen::VectorXd&)>& f,
                           const std::function<Eigen::VectorXd(Eigen::VectorXd)>& clamp,
                           const Eigen::VectorXd& start, double step, int max_evals, double* best) {
  const Eigen::Index p = start.size();
  std::vector<Eigen::VectorXd> pts;
  std::vector<double> val;
  int evals = 0;
  auto eval = [&](const Eigen::VectorXd& x) {
    ++evals;
    return f(x);
  };
  pts.push_back(clamp(start));
  val.push_back(eval(pts.back()));
  for (Eigen::Index i = 0; i < p; ++i) {
    Eigen::VectorXd x = start;
    x[i] += step;
    pts.push_back(clamp(x));
    val.push_back(eval(pts.back()));
  }
  std::vector<size_t> order(pts.size());
  while (evals < max_evals) {
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return val[a] < val[b]; });
    const size_t lo = order.front(), hi = order.back(), second = order[order.size() - 2];
    if (std::isfinite(val[hi]) && val[hi] - val[lo] < 1e-9 * (1.0 + std::abs(val[lo]))) break;
    Eigen::VectorXd centroid = Eigen::VectorXd::Zero(p);
    for (size_t i = 0; i < pts.size(); ++i) {
      if (i != hi) centroid += pts[i];
    }
    centroid /= static_cast<double>(p);
    const Eigen::VectorXd xr = clamp(centroid + (centroid - pts[hi]));
    const double fr = eval(xr);
    if (fr < val[lo]) {
      const Eigen::VectorXd xe = clamp(centroid + 2.0 * (centroid - pts[hi]));
      const double fe = eval(xe);
      if (fe < fr) {
        pts[hi] = xe, val[hi] = fe;
      } else {
        pts[hi] = xr, val[hi] = fr;
      }
    } else if (fr < val[second]) {
      pts[hi] = xr, val[hi] = fr;
    } else {
      const Eigen::VectorXd xc = clamp(centroid + 0.5 * (pts[hi] - centroid));
      const double fc = eval(xc);
      if (fc < val[hi]) {
        pts[hi] = xc, val[hi] = fc;
      } else {
        for (size_t i = 0; i < pts.size(); ++i) {
          if (i == lo) continue;
          pts[i] = clamp(pts[lo] + 0.5 * (pts[i] - pts[lo]));
          val[i] = eval(pts[i]);
        }
      }
    }
  }
  size_t arg = 0;
  for (size_t i = 1; i < val.size(); ++i) {
    if (val[i] < val[arg]) arg = i;
  }
  *best = val[arg];
  return pts[arg];
}

}  // namespace

Result<GaussianProcess> GaussianProcess::FitWith(const Eigen::MatrixXd& x, const Eigen::VectorXd& y,
                                                 const GpHyperparameters& hyperparameters) {
  if (x.rows() == 0 || x.rows() != y.size() || x.cols() != hyperparameters.length_scales.size()) {
    return Status::InvalidArgument("gaussian process: shapes do not match");
  }
  GaussianProcess gp;
  gp.x_ = x;
  gp.hp_ = hyperparameters;
  const Standardised s = Standardise(y);
  gp.y_mean_ = s.mean;
  gp.y_scale_ = s.scale;
  Eigen::LLT<Eigen::MatrixXd> llt;
  GpHyperparameters hp = hyperparameters;
  double nlml = NegativeLml(SquaredDiffs(x), s.y, hp, &llt);
  // Near-duplicate points can leave K singular at a tiny noise: add jitter until it factors.
  for (int tries = 0; !std::isfinite(nlml) && tries < 8; ++tries) {
    hp.noise_variance = std::max(1e-10, hp.noise_variance * 10.0);
    nlml = NegativeLml(SquaredDiffs(x), s.y, hp, &llt);
  }
  if (!std::isfinite(nlml)) return Status::Internal("gaussian process: covariance is singular");
  gp.hp_ = hp;
  gp.lml_ = -nlml;
  gp.chol_lower_ = llt.matrixL();
  gp.alpha_ = llt.solve(s.y);
  return gp;
}

Result<GaussianProcess> GaussianProcess::Fit(const Eigen::MatrixXd& x, const Eigen::VectorXd& y,
                                             uint64_t seed) {
  if (x.rows() == 0 || x.rows() != y.size() || x.cols() == 0) {
    return Status::InvalidArgument("gaussian process: shapes do not match");
  }
  const Eigen::Index d = x.cols();
  const Standardised s = Standardise(y);
  const auto diffs = SquaredDiffs(x);
  auto objective = [&](const Eigen::VectorXd& theta) {
    return NegativeLml(diffs, s.y, FromTheta(theta, d));
  };
  auto clamp = [d](Eigen::VectorXd t) { return ClampTheta(std::move(t), d); };
  // Starts: a default (length 0.3, unit signal, small noise) and seeded random ones in the box.
  rcf::Rng rng(seed ^ 0x6a09e667f3bcc909ULL);
  constexpr int kStarts = 4;
  const int max_evals = 40 * static_cast<int>(d + 2);
  Eigen::VectorXd best_theta;
  double best = std::numeric_limits<double>::infinity();
  for (int start = 0; start < kStarts; ++start) {
    Eigen::VectorXd theta(d + 2);
    if (start == 0) {
      theta.head(d).setConstant(std::log(0.3));
      theta[d] = 0.0;
      theta[d + 1] = std::log(1e-4);
    } else {
      for (Eigen::Index i = 0; i < d; ++i) {
        theta[i] = std::log(0.05) + rng.NextDouble() * std::log(40.0);
      }
      theta[d] = std::log(0.3) + rng.NextDouble() * std::log(30.0);
      theta[d + 1] = std::log(1e-7) + rng.NextDouble() * std::log(1e5);
    }
    double value = 0;
    Eigen::VectorXd t = NelderMead(objective, clamp, theta, 0.7, max_evals, &value);
    if (value < best) {
      best = value;
      best_theta = t;
    }
  }
  if (!std::isfinite(best)) return Status::Internal("gaussian process: no hyperparameters fit");
  return FitWith(x, y, FromTheta(best_theta, d));
}

double GaussianProcess::Kernel(const Eigen::VectorXd& a, const Eigen::VectorXd& b) const {
  const double r2 = ((a - b).array() / hp_.length_scales.array()).square().sum();
  return hp_.signal_variance * Matern52(std::sqrt(r2));
}

void GaussianProcess::Predict(const Eigen::VectorXd& point, double* mean, double* stddev) const {
  const Eigen::Index n = x_.rows();
  Eigen::VectorXd k(n);
  for (Eigen::Index i = 0; i < n; ++i) k[i] = Kernel(x_.row(i).transpose(), point);
  const double mu = k.dot(alpha_);
  const Eigen::VectorXd v = chol_lower_.triangularView<Eigen::Lower>().solve(k);
  const double var = std::max(hp_.signal_variance - v.squaredNorm(), 1e-12 * hp_.signal_variance);
  *mean = y_mean_ + y_scale_ * mu;
  *stddev = y_scale_ * std::sqrt(var);
}

double ExpectedImprovement(double mean, double stddev, double best, double xi) {
  const double improvement = best - xi - mean;
  if (stddev <= 0) return std::max(improvement, 0.0);
  const double z = improvement / stddev;
  const double cdf = 0.5 * std::erfc(-z / std::sqrt(2.0));
  const double pdf = std::exp(-0.5 * z * z) / std::sqrt(2.0 * std::numbers::pi);
  return std::max(improvement * cdf + stddev * pdf, 0.0);
}

}  // namespace osprey::models::ml
