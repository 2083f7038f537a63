// GaussianProcess: Gaussian-process regression for Bayesian tuning. Zero-mean prior on the
// standardised targets, Matérn 5/2 kernel with one length scale per input dimension (ARD), a
// signal variance and a noise variance, fitted by maximising the log marginal likelihood
// (multi-start Nelder-Mead on the logs of the hyperparameters, within fixed bounds); solves by
// Cholesky (Eigen LLT). Inputs are expected in the unit cube. Also expected improvement.
// Thread-compatible: const methods may be called concurrently.
#pragma once

#include <cstdint>

#include <Eigen/Core>

#include "config/base/status.h"

namespace osprey::models::ml {

struct GpHyperparameters {
  Eigen::VectorXd length_scales;  // one per input dimension, in input units
  double signal_variance = 1.0;   // of the standardised targets
  double noise_variance = 1e-3;   // of the standardised targets
};

class GaussianProcess {
 public:
  // Fits the hyperparameters to (x, y): x is n x d (rows are points), y has n values.
  // REQUIRES: n >= 1, d >= 1, all finite.
  static Result<GaussianProcess> Fit(const Eigen::MatrixXd& x, const Eigen::VectorXd& y,
                                     uint64_t seed);
  // Conditions on (x, y) with the given hyperparameters (no fitting).
  static Result<GaussianProcess> FitWith(const Eigen::MatrixXd& x, const Eigen::VectorXd& y,
                                         const GpHyperparameters& hyperparameters);

  // Posterior mean and standard deviation of the latent function at `point` (d values), in
  // the units of y.
  void Predict(const Eigen::VectorXd& point, double* mean, double* stddev) const;
  // log p(y | x, hyperparameters) of the standardised targets.
  double log_marginal_likelihood() const { return lml_; }
  const GpHyperparameters& hyperparameters() const { return hp_; }
  // The Matérn 5/2 kernel between two points.
  double Kernel(const Eigen::VectorXd& a, const Eigen::VectorXd& b) const;

 private:
  GaussianProcess() = default;

  Eigen::MatrixXd x_;
  Eigen::VectorXd alpha_;       // K^-1 (y - mean) / scale
  Eigen::MatrixXd chol_lower_;  // L of K = L L^T
  double y_mean_ = 0.0;
  double y_scale_ = 1.0;
  double lml_ = 0.0;
  GpHyperparameters hp_;
};

// Expected improvement below `best` (minimisation) of a Gaussian with `mean` and `stddev`,
// less a margin `xi` >= 0: E[max(best - xi - f, 0)].
double ExpectedImprovement(double mean, double stddev, double best, double xi = 0.0);

}  // namespace osprey::models::ml
