// PCA (SageMaker's hyperparameter names): exact (eigendecomposition of the covariance matrix,
// O(n·d² + d³), for d up to a few thousand) or randomized (Halko, Martinsson, Tropp 2011:
// a Gaussian sketch with power iterations, O(n·d·(c + p))). Components are unit vectors,
// sorted by decreasing variance, each signed so that its largest-magnitude entry is positive
// (deterministic output). Explained variance uses the n - 1 denominator, like scikit-learn.
// Thread-compatible: a PcaModel's const methods may be called concurrently.
#pragma once

#include <cstdint>
#include <vector>

#include "config/base/status.h"
#include "models/ml/dataset.h"
#include "models/ml/hyperparameters.h"

namespace osprey::models::ml {

enum class PcaMode { kRegular, kRandomized };

struct PcaOptions {
  // num_components: required, in [1, min(rows, features)].
  int num_components = 0;
  // algorithm_mode: regular | randomized. Default: regular.
  PcaMode algorithm_mode = PcaMode::kRegular;
  // subtract_mean: centre the data first. Default: true.
  bool subtract_mean = true;
  // extra_components: randomized oversampling; -1 = auto (10). SageMaker's name.
  int extra_components = -1;
  // power_iterations (randomized). Default: 4.
  int power_iterations = 4;
  uint64_t seed = 1;

  static Result<PcaOptions> FromHyperparameters(
      const Hyperparameters& params, std::vector<HyperparameterProblem>* problems = nullptr);
};

struct PcaModel {
  Eigen::RowVectorXd mean;                   // zero when !subtract_mean
  Matrix components;                         // num_components x features, orthonormal rows
  Eigen::VectorXd explained_variance;        // per component
  Eigen::VectorXd explained_variance_ratio;  // of the total variance
  double total_variance = 0.0;

  // (x - mean) * components^T: rows x num_components.
  Matrix Project(const Matrix& x) const;
};

// REQUIRES: x has no NaN; fails with InvalidArgument otherwise.
Result<PcaModel> FitPca(const Matrix& x, const PcaOptions& options);

}  // namespace osprey::models::ml
