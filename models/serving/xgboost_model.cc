#include "models/serving/xgboost_model.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <xgboost/c_api.h>

#include "models/serving/metadata.h"

namespace osprey::models {

namespace {

std::string LastError() {
  const char* msg = XGBGetLastError();
  return msg != nullptr ? msg : "unknown libxgboost error";
}

// The trees of a plain gbtree model (numeric splits, one output per group), evaluated here as
// XGBoost's CPU predictor does (float features and sums; x < split goes left; missing takes
// the default direction). libxgboost's in-place prediction costs tens of microseconds of fixed
// overhead per call (configuration parsing, a proxy DMatrix, cgroup CPU-count file reads);
// this path does a one-row request in well under a microsecond per tree. Models it cannot
// express (dart, gblinear, categorical splits, unknown objectives) use libxgboost.
class NativeTrees {
 public:
  enum class Transform { kIdentity, kSigmoid, kExp, kSoftmax, kArgmax };

  // nullopt when the model is outside what this evaluator covers.
  static std::optional<NativeTrees> FromJson(const std::string& json,
                                             std::vector<std::string>* feature_names) {
    try {
      const nlohmann::json doc = nlohmann::json::parse(json);
      const nlohmann::json& learner = doc.at("learner");
      if (learner.contains("feature_names")) {
        *feature_names = learner["feature_names"].get<std::vector<std::string>>();
      }
      const nlohmann::json& booster = learner.at("gradient_booster");
      if (booster.at("name") != "gbtree") return std::nullopt;
      const nlohmann::json& param = learner.at("learner_model_param");
      NativeTrees t;
      const int num_class = std::stoi(param.at("num_class").get<std::string>());
      if (param.contains("num_target") && std::stoi(param["num_target"].get<std::string>()) != 1) {
        return std::nullopt;
      }
      t.groups_ = std::max(1, num_class);
      const float base = std::stof(param.at("base_score").get<std::string>());
      const std::string objective = learner.at("objective").at("name");
      if (objective == "reg:squarederror" || objective == "reg:squaredlogerror" ||
          objective == "reg:pseudohubererror" || objective == "reg:absoluteerror" ||
          objective == "binary:logitraw" || objective == "reg:linear") {
        t.transform_ = Transform::kIdentity;
        t.base_margin_ = base;
      } else if (objective == "binary:logistic" || objective == "reg:logistic") {
        if (!(base > 0 && base < 1)) return std::nullopt;
        t.transform_ = Transform::kSigmoid;
        t.base_margin_ = -std::log(1.0f / base - 1.0f);
      } else if (objective == "count:poisson" || objective == "reg:gamma" ||
                 objective == "reg:tweedie") {
        if (!(base > 0)) return std::nullopt;
        t.transform_ = Transform::kExp;
        t.base_margin_ = std::log(base);
      } else if (objective == "multi:softprob") {
        t.transform_ = Transform::kSoftmax;
        t.base_margin_ = base;
      } else if (objective == "multi:softmax") {
        t.transform_ = Transform::kArgmax;
        t.base_margin_ = base;
      } else {
        return std::nullopt;
      }
      const nlohmann::json& model = booster.at("model");
      const auto tree_info = model.at("tree_info").get<std::vector<int>>();
      const nlohmann::json& trees = model.at("trees");
      if (tree_info.size() != trees.size()) return std::nullopt;
      for (size_t idx = 0; idx < trees.size(); ++idx) {
        const nlohmann::json& tree = trees[idx];
        if (tree_info[idx] < 0 || tree_info[idx] >= t.groups_) return std::nullopt;
        const auto left = tree.at("left_children").get<std::vector<int>>();
        const auto right = tree.at("right_children").get<std::vector<int>>();
        const auto index = tree.at("split_indices").get<std::vector<int>>();
        const auto cond = tree.at("split_conditions").get<std::vector<float>>();
        std::vector<int> default_left;
        for (const auto& d : tree.at("default_left")) {
          default_left.push_back(d.is_boolean() ? static_cast<int>(d.get<bool>()) : d.get<int>());
        }
        if (tree.contains("split_type")) {
          for (const auto& st : tree["split_type"]) {
            if (st.get<int>() != 0) return std::nullopt;  // categorical split
          }
        }
        const size_t n = left.size();
        if (n == 0 || right.size() != n || index.size() != n || cond.size() != n ||
            default_left.size() != n) {
          return std::nullopt;
        }
        t.roots_.push_back(static_cast<int32_t>(t.nodes_.size()));
        t.tree_group_.push_back(tree_info[idx]);
        const auto offset = static_cast<int32_t>(t.nodes_.size());
        for (size_t node = 0; node < n; ++node) {
          Node out;
          if (left[node] < 0) {
            out.leaf = true;
            out.value = cond[node];
          } else {
            if (left[node] >= static_cast<int>(n) || right[node] >= static_cast<int>(n) ||
                right[node] < 0 || index[node] < 0) {
              return std::nullopt;
            }
            out.left = offset + left[node];
            out.right = offset + right[node];
            out.feature = index[node];
            out.value = cond[node];
            out.default_left = default_left[node] != 0;
            t.max_feature_ = std::max(t.max_feature_, index[node]);
          }
          t.nodes_.push_back(out);
        }
      }
      return t;
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }

  int groups() const { return groups_; }
  int max_feature() const { return max_feature_; }

  // Writes `groups()` outputs for one row of float features (NaN = missing).
  void Predict(const float* x, float* out) const {
    for (int g = 0; g < groups_; ++g) out[g] = base_margin_;
    for (size_t tree = 0; tree < roots_.size(); ++tree) {
      const Node* node = &nodes_[roots_[tree]];
      while (!node->leaf) {
        const float v = x[node->feature];
        const int32_t next = std::isnan(v) ? (node->default_left ? node->left : node->right)
                                           : (v < node->value ? node->left : node->right);
        node = &nodes_[next];
      }
      out[tree_group_[tree]] += node->value;
    }
    switch (transform_) {
      case Transform::kIdentity:
        break;
      case Transform::kSigmoid:
        out[0] = 1.0f / (1.0f + std::exp(-out[0]));
        break;
      case Transform::kExp:
        out[0] = std::exp(out[0]);
        break;
      case Transform::kSoftmax: {
        const float top = *std::max_element(out, out + groups_);
        float total = 0;
        for (int g = 0; g < groups_; ++g) {
          out[g] = std::exp(out[g] - top);
          total += out[g];
        }
        for (int g = 0; g < groups_; ++g) out[g] /= total;
        break;
      }
      case Transform::kArgmax: {
        const float* best = std::max_element(out, out + groups_);
        out[0] = static_cast<float>(best - out);
        break;
      }
    }
  }
  // Outputs per row after Predict: 1 for kArgmax, else groups().
  int outputs() const { return transform_ == Transform::kArgmax ? 1 : groups_; }

 private:
  struct Node {
    int32_t left = -1;
    int32_t right = -1;
    int32_t feature = 0;
    float value = 0;  // split condition, or the leaf value
    bool leaf = false;
    bool default_left = false;
  };

  std::vector<Node> nodes_;
  std::vector<int32_t> roots_;
  std::vector<int> tree_group_;
  int groups_ = 1;
  int max_feature_ = -1;
  float base_margin_ = 0;
  Transform transform_ = Transform::kIdentity;
};

class XgboostModel final : public ServedModel {
 public:
  XgboostModel(BoosterHandle booster, ModelTask task, std::vector<FeatureSpec> inputs, size_t bytes,
               std::optional<NativeTrees> native)
      : booster_(booster),
        task_(task),
        inputs_(std::move(inputs)),
        bytes_(bytes),
        native_(std::move(native)) {}
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
    if (native_) {
      const size_t groups_out = static_cast<size_t>(native_->outputs());
      std::vector<float> out(rows.size() * groups_out);
      std::vector<float> scratch_out(static_cast<size_t>(native_->groups()));
      for (size_t row_idx = 0; row_idx < rows.size(); ++row_idx) {
        native_->Predict(dense.data() + row_idx * cols, scratch_out.data());
        std::copy_n(scratch_out.begin(), groups_out, out.begin() + row_idx * groups_out);
      }
      *groups = groups_out;
      return out;
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
  const std::optional<NativeTrees> native_;
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
  // The trees as JSON (whatever the file's format) for the native evaluator.
  std::optional<NativeTrees> native;
  std::vector<std::string> feature_names;
  bst_ulong json_len = 0;
  const char* json = nullptr;
  if (XGBoosterSaveModelToBuffer(booster, R"({"format":"json"})", &json_len, &json) == 0) {
    native = NativeTrees::FromJson(std::string(json, json_len), &feature_names);
    if (native && native->max_feature() >= static_cast<int>(features)) native.reset();
  }
  std::vector<FeatureSpec> inputs = meta.inputs;
  if (inputs.empty() && feature_names.size() == features) {
    for (const std::string& name : feature_names) inputs.push_back({name});
  }
  if (inputs.empty()) {
    for (bst_ulong col = 0; col < features; ++col) {
      inputs.push_back({std::string("f").append(std::to_string(col))});
    }
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
  auto model =
      std::make_unique<XgboostModel>(static_cast<BoosterHandle>(owned.release()), meta.task,
                                     std::move(inputs), file->size() * 2, std::move(native));
  // Warm-up: configures the learner now, not in a concurrent first request.
  FeatureRow zeros(features, FeatureValue(0.0));
  auto warm = model->Predict(std::span<const FeatureRow>(&zeros, 1));
  if (!warm.ok()) return Status::Corruption(where + warm.status().message());
  return std::unique_ptr<const ServedModel>(std::move(model));
}

}  // namespace osprey::models
