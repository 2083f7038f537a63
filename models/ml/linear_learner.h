// The linear learner (SageMaker's built-in algorithm, same hyperparameter names): regression
// (squared or absolute loss), binary classification (logistic or hinge = linear SVM) and
// multiclass (softmax or Crammer-Singer hinge), L1 (proximal) and L2 regularisation, mini-batch
// SGD or Adam with a step learning-rate schedule, optional iterate averaging, and early stopping
// on the validation loss (the training loss without a validation set), keeping the best epoch's
// weights. Features (and the
// label, for regression) are standardised internally; the result is folded back into weights
// on the raw features, so LinearModel needs no preprocessing to serve. Training works on one
// shuffled, standardised copy of the training rows (memory: one more training matrix), or in
// place on large data that is already in random order (`rows_in_random_order`).
// Thread-compatible: a LinearModel's const methods may be called concurrently.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <Eigen/Core>

#include "config/base/status.h"
#include "models/ml/dataset.h"
#include "models/ml/hyperparameters.h"
#include "models/serving/model.h"

namespace osprey::models::ml {

enum class PredictorType { kRegressor, kBinaryClassifier, kMulticlassClassifier };
enum class LinearLoss { kAuto, kSquared, kAbsolute, kLogistic, kSoftmax, kHinge };
enum class OptimizerKind { kSgd, kAdam };

struct LinearLearnerOptions {
  // predictor_type: regressor | binary_classifier | multiclass_classifier. Required.
  PredictorType predictor_type = PredictorType::kRegressor;
  // loss: auto | squared_loss | absolute_loss | logistic | softmax_loss | hinge_loss.
  // auto = squared_loss, logistic, softmax_loss by predictor type.
  LinearLoss loss = LinearLoss::kAuto;
  // l1: L1 penalty (proximal soft-thresholding). Default: 0.
  double l1 = 0.0;
  // wd: L2 penalty (weight decay). Default: 0.
  double wd = 0.0;
  // learning_rate: step size; 0 (auto) = 0.01 for adam, 0.1 for sgd.
  double learning_rate = 0.0;
  // mini_batch_size: rows per update. Default: 1000 (SageMaker's).
  int mini_batch_size = 1000;
  // epochs: passes over the training rows. Default: 15.
  int epochs = 15;
  // optimizer: sgd | adam. Default: adam.
  OptimizerKind optimizer = OptimizerKind::kAdam;
  // lr_scheduler_step: updates between learning-rate decreases; 0 = constant. Default: 0.
  int lr_scheduler_step = 0;
  // lr_scheduler_factor: multiplier at each decrease, in (0, 1]. Default: 0.99.
  double lr_scheduler_factor = 0.99;
  // lr_scheduler_minimum_lr: floor of the schedule. Default: 1e-5.
  double lr_scheduler_minimum_lr = 1e-5;
  // early_stopping_patience: epochs without relative improvement > tolerance before stopping.
  int early_stopping_patience = 3;
  double early_stopping_tolerance = 0.001;
  // num_classes: multiclass only; 0 = max label + 1.
  int num_classes = 0;
  // normalize_data / normalize_label: standardise features / the regression label.
  bool normalize_data = true;
  bool normalize_label = true;
  // beta_1, beta_2: Adam's moment decay rates.
  double beta_1 = 0.9;
  double beta_2 = 0.999;
  // momentum: SGD momentum. Default: 0.
  double momentum = 0.0;
  // average_start_epoch: from this epoch on (1-based), the model is the running mean of the
  // weights after every update since that epoch began (Polyak-Ruppert averaging, scikit-learn
  // SGD's `average`; SageMaker has no counterpart). The mean removes SGD's noise floor and
  // keeps converging along badly conditioned directions (strongly correlated features) where
  // the iterates only jitter. Early stopping, the best epoch and the reported training and
  // validation losses then judge the averaged weights (cost: one more pass over the training
  // rows per averaged epoch, to score them). With l1, an averaged weight is exactly 0 only if
  // it was 0 after every averaged update. 0 = off (the last iterate). Default: 0.
  int average_start_epoch = 0;
  // Seed for the per-epoch shuffles.
  uint64_t seed = 1;
  // Threads for the passes over all rows (scaling statistics, the shuffled copy); not a
  // hyperparameter. 0 = the hardware's concurrency. The model does not depend on it.
  int num_threads = 0;
  // Data of at most this many cells (rows x features) gets its rows reshuffled every epoch
  // (new mini-batches each time); larger data keeps one row order and visits its mini-batches
  // in a new random order each epoch. Not a hyperparameter. Default: 8M cells (64 MB).
  int64_t reshuffle_max_cells = int64_t{8} << 20;
  // The caller guarantees the training rows are in random order (the trainer's split shuffles
  // them); not a hyperparameter. Larger data (see reshuffle_max_cells) is then trained in
  // place, in mini-batches of consecutive rows standardised on the fly, without the learner's
  // shuffled copy of the training rows (memory and time: one copy of the training matrix).
  bool rows_in_random_order = false;

  // Reads SageMaker-named hyperparameters (unknown names are problems). `predictor_type` is
  // required.
  static Result<LinearLearnerOptions> FromHyperparameters(
      const Hyperparameters& params, std::vector<HyperparameterProblem>* problems = nullptr);
  // The effective loss after resolving auto.
  LinearLoss ResolvedLoss() const;
  Status Validate() const;
};

enum class LinkFunction { kIdentity, kLogistic, kSoftmax };

// A trained linear model on raw features: scores = link(W x + b).
struct LinearModel {
  ModelTask task = ModelTask::kRegression;
  LinkFunction link = LinkFunction::kIdentity;
  Eigen::MatrixXd weights;           // outputs x features
  Eigen::VectorXd bias;              // outputs
  std::vector<std::string> classes;  // optional class labels (classifiers)

  // Scores after the link, one row per input row: regression 1 column (the value), binary 1
  // column (P(1)), multiclass one column per class. REQUIRES: x.cols() == weights.cols().
  Matrix Predict(const Matrix& x) const;
  // Predicted class per row (argmax, or P(1) >= 0.5 for binary). REQUIRES: a classifier.
  std::vector<int> PredictClasses(const Matrix& scores) const;

  // The serving format "osprey-linear/1" (models/serving/REGISTRY.md, written by `osprey
  // train`, read by the daemon's `linear` loader).
  std::string ToJson() const;
  static Result<LinearModel> FromJson(std::string_view json);
};

struct LinearFitReport {
  int epochs_run = 0;
  int best_epoch = 0;  // 1-based
  bool early_stopped = false;
  std::vector<double> train_loss;       // mean objective per epoch (standardised units)
  std::vector<double> validation_loss;  // per epoch, when a validation set was given
};

// Trains on `train` (labels: regression any number; binary 0/1; multiclass 0..K-1).
// `validation` may be null. Fails with InvalidArgument on missing feature values (impute
// first) or labels out of range. `report` and `progress` may be null.
Result<LinearModel> FitLinearLearner(const Dataset& train, const Dataset* validation,
                                     const LinearLearnerOptions& options,
                                     LinearFitReport* report = nullptr,
                                     const ProgressCallback& progress = nullptr);

}  // namespace osprey::models::ml
