// Gradient-boosted trees through libxgboost's C API (SageMaker's XGBoost hyperparameter names,
// passed through to XGBoost after a check against the known names). Training is in memory;
// the model is saved in XGBoost's JSON format, which Python's xgboost loads (and whose files
// load here). NaN features are XGBoost's missing values. Early stopping on the validation set
// keeps the best round (the booster is sliced to it).
// Thread-safe: XGBoostModel serialises calls into its booster.
#pragma once

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
  // Everything else (objective, eta, max_depth, subsample, num_class, eval_metric, ...), as
  // strings, for XGBoosterSetParam. Default objective: reg:squarederror.
  Hyperparameters booster_params;

  static Result<XGBoostOptions> FromHyperparameters(
      const Hyperparameters& params, std::vector<HyperparameterProblem>* problems = nullptr);
  // regression / binary / multiclass from the objective.
  ModelTask task() const;
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
                                                          const XGBoostOptions&, int*,
                                                          const ProgressCallback&);
  XGBoostModel(void* booster, ModelTask task) : booster_(booster), task_(task) {}

  mutable Mutex mu_;
  void* const booster_ OSPREY_PT_GUARDED_BY(mu_);  // BoosterHandle
  const ModelTask task_;
};

// Trains; `best_round` (may be null) receives the 1-based round kept. `validation` may be null.
Result<std::unique_ptr<XGBoostModel>> FitXGBoost(const Dataset& train, const Dataset* validation,
                                                 const XGBoostOptions& options,
                                                 int* best_round = nullptr,
                                                 const ProgressCallback& progress = nullptr);

}  // namespace osprey::models::ml
