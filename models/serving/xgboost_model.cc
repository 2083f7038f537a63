#include "models/serving/xgboost_model.h"

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <xgboost/c_api.h>

#include "models/serving/metadata.h"

namespace osprey::models {

namespace {

std::string LastError() {
  const char* msg = XGBGetLastError();
  return msg != nullptr ? msg : "unknown libxgboost error";
}

class XgboostModel final : public ServedModel {
 public:
  XgboostModel(BoosterHandle booster, ModelTask task, std::vector<FeatureSpec> inputs, size_t bytes)
      : booster_(booster), task_(task), inputs_(std::move(inputs)), bytes_(bytes) {}
  ~XgboostModel() override { XGBoosterFree(booster_); }
  XgboostModel(const XgboostModel&) = delete;
  XgboostModel& operator=(const XgboostModel&) = delete;

  std::string_view kind() const override { return "xgboost"; }
  ModelTask task() const override { return task_; }
  const std::vector<FeatureSpec>& inputs() const override { return inputs_; }
  size_t memory_bytes() const override { return bytes_; }

  // Raw predictions, row-major [rows][groups].
  Result<std::vector<float>> Raw(std::span<const FeatureRow> rows, size_t* groups) const {
    const size_t cols = inputs_.size();
    std::vector<double> scratch(cols);
    std::vector<float> dense(rows.size() * cols);
    for (size_t row_idx = 0; row_idx < rows.size(); ++row_idx) {
      OSPREY_RETURN_IF_ERROR(RowToNumbers(rows[row_idx], row_idx, inputs_, true, scratch));
      for (size_t col = 0; col < cols; ++col) {
        dense[row_idx * cols + col] = static_cast<float>(scratch[col]);
      }
    }
    const std::string array = "{\"data\":[" +
                              std::to_string(reinterpret_cast<uintptr_t>(dense.data())) +
                              ",true],\"shape\":[" + std::to_string(rows.size()) + "," +
                              std::to_string(cols) + "],\"typestr\":\"<f4\",\"version\":3}";
    static constexpr char kConfig[] =
        R"({"type":0,"training":false,"iteration_begin":0,"iteration_end":0,"cache_id":0,)"
        R"("strict_shape":true,"missing":NaN})";
    const bst_ulong* shape = nullptr;
    bst_ulong dim = 0;
    const float* result = nullptr;
    if (XGBoosterPredictFromDense(booster_, array.c_str(), kConfig, nullptr, &shape, &dim,
                                  &result) != 0) {
      return Status::Internal("xgboost prediction failed: " + LastError());
    }
    if (dim != 2 || shape[0] != rows.size()) {
      return Status::Internal("xgboost returned an unexpected prediction shape");
    }
    *groups = shape[1];
    return std::vector<float>(result, result + shape[0] * shape[1]);
  }

  Result<std::vector<Prediction>> Predict(std::span<const FeatureRow> rows) const override {
    std::vector<Prediction> out(rows.size());
    if (rows.empty()) return out;
    size_t groups = 0;
    OSPREY_ASSIGN_OR_RETURN(std::vector<float> raw, Raw(rows, &groups));
    for (size_t row_idx = 0; row_idx < rows.size(); ++row_idx) {
      Prediction& p = out[row_idx];
      const float* r = raw.data() + row_idx * groups;
      if (groups > 1) {
        p.probabilities.assign(r, r + groups);
        size_t best = 0;
        for (size_t k = 1; k < groups; ++k) {
          if (r[k] > r[best]) best = k;
        }
        p.predicted_label = static_cast<int>(best);
        p.score = r[best];
        continue;
      }
      p.score = r[0];
      if (task_ == ModelTask::kBinary) p.predicted_label = p.score >= 0.5 ? 1 : 0;
      if (task_ == ModelTask::kMulticlass) p.predicted_label = static_cast<int>(p.score);
    }
    return out;
  }

 private:
  // Constant after construction
  BoosterHandle booster_;  // owned
  const ModelTask task_;
  const std::vector<FeatureSpec> inputs_;
  const size_t bytes_;
};

}  // namespace

Result<std::unique_ptr<const ServedModel>> LoadXgboostModel(const ModelArtifact& artifact) {
  OSPREY_ASSIGN_OR_RETURN(ModelMetadata meta, ParseMetadata(artifact.metadata_json));
  std::string fallback = artifact.files.count("model.ubj") != 0 ? "model.ubj" : "model.json";
  OSPREY_ASSIGN_OR_RETURN(const std::string* file, ModelFile(artifact, meta, fallback));
  const std::string where = artifact.name + "/" + artifact.version + ": xgboost model: ";
  if (meta.task != ModelTask::kRegression && meta.task != ModelTask::kBinary &&
      meta.task != ModelTask::kMulticlass) {
    return Status::InvalidArgument(where + "task must be regression, binary or multiclass");
  }
  BoosterHandle booster = nullptr;
  if (XGBoosterCreate(nullptr, 0, &booster) != 0) {
    return Status::Internal(where + "cannot create a booster: " + LastError());
  }
  struct Free {
    void operator()(void* handle) const { XGBoosterFree(handle); }
  };
  std::unique_ptr<void, Free> owned(booster);
  if (XGBoosterLoadModelFromBuffer(booster, file->data(), file->size()) != 0) {
    return Status::Corruption(where + "libxgboost cannot load it: " + LastError());
  }
  // One thread per call: requests already run concurrently on the HTTP threads.
  if (XGBoosterSetParam(booster, "nthread", "1") != 0) {
    return Status::Internal(where + "cannot set nthread: " + LastError());
  }
  bst_ulong features = 0;
  if (XGBoosterGetNumFeature(booster, &features) != 0) {
    return Status::Corruption(where + "cannot read the feature count: " + LastError());
  }
  std::vector<FeatureSpec> inputs = meta.inputs;
  if (inputs.empty()) {
    for (bst_ulong col = 0; col < features; ++col)
      inputs.push_back({std::string("f").append(std::to_string(col))});
  }
  for (const FeatureSpec& in : inputs) {
    if (in.type != FeatureType::kNumeric) {
      return Status::InvalidArgument(where + "input '" + in.name + "' is not numeric");
    }
  }
  if (inputs.size() != features) {
    return Status::InvalidArgument(where + "metadata lists " + std::to_string(inputs.size()) +
                                   " inputs, the model has " + std::to_string(features) +
                                   " features");
  }
  auto model = std::make_unique<XgboostModel>(static_cast<BoosterHandle>(owned.release()),
                                              meta.task, std::move(inputs), file->size() * 2);
  // Warm-up: configures the learner now, not in a concurrent first request.
  FeatureRow zeros(features, FeatureValue(0.0));
  auto warm = model->Predict(std::span<const FeatureRow>(&zeros, 1));
  if (!warm.ok()) return Status::Corruption(where + warm.status().message());
  return std::unique_ptr<const ServedModel>(std::move(model));
}

}  // namespace osprey::models
