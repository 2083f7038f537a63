// The "xgboost" model kind: a gradient-boosted-trees model in XGBoost's own JSON or UBJ format
// (Booster.save_model("model.json" | "model.ubj") in Python's xgboost), served through
// libxgboost's C API with in-place dense prediction. Inputs are the metadata's numeric `inputs`
// in the model's feature order (the model's feature_names, else f0, f1, ... when the metadata
// lists none); missing values are passed as missing (NaN). Plain gbtree models with numeric
// splits and a common objective are evaluated natively (the same float arithmetic as XGBoost's
// CPU predictor; libxgboost's per-call overhead dominates small requests); the rest (dart,
// gblinear, categorical splits, other objectives) go through libxgboost. Output by task: regression
// = the prediction, binary = P(1) with label P>=0.5, multiclass = the per-class probabilities
// (multi:softprob) or the class (multi:softmax). Immutable after loading; thread-safe (XGBoost
// >= 1.4 documents in-place prediction on one Booster as thread-safe; the loader runs one
// prediction first so the learner is configured before any concurrent call).
#pragma once

#include <memory>

#include "config/base/status.h"
#include "models/serving/model.h"

namespace osprey::models {

// ModelLoader for kind "xgboost". Corruption with libxgboost's message when the file does not
// load; InvalidArgument when the metadata's inputs do not match the model's feature count.
Result<std::unique_ptr<const ServedModel>> LoadXgboostModel(const ModelArtifact& artifact);

}  // namespace osprey::models
