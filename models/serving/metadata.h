// The fields of a registry artifact's metadata.json (REGISTRY.md) that loaders and the scoring
// API need, and the conversion of request rows to numbers shared by the numeric model kinds.
// Pure functions; thread-safe.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/base/status.h"
#include "models/serving/model.h"

namespace osprey::models {

struct ModelMetadata {
  int format_version = 1;
  std::string name;
  std::string version;
  std::string kind;
  ModelTask task = ModelTask::kRegression;
  // The main file, relative to the version directory. Empty if the metadata has none.
  std::string model_file;
  std::vector<FeatureSpec> inputs;
  // label.classes, when the model is a classifier with named classes.
  std::vector<std::string> classes;
  // preprocessing.impute: the value that replaces a missing input, one per input (NaN = none:
  // a missing value there is an error). Empty when the metadata has none.
  std::vector<double> impute;
};

// InvalidArgument naming the field when metadata.json is not a JSON object, format_version is
// not 1, kind or task is missing or unknown, or inputs or preprocessing.impute is malformed.
Result<ModelMetadata> ParseMetadata(std::string_view json);

// Writes row `row_idx`'s values as numbers into out[0..inputs.size()). A string is parsed as a
// number; a missing value becomes NaN when `allow_missing`, an error otherwise.
// InvalidArgument naming the row (0-based) and column on a wrong arity or a bad value.
// REQUIRES: out.size() >= inputs.size().
Status RowToNumbers(const FeatureRow& row, size_t row_idx, const std::vector<FeatureSpec>& inputs,
                    bool allow_missing, std::span<double> out);

// The artifact's model file: metadata.model_file if set, else `fallback`. NotFound naming the
// model, version and file when it is not among artifact.files.
// Replaces NaN in out[i] by impute[i] (when impute is non-empty); InvalidArgument naming the row
// and column for a missing value without a fill. REQUIRES: impute empty or impute.size() ==
// inputs.size() <= out.size().
Status FillMissing(const std::vector<double>& impute, size_t row_idx,
                   const std::vector<FeatureSpec>& inputs, std::span<double> out);

Result<const std::string*> ModelFile(const ModelArtifact& artifact, const ModelMetadata& metadata,
                                     std::string_view fallback);

}  // namespace osprey::models
