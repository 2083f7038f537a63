#include "models/serving/linear_model.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/serving/metadata.h"

namespace osprey::models {

namespace {

enum class Link { kIdentity, kLogistic, kSoftmax };

class LinearModel final : public ServedModel {
 public:
  LinearModel(ModelTask task, Link link, std::vector<FeatureSpec> inputs,
              std::vector<std::vector<double>> weights, std::vector<double> bias,
              std::vector<double> impute)
      : task_(task),
        link_(link),
        inputs_(std::move(inputs)),
        weights_(std::move(weights)),
        bias_(std::move(bias)),
        impute_(std::move(impute)) {}

  std::string_view kind() const override { return "linear"; }
  ModelTask task() const override { return task_; }
  const std::vector<FeatureSpec>& inputs() const override { return inputs_; }
  size_t memory_bytes() const override {
    return sizeof(*this) + weights_.size() * (inputs_.size() + 1) * sizeof(double);
  }

  Result<std::vector<Prediction>> Predict(std::span<const FeatureRow> rows) const override {
    std::vector<Prediction> out(rows.size());
    std::vector<double> x(inputs_.size());
    std::vector<double> margin(weights_.size());
    for (size_t row_idx = 0; row_idx < rows.size(); ++row_idx) {
      OSPREY_RETURN_IF_ERROR(RowToNumbers(rows[row_idx], row_idx, inputs_, !impute_.empty(), x));
      if (!impute_.empty()) OSPREY_RETURN_IF_ERROR(FillMissing(impute_, row_idx, inputs_, x));
      for (size_t k = 0; k < weights_.size(); ++k) {
        double sum = bias_[k];
        for (size_t col = 0; col < x.size(); ++col) sum += weights_[k][col] * x[col];
        margin[k] = sum;
      }
      Prediction& p = out[row_idx];
      switch (link_) {
        case Link::kIdentity:
          p.score = margin[0];
          if (margin.size() > 1) p.values = margin;
          break;
        case Link::kLogistic:
          p.score = 1.0 / (1.0 + std::exp(-margin[0]));
          p.predicted_label = p.score >= 0.5 ? 1 : 0;
          break;
        case Link::kSoftmax: {
          const double top = *std::max_element(margin.begin(), margin.end());
          double total = 0;
          p.probabilities.resize(margin.size());
          for (size_t k = 0; k < margin.size(); ++k) {
            p.probabilities[k] = std::exp(margin[k] - top);
            total += p.probabilities[k];
          }
          for (double& prob : p.probabilities) prob /= total;
          const auto best = std::max_element(p.probabilities.begin(), p.probabilities.end());
          p.predicted_label = static_cast<int>(best - p.probabilities.begin());
          p.score = *best;
          break;
        }
      }
    }
    return out;
  }

 private:
  // Constant after construction
  const ModelTask task_;
  const Link link_;
  const std::vector<FeatureSpec> inputs_;
  const std::vector<std::vector<double>> weights_;  // [output][input]
  const std::vector<double> bias_;                  // [output]
  const std::vector<double> impute_;                // [input] fill for missing; empty = none
};

}  // namespace

Result<std::unique_ptr<const ServedModel>> LoadLinearModel(const ModelArtifact& artifact) {
  OSPREY_ASSIGN_OR_RETURN(ModelMetadata meta, ParseMetadata(artifact.metadata_json));
  OSPREY_ASSIGN_OR_RETURN(const std::string* file, ModelFile(artifact, meta, "model.json"));
  const std::string where = artifact.name + "/" + artifact.version + ": linear model: ";
  try {
    const nlohmann::json doc = nlohmann::json::parse(*file);
    if (!doc.is_object() || doc.value("format", "") != "osprey-linear/1") {
      return Status::Corruption(where + "\"format\" must be \"osprey-linear/1\"");
    }
    const std::string task = doc.value("task", "");
    const std::string link_name = doc.value("link", "");
    ModelTask model_task;
    Link link;
    if (task == "regression" && link_name == "identity") {
      model_task = ModelTask::kRegression;
      link = Link::kIdentity;
    } else if (task == "binary" && link_name == "logistic") {
      model_task = ModelTask::kBinary;
      link = Link::kLogistic;
    } else if (task == "multiclass" && link_name == "softmax") {
      model_task = ModelTask::kMulticlass;
      link = Link::kSoftmax;
    } else {
      return Status::Corruption(where +
                                "task/link must be regression/identity, binary/logistic "
                                "or multiclass/softmax, got " +
                                task + "/" + link_name);
    }
    if (model_task != meta.task) {
      return Status::Corruption(where + "metadata task '" + std::string(TaskName(meta.task)) +
                                "' differs from model.json's '" + task + "'");
    }
    const size_t features = meta.inputs.size();
    if (features == 0) return Status::Corruption(where + "metadata has no inputs");
    for (const FeatureSpec& in : meta.inputs) {
      if (in.type != FeatureType::kNumeric) {
        return Status::Corruption(where + "input '" + in.name + "' is not numeric");
      }
    }
    const auto weights = doc.at("weights").get<std::vector<std::vector<double>>>();
    const auto bias = doc.at("bias").get<std::vector<double>>();
    const size_t outputs = weights.size();
    if (outputs == 0 || bias.size() != outputs) {
      return Status::Corruption(where + "need one bias per weight row and at least one row");
    }
    if (link != Link::kSoftmax && outputs != 1) {
      return Status::Corruption(where + task + " needs exactly one weight row");
    }
    if (link == Link::kSoftmax && outputs < 2) {
      return Status::Corruption(where + "multiclass needs at least two weight rows");
    }
    for (size_t k = 0; k < outputs; ++k) {
      if (weights[k].size() != features) {
        return Status::Corruption(where + "weights[" + std::to_string(k) + "] has " +
                                  std::to_string(weights[k].size()) + " values for " +
                                  std::to_string(features) + " inputs");
      }
      for (double w : weights[k]) {
        if (!std::isfinite(w)) return Status::Corruption(where + "non-finite weight");
      }
      if (!std::isfinite(bias[k])) return Status::Corruption(where + "non-finite bias");
    }
    return std::unique_ptr<const ServedModel>(
        new LinearModel(model_task, link, meta.inputs, weights, bias, meta.impute));
  } catch (const std::exception& e) {
    return Status::Corruption(where + "malformed model.json: " + e.what());
  }
}

}  // namespace osprey::models
