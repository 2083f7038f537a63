// FeaturePipeline: the trainer's feature engineering (issue 7 §4), fitted on the training rows
// and saved with the model, then applied identically at serving time. A pipeline is a list of
// steps (config/feature_options.h: standardize, log, power, polynomial, bin, cross, quadratic,
// one_hot, text (TF-IDF), tree_leaves, drop) over a Frame of named columns (numeric,
// categorical or text); after the last step every column must be numeric, and those columns,
// in order, are the model's inputs. Missing values flow through: numeric NaN stays NaN (the
// trainer's imputer fills it afterwards), a missing category or text gives all-zero columns.
// Serialised as JSON "osprey-features/1" (pipeline.json in the model's registry directory).
// Thread-compatible: a fitted pipeline's const methods may be called concurrently.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/base/json_writer.h"
#include "config/base/status.h"
#include "config/feature_options.h"
#include "models/ml/dataset.h"
#include "models/serving/model.h"

namespace osprey::models::ml::features {

inline constexpr const char* kPipelineFile = "pipeline.json";
inline constexpr const char* kPipelineFormat = "osprey-features/1";

struct FrameColumn {
  std::string name;
  FeatureType type = FeatureType::kNumeric;
  std::vector<double> numbers;                      // kNumeric: one per row, NaN = missing
  std::vector<std::optional<std::string>> strings;  // kCategorical / kText: nullopt = missing
};

// A table of named columns, all of `rows` rows.
struct Frame {
  size_t rows = 0;
  std::vector<FrameColumn> columns;
  // Index of the column named `name`, or -1.
  int Find(std::string_view name) const;
};

// Numeric columns as numbers, categorical and text columns as their strings.
Frame FrameFromDataset(const Dataset& data);
// Request rows in the order of `inputs`. Numbers and numeric strings go to numeric columns
// (other strings are an error naming the row and column, missing tokens are NaN); numbers sent
// for categorical or text columns become their shortest decimal text. Errors number rows from
// `first_row` (for callers that pass a request in parts).
Result<Frame> FrameFromRows(std::span<const FeatureRow> rows, const std::vector<FeatureSpec>& inputs,
                            size_t first_row = 0);

// One fitted step. Implementations are in pipeline.cc.
class FeatureStep {
 public:
  virtual ~FeatureStep() = default;
  virtual std::string_view name() const = 0;
  // Learns its parameters from the training frame (`label` one per row, or null).
  virtual Status Fit(const Frame& train, const Vector* label) = 0;
  // Rewrites `frame` (columns replaced, added or removed). Errors only for a frame whose
  // columns do not match the fitted ones.
  virtual Status Transform(Frame* frame) const = 0;
  // The fitted parameters, as members of the step's JSON object (after its "step" member).
  virtual void Save(JsonWriter& j) const = 0;
};

class FeaturePipeline {
 public:
  FeaturePipeline();
  ~FeaturePipeline();
  FeaturePipeline(FeaturePipeline&&) noexcept;
  FeaturePipeline& operator=(FeaturePipeline&&) noexcept;

  // Fits every step in order on `train` (each step sees the previous steps' output).
  // Errors: a named column that does not exist or has the wrong type, a step's bad options,
  // or a column that is not numeric at the end; each names the step (1-based) and the column.
  static Result<FeaturePipeline> Fit(const std::vector<config::FeatureStepOptions>& steps,
                                     const Frame& train, const Vector* label);

  // Raw columns -> the model's numeric inputs (rows x outputs().size(), NaN = missing).
  // REQUIRES: `raw` has the columns of inputs(), in order, with their types.
  Result<Matrix> Transform(Frame raw) const;
  // Transform of a whole Dataset, keeping its labels: a numeric Dataset named by outputs().
  Result<Dataset> TransformDataset(const Dataset& raw) const;

  // JSON "osprey-features/1": {"format", "inputs": [{name, type}], "outputs": [names],
  // "steps": [{"step": kind, ...fitted parameters}]}.
  std::string ToJson() const;
  static Result<FeaturePipeline> FromJson(std::string_view json);

  // The raw columns the pipeline reads, and the numeric columns it produces, in order.
  const std::vector<FeatureSpec>& inputs() const { return inputs_; }
  const std::vector<std::string>& outputs() const { return outputs_; }
  size_t steps() const { return steps_.size(); }

 private:
  std::vector<FeatureSpec> inputs_;
  std::vector<std::string> outputs_;
  std::vector<std::unique_ptr<FeatureStep>> steps_;
};

}  // namespace osprey::models::ml::features
