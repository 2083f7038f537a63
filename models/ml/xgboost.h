// Gradient-boosted trees through libxgboost's C API (SageMaker's XGBoost hyperparameter names,
// passed through to XGBoost after a check against the known names). Training is in memory;
// the model is saved in XGBoost's JSON format, which Python's xgboost loads (and whose files
// load here). NaN features are XGBoost's missing values. Early stopping on the validation set
// keeps the best round (the booster is sliced to it). On request, the per-round training and
// validation values of XGBoost's eval metric (the learning curve, as xgb.train's evals_result).
// Thread-safe: XGBoostModel serialises calls into its booster.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/base/mutex.h"
#include "config/base/status.h"
#include "models/ml/dataset.h"
#include "models/ml/hyperparameters.h"
#include "models/serving/model.h"

namespace osprey::models::ml {

struct XGBoostOptions {
  // num_round: boosting rounds. Required.
  int num_round = 0;
  // early_stopping_rounds: stop when the validation metric has not improved for this many
  // rounds; 0 = off. Needs a validation set.
  int early_stopping_rounds = 0;
  // sketch_sample_rows: with tree_method hist, when the training set has more rows than this,
  // XGBoost's quantile cuts (the histogram bin edges, max_bin per feature) are sketched from an
  // even sample of this many rows (row i * rows / sketch_sample_rows), and all rows are then
  // binned with them into a QuantileDMatrix; like scikit-learn's HistGradientBoosting, whose
  // binner subsamples 200 000 rows. 0 = off: the cuts come from all rows (a plain DMatrix).
  // Only with tree_method hist (XGBoost's QuantileDMatrix serves no other). Measured (libxgboost
  // 1.7.4, 800 000 x 50, 100 trees of 31 leaves, 2 cores, `osprey train`, median of 3 runs
  // interleaved): the full sketch takes ~3.2 s of the first round; with 200 000 the sample's
  // sketch ~0.9 s plus binning all rows ~1.3 s, and rounds ran no slower (~0.075 s against
  // ~0.105 s in one run): train 10.9 s -> 8.0 s wall, 21.3 s -> 15.8 s CPU; r2 0.92254 -> 0.92236.
  int64_t sketch_sample_rows = 0;
  // Everything else (objective, eta, max_depth, subsample, num_class, eval_metric, ...), as
  // strings, for XGBoosterSetParam. Default objective: reg:squarederror.
  Hyperparameters booster_params;
  // The learning curve's training rows (not hyperparameters; only when a report is asked for):
  // above curve_sample_above training rows, XGBoost's metric is evaluated on an even sample of
  // curve_sample_rows of them (row i * rows / curve_sample_rows) instead of all of them.
  // Measured (callgrind, libxgboost 1.6, 100 000 x 50, depth 6): the metric on all rows costs
  // 3.9% of training (~160 instructions per row and round, at any size); the 10 000-row sample
  // a fixed ~11M instructions per round (predicting it): 2.7% there, ~0.3% at 1 000 000 rows.
  // The two break even near 70 000 rows.
  int64_t curve_sample_above = 70000;
  int64_t curve_sample_rows = 10000;

  static Result<XGBoostOptions> FromHyperparameters(
      const Hyperparameters& params, std::vector<HyperparameterProblem>* problems = nullptr);
  // regression / binary / multiclass from the objective.
  ModelTask task() const;
};

// What FitXGBoost saw while training.
struct XGBoostFitReport {
  // 1-based round with the best validation metric (the last round without a validation set).
  int best_round = 0;
  int rounds_run = 0;          // rounds trained (>= best_round)
  bool early_stopped = false;  // early stopping cut the model to best_round rounds
  // The learning curve: XGBoost's eval metric (the objective's default, or the last
  // `eval_metric`; early stopping uses the same) after each round, rounds_run values each.
  std::string metric;                     // e.g. "rmse", "logloss", "mlogloss"
  std::vector<double> train_metric;       // on the training rows (or a sample, see below)
  std::vector<double> validation_metric;  // empty without a validation set
  // Rows the training curve is evaluated on: all training rows, or the options' even sample.
  int64_t train_metric_rows = 0;
};

class XGBoostModel {
 public:
  ~XGBoostModel();
  XGBoostModel(const XGBoostModel&) = delete;
  XGBoostModel& operator=(const XGBoostModel&) = delete;

  // Loads XGBoost's JSON (or UBJSON) model bytes.
  static Result<std::unique_ptr<XGBoostModel>> Load(std::string_view bytes, ModelTask task);

  // Per row: regression the value, binary P(1) (1 column), multiclass one column per class.
  Result<Matrix> Predict(const Matrix& x) const;
  // Per row, the index of the leaf each tree sends it to (XGBoost's pred_leaf), one column
  // per tree (rounds x trees per round).
  Result<Matrix> PredictLeaves(const Matrix& x) const;
  // XGBoost's JSON model.
  Result<std::string> SaveJson() const;
  ModelTask task() const { return task_; }
  int rounds() const;

 private:
  // XGBoosterPredictFromDMatrix with the JSON `config`; the result flattened to rows x rest.
  Result<Matrix> PredictAs(const Matrix& x, const char* config, const char* what) const;

  friend Result<std::unique_ptr<XGBoostModel>> FitXGBoost(const Dataset&, const Dataset*,
                                                          const XGBoostOptions&, XGBoostFitReport*,
                                                          const ProgressCallback&);
  XGBoostModel(void* booster, ModelTask task) : booster_(booster), task_(task) {}

  mutable Mutex mu_;
  void* const booster_ OSPREY_PT_GUARDED_BY(mu_);  // BoosterHandle
  const ModelTask task_;
};

// Trains. `validation` may be null. `report` may be null; when given, the training rows are
// also evaluated every round for the learning curve (otherwise only the validation set is,
// and only when there is one).
Result<std::unique_ptr<XGBoostModel>> FitXGBoost(const Dataset& train, const Dataset* validation,
                                                 const XGBoostOptions& options,
                                                 XGBoostFitReport* report = nullptr,
                                                 const ProgressCallback& progress = nullptr);

}  // namespace osprey::models::ml
