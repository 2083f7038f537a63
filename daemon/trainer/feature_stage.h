// The trainer's feature stage: fits the train file's `features` pipeline
// (models/ml/features/pipeline.h) on the training split, replaces the three splits by their
// numeric transforms (before the imputer, which then fills the pipeline's outputs) and keeps
// what publishing needs: pipeline.json, the raw input schema and the raw test rows (so that
// --predictions-out holds what a client would send).
// Thread-compatible: each call runs on the caller's thread.
#pragma once

#include <string>
#include <vector>

#include "config/base/status.h"
#include "config/train_options.h"
#include "models/ml/dataset.h"
#include "models/ml/features/pipeline.h"
#include "models/ml/prepare.h"

namespace osprey::daemon::trainer {

struct FeatureStage {
  std::string pipeline_json;                // empty = no pipeline
  std::vector<models::FeatureSpec> inputs;  // the raw columns
  models::ml::Dataset raw_test;             // the test split before the pipeline
};

// No-op (empty pipeline_json) when cfg.features is empty. Errors name the step's file:line.
Result<FeatureStage> ApplyFeatures(const config::TrainConfig& cfg, models::ml::Dataset* train,
                                   models::ml::Dataset* validation, models::ml::Dataset* test);

// metadata "inputs" entry type word for a raw column.
std::string_view InputTypeName(models::FeatureType type);

// `rows` as CSV cells: numbers at full precision, categories and text RFC 4180-quoted when
// needed, missing values empty; one vector per row.
std::vector<std::vector<std::string>> RawCells(const models::ml::Dataset& rows);

// The names of `inputs`' categorical and text columns, for the data parsers (as "x<k>", k
// 1-based, when `positional`: CSV without a header).
void StringColumns(const std::vector<models::FeatureSpec>& inputs,
                   std::vector<std::string>* categorical, std::vector<std::string>* text,
                   bool positional);

}  // namespace osprey::daemon::trainer
