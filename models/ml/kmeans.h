// K-means (SageMaker's hyperparameter names): k-means++ or random initialisation, Lloyd's or
// Elkan's iterations (Elkan skips most distance computations through the triangle inequality
// and gives the same result), or mini-batch k-means (Sculley 2010) for large data. Distances
// are Euclidean; assignment runs blockwise (no per-row allocation), in row chunks on every core
// with results independent of the thread count (models/ml/parallel.h).
// Thread-compatible: a KMeansModel's const methods may be called concurrently.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "config/base/status.h"
#include "models/ml/dataset.h"
#include "models/ml/hyperparameters.h"

namespace osprey::models::ml {

enum class KMeansInit { kRandom, kKMeansPlusPlus };
enum class KMeansAlgorithm { kLloyd, kElkan };

struct KMeansOptions {
  // k: number of clusters. Required, >= 1 and <= rows.
  int k = 0;
  // init_method: random | kmeans++. Default: kmeans++.
  KMeansInit init_method = KMeansInit::kKMeansPlusPlus;
  // algorithm: lloyd | elkan (full-batch only). Default: lloyd.
  KMeansAlgorithm algorithm = KMeansAlgorithm::kLloyd;
  // epochs: maximum full passes (iterations for Lloyd/Elkan). Default: 100.
  int epochs = 100;
  // mini_batch_size: 0 = full batch; > 0 = mini-batch k-means with this many rows per step.
  int mini_batch_size = 0;
  // tol: stop when the centroids' total squared shift is below tol times the data's mean
  // per-feature variance (scikit-learn's convention). Default: 1e-4.
  double tol = 1e-4;
  uint64_t seed = 1;
  // Threads for the passes over the rows (not a hyperparameter); 0 = the hardware's
  // concurrency. Work is cut into chunks fixed by the row count and partial results are merged
  // in chunk order, so the model does not depend on the thread count.
  int num_threads = 0;

  static Result<KMeansOptions> FromHyperparameters(
      const Hyperparameters& params, std::vector<HyperparameterProblem>* problems = nullptr);
};

struct KMeansModel {
  Matrix centroids;      // k x features
  double inertia = 0.0;  // on the training data, after the last update
  int iterations = 0;

  // Closest centroid per row and its Euclidean distance. `labels`/`distances` are resized.
  void Assign(const Matrix& x, std::vector<int>* labels, std::vector<double>* distances) const;
};

// The fitted model's assignment of the training rows (what KMeansModel::Assign would give, with
// squared distances): FitKMeans computes it anyway for the inertia.
struct KMeansAssignment {
  std::vector<int> labels;                // closest centroid per row
  std::vector<double> squared_distances;  // to that centroid
};

// REQUIRES: x has no NaN (impute first); fails with InvalidArgument otherwise or when
// k > rows. With `train_assignment` non-null, it receives the final assignment of x's rows.
Result<KMeansModel> FitKMeans(const Matrix& x, const KMeansOptions& options,
                              const ProgressCallback& progress = nullptr,
                              KMeansAssignment* train_assignment = nullptr);

}  // namespace osprey::models::ml
