// The trainer's models as ServedModels for the daemon's registry (models/serving/model.h):
// `kmeans` (closest_cluster -> Prediction.predicted_label, distance_to_cluster -> score) and
// `pca` (projection -> Prediction.values, score = values[0]), each in a versioned binary file
// `model.bin` (config/base/bytes.h) holding the input names, the fill value per input (the
// fitted imputation, NaN = a missing value is an error) and the parameters. Linear learner and
// XGBoost models are served by models/serving's `linear` and `xgboost` kinds
// (models/serving/builtin_kinds.h registers every kind, these included).
// Thread-safe: loaded models are immutable; Predict may run concurrently.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "config/base/status.h"
#include "models/ml/kmeans.h"
#include "models/ml/linear_learner.h"
#include "models/ml/pca.h"
#include "models/ml/xgboost.h"
#include "models/serving/model.h"

namespace osprey::models::ml {

// The file name the trainer writes for kmeans and pca.
inline constexpr const char* kBinaryModelFile = "model.bin";
inline constexpr const char* kLinearModelFile = "model.json";

// `inputs` names the raw columns (in order); `fill` has one value per input (NaN = none).
// REQUIRES: inputs.size() == fill.size() == the model's number of features.
std::string SaveKMeans(const KMeansModel& model, const std::vector<FeatureSpec>& inputs,
                       const std::vector<double>& fill);
std::string SavePca(const PcaModel& model, const std::vector<FeatureSpec>& inputs,
                    const std::vector<double>& fill);

// Loaders (ModelLoader signatures). They read the file named by metadata "model_file", or the
// default name above when absent.
Result<std::unique_ptr<const ServedModel>> LoadKMeansModel(const ModelArtifact& artifact);
Result<std::unique_ptr<const ServedModel>> LoadPcaModel(const ModelArtifact& artifact);

// Registers `kmeans` and `pca`. REQUIRES: neither registered yet.
void RegisterModelKinds(ModelKindRegistry& registry);

// Converts request rows to a matrix: numbers as is, numeric strings parsed, missing values
// replaced by fill[col] (an error when fill[col] is NaN). Errors name the row (0-based) and
// column; with `missing_as_nan`, a missing value without a fill stays NaN instead.
Result<Matrix> RowsToMatrix(std::span<const FeatureRow> rows,
                            const std::vector<FeatureSpec>& inputs, const std::vector<double>& fill,
                            bool missing_as_nan = false);

}  // namespace osprey::models::ml
