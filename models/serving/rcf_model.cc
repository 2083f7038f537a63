#include "models/serving/rcf_model.h"

#include <string>
#include <vector>

#include "models/rcf/thresholded.h"
#include "models/serving/metadata.h"

namespace osprey::models {

namespace {

class RcfModel final : public ServedModel {
 public:
  RcfModel(std::unique_ptr<rcf::ThresholdedForest> forest, std::vector<FeatureSpec> inputs)
      : forest_(std::move(forest)), inputs_(std::move(inputs)) {}

  std::string_view kind() const override { return "rcf"; }
  ModelTask task() const override { return ModelTask::kAnomaly; }
  const std::vector<FeatureSpec>& inputs() const override { return inputs_; }
  size_t memory_bytes() const override { return forest_->MemoryBytes(); }

  Result<std::vector<Prediction>> Predict(std::span<const FeatureRow> rows) const override {
    std::vector<Prediction> out(rows.size());
    std::vector<double> x(inputs_.size());
    for (size_t row_idx = 0; row_idx < rows.size(); ++row_idx) {
      OSPREY_RETURN_IF_ERROR(RowToNumbers(rows[row_idx], row_idx, inputs_, false, x));
      Result<rcf::AnomalyDescriptor> d = forest_->Peek(x);
      if (!d.ok()) {
        return Status::InvalidArgument("row " + std::to_string(row_idx) + ": " +
                                       d.status().message());
      }
      Prediction& p = out[row_idx];
      p.score = d->score;
      p.values = d->attribution;
      p.extra["grade"] = d->grade;
      p.extra["threshold"] = d->threshold;
      p.extra["confidence"] = d->confidence;
    }
    return out;
  }

 private:
  // Constant after construction
  const std::unique_ptr<rcf::ThresholdedForest> forest_;  // only const methods are called
  const std::vector<FeatureSpec> inputs_;
};

}  // namespace

Result<std::unique_ptr<const ServedModel>> LoadRcfModel(const ModelArtifact& artifact) {
  OSPREY_ASSIGN_OR_RETURN(ModelMetadata meta, ParseMetadata(artifact.metadata_json));
  OSPREY_ASSIGN_OR_RETURN(const std::string* file, ModelFile(artifact, meta, "model.bin"));
  const std::string where = artifact.name + "/" + artifact.version + ": rcf model: ";
  if (meta.task != ModelTask::kAnomaly) {
    return Status::InvalidArgument(where + "task must be anomaly");
  }
  Result<std::unique_ptr<rcf::ThresholdedForest>> forest = rcf::ThresholdedForest::Load(*file);
  if (!forest.ok()) return Status::Corruption(where + forest.status().message());
  const int dim = (*forest)->forest().input_dim();
  std::vector<FeatureSpec> inputs = meta.inputs;
  if (inputs.empty()) {
    for (int col = 0; col < dim; ++col)
      inputs.push_back({std::string("v").append(std::to_string(col))});
  }
  if (static_cast<int>(inputs.size()) != dim) {
    return Status::InvalidArgument(where + "metadata lists " + std::to_string(inputs.size()) +
                                   " inputs, the forest takes " + std::to_string(dim));
  }
  return std::unique_ptr<const ServedModel>(new RcfModel(std::move(*forest), std::move(inputs)));
}

}  // namespace osprey::models
