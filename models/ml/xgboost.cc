#include "models/ml/xgboost.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <mutex>
#include <set>
#include <string>
#include <utility>

#include <xgboost/c_api.h>

namespace osprey::models::ml {

namespace {

using Eigen::Index;

// SageMaker / XGBoost parameter names accepted (besides num_round, early_stopping_rounds).
const std::set<std::string, std::less<>> kBoosterParams = {"objective",
                                                           "eta",
                                                           "learning_rate",
                                                           "max_depth",
                                                           "subsample",
                                                           "colsample_bytree",
                                                           "colsample_bylevel",
                                                           "colsample_bynode",
                                                           "min_child_weight",
                                                           "gamma",
                                                           "lambda",
                                                           "alpha",
                                                           "reg_lambda",
                                                           "reg_alpha",
                                                           "tree_method",
                                                           "num_class",
                                                           "eval_metric",
                                                           "max_delta_step",
                                                           "scale_pos_weight",
                                                           "max_bin",
                                                           "grow_policy",
                                                           "max_leaves",
                                                           "seed",
                                                           "nthread",
                                                           "base_score",
                                                           "booster",
                                                           "sketch_eps",
                                                           "refresh_leaf",
                                                           "process_type",
                                                           "num_parallel_tree",
                                                           "interaction_constraints",
                                                           "monotone_constraints",
                                                           "verbosity"};

Status XgbError(const char* what) {
  return Status::Internal(std::string("xgboost: ") + what + ": " + XGBGetLastError());
}

// XGBoost's __array_interface__ (version 3) for the row-major double matrix `x`: XGBoost reads
// the doubles in place (no float copy; converted while it builds its own structures).
std::string ArrayInterface(const Matrix& x) {
  return "{\"data\": [" + std::to_string(reinterpret_cast<uintptr_t>(x.data())) +
         ", true], \"shape\": [" + std::to_string(x.rows()) + ", " + std::to_string(x.cols()) +
         "], \"typestr\": \"<f8\", \"version\": 3}";
}

// The DMatrix construction settings: NaN is missing, `nthread` as the booster's (0 = every core).
std::string DMatrixConfig(const Hyperparameters& params) {
  auto it = params.find("nthread");
  return std::string("{\"missing\": NaN, \"nthread\": ") +
         (it != params.end() ? it->second : std::string("0")) + "}";
}

// A DMatrix owned for the scope.
class DMatrix {
 public:
  DMatrix() = default;
  ~DMatrix() {
    if (handle_ != nullptr) XGDMatrixFree(handle_);
  }
  DMatrix(const DMatrix&) = delete;
  DMatrix& operator=(const DMatrix&) = delete;

  // A DMatrix over the rows of `x` (read in place, on `params`' nthread threads), with labels `y`
  // when not null.
  Status Create(const Matrix& x, const Vector* y, const Hyperparameters& params = {}) {
    if (XGDMatrixCreateFromDense(ArrayInterface(x).c_str(), DMatrixConfig(params).c_str(),
                                 &handle_) != 0) {
      return XgbError("DMatrix");
    }
    if (y != nullptr) {
      const Eigen::VectorXf labels = y->cast<float>();
      if (XGDMatrixSetFloatInfo(handle_, "label", labels.data(),
                                static_cast<bst_ulong>(labels.size())) != 0) {
        return XgbError("labels");
      }
    }
    return Status::Ok();
  }
  DMatrixHandle get() const { return handle_; }
  // For creating functions that write a handle (call on an empty DMatrix only).
  DMatrixHandle* out() { return &handle_; }

 private:
  DMatrixHandle handle_ = nullptr;
};

// A one-batch data iterator for XGQuantileDMatrixCreateFromCallback: hands the proxy the
// dense matrix (its array interface) once per pass.
struct OneBatch {
  DMatrixHandle proxy = nullptr;
  std::string interface;
  bool done = false;
};

extern "C" void OneBatchReset(DataIterHandle handle) {
  static_cast<OneBatch*>(handle)->done = false;
}

extern "C" int OneBatchNext(DataIterHandle handle) {
  auto* it = static_cast<OneBatch*>(handle);
  if (it->done) return 0;
  it->done = true;
  return XGProxyDMatrixSetDataDense(it->proxy, it->interface.c_str()) == 0 ? 1 : 0;
}

// A QuantileDMatrix (XGBoost's pre-binned matrix for tree_method hist) over `x`, labels `y`
// when not null, binned with `ref`'s quantile cuts when `ref` is not null (else its own
// sketch). max_bin as in `params` (XGBoost's default 256).
Status CreateQuantile(const Matrix& x, const Vector* y, const Hyperparameters& params,
                      DMatrixHandle ref, DMatrixHandle* out) {
  OneBatch it;
  if (XGProxyDMatrixCreate(&it.proxy) != 0) return XgbError("proxy DMatrix");
  it.interface = ArrayInterface(x);
  auto nthread = params.find("nthread");
  auto max_bin = params.find("max_bin");
  const std::string config =
      std::string("{\"missing\": NaN, \"nthread\": ") +
      (nthread != params.end() ? nthread->second : std::string("0")) +
      ", \"max_bin\": " + (max_bin != params.end() ? max_bin->second : std::string("256")) + "}";
  const int rc = XGQuantileDMatrixCreateFromCallback(&it, it.proxy, ref, OneBatchReset,
                                                     OneBatchNext, config.c_str(), out);
  XGDMatrixFree(it.proxy);
  if (rc != 0) return XgbError("QuantileDMatrix");
  if (y != nullptr) {
    const Eigen::VectorXf labels = y->cast<float>();
    if (XGDMatrixSetFloatInfo(*out, "label", labels.data(),
                              static_cast<bst_ulong>(labels.size())) != 0) {
      return XgbError("labels");
    }
  }
  return Status::Ok();
}

// One data set's entry in XGBoosterEvalOneIter's text, e.g. "[3]\ttrain-rmse:0.41\tvalidation-
// rmse:0.52" for `name` "validation": {"rmse", 0.52}. With several metrics the last one counts
// (as in XGBoost's early stopping). value is NaN when `name` is absent or the number unreadable.
struct EvalEntry {
  std::string metric;
  double value = std::numeric_limits<double>::quiet_NaN();
};

EvalEntry ParseEval(std::string_view text, std::string_view name) {
  EvalEntry out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\t', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view field = text.substr(pos, end - pos);
    pos = end + 1;
    if (field.size() <= name.size() + 1 || !field.starts_with(name) || field[name.size()] != '-') {
      continue;
    }
    field.remove_prefix(name.size() + 1);
    const size_t colon = field.rfind(':');
    if (colon == std::string_view::npos) continue;
    out.metric = std::string(field.substr(0, colon));
    const std::string number(field.substr(colon + 1));
    char* parsed_end = nullptr;
    const double v = std::strtod(number.c_str(), &parsed_end);
    out.value = parsed_end == number.c_str() ? std::numeric_limits<double>::quiet_NaN() : v;
  }
  return out;
}

// Metrics where larger is better (XGBoost's own rule for early stopping).
bool HigherIsBetter(std::string_view metric) {
  return metric == "auc" || metric == "aucpr" || metric.starts_with("map") ||
         metric.starts_with("ndcg") || metric.starts_with("pre");
}

}  // namespace

Result<XGBoostOptions> XGBoostOptions::FromHyperparameters(
    const Hyperparameters& params, std::vector<HyperparameterProblem>* problems) {
  XGBoostOptions o;
  std::vector<HyperparameterProblem> found;
  Hyperparameters known;
  for (const auto& [k, v] : params) {
    if (k == "num_round" || k == "early_stopping_rounds" || k == "sketch_sample_rows") {
      known.emplace(k, v);
    } else if (kBoosterParams.contains(k)) {
      o.booster_params.emplace(k, v);
    } else {
      found.push_back({k, "unknown hyperparameter for xgboost"});
    }
  }
  HyperparameterReader r(known);
  r.Int("num_round", &o.num_round, 1, 1000000);
  r.Int("early_stopping_rounds", &o.early_stopping_rounds, 0, 1000000);
  int sketch_sample_rows = 0;
  r.Int("sketch_sample_rows", &sketch_sample_rows, 0, 2000000000);
  o.sketch_sample_rows = sketch_sample_rows;
  r.Finish();
  if (!params.contains("num_round")) found.push_back({"num_round", "required"});
  auto method = o.booster_params.find("tree_method");
  if (o.sketch_sample_rows > 0 && (method == o.booster_params.end() || method->second != "hist")) {
    found.push_back({"sketch_sample_rows", "needs tree_method: hist"});
  }
  found.insert(found.end(), r.problems().begin(), r.problems().end());
  // Booster settings that also go into the DMatrix's JSON settings must be plain integers.
  Hyperparameters dmatrix_settings;
  for (const char* key : {"nthread", "max_bin"}) {
    if (auto it = o.booster_params.find(key); it != o.booster_params.end()) {
      dmatrix_settings.emplace(key, it->second);
    }
  }
  HyperparameterReader dr(dmatrix_settings);
  int unused = 0;
  dr.Int("nthread", &unused, 0, 4096);
  dr.Int("max_bin", &unused, 2, 1 << 20);
  dr.Finish();
  found.insert(found.end(), dr.problems().begin(), dr.problems().end());
  for (const char* key : {"nthread", "max_bin"}) {  // SageMaker's "auto": XGBoost's default
    if (auto it = o.booster_params.find(key); it != o.booster_params.end() && it->second == "auto") {
      o.booster_params.erase(it);
    }
  }
  const ModelTask task = o.task();
  if (task == ModelTask::kMulticlass && !o.booster_params.contains("num_class")) {
    found.push_back({"num_class", "required for multi:* objectives"});
  }
  auto obj = o.booster_params.find("objective");
  if (obj != o.booster_params.end() && !obj->second.starts_with("reg:") &&
      obj->second != "binary:logistic" && obj->second != "multi:softprob" &&
      obj->second != "multi:softmax") {
    found.push_back({"objective", "supported: reg:*, binary:logistic, multi:softprob"});
  }
  if (obj != o.booster_params.end() && obj->second == "multi:softmax") {
    obj->second = "multi:softprob";  // same model; probabilities are what serving returns
  }
  if (!found.empty()) {
    if (problems != nullptr) *problems = found;
    std::string text;
    for (const auto& p : found) text += (text.empty() ? "" : "\n") + p.key + ": " + p.message;
    return Status::InvalidArgument(text);
  }
  return o;
}

ModelTask XGBoostOptions::task() const {
  auto it = booster_params.find("objective");
  if (it == booster_params.end() || it->second.starts_with("reg:")) return ModelTask::kRegression;
  if (it->second.starts_with("binary:")) return ModelTask::kBinary;
  return ModelTask::kMulticlass;
}

XGBoostModel::~XGBoostModel() {
  if (booster_ != nullptr) XGBoosterFree(booster_);
}

Result<std::unique_ptr<XGBoostModel>> XGBoostModel::Load(std::string_view bytes, ModelTask task) {
  BoosterHandle h = nullptr;
  if (XGBoosterCreate(nullptr, 0, &h) != 0) return XgbError("create");
  if (XGBoosterLoadModelFromBuffer(h, bytes.data(), static_cast<bst_ulong>(bytes.size())) != 0) {
    Status st = Status::Corruption(std::string("xgboost model: ") + XGBGetLastError());
    XGBoosterFree(h);
    return st;
  }
  return std::unique_ptr<XGBoostModel>(new XGBoostModel(h, task));
}

int XGBoostModel::rounds() const {
  MutexLock lock(&mu_);
  int out = 0;
  if (XGBoosterBoostedRounds(booster_, &out) != 0) return 0;
  return out;
}

Result<Matrix> XGBoostModel::PredictAs(const Matrix& x, const char* config,
                                       const char* what) const {
  DMatrix d;
  OSPREY_RETURN_IF_ERROR(d.Create(x, nullptr));
  MutexLock lock(&mu_);
  const bst_ulong* shape = nullptr;
  bst_ulong dim = 0;
  const float* result = nullptr;
  if (XGBoosterPredictFromDMatrix(booster_, d.get(), config, &shape, &dim, &result) != 0) {
    return XgbError(what);
  }
  const auto rows = static_cast<Index>(shape[0]);
  Index cols = 1;
  for (bst_ulong k = 1; k < dim; ++k) cols *= static_cast<Index>(shape[k]);
  Matrix out(rows, cols);
  for (Index idx = 0; idx < out.size(); ++idx) out.data()[idx] = result[idx];
  return out;
}

Result<Matrix> XGBoostModel::Predict(const Matrix& x) const {
  return PredictAs(
      x,
      R"({"type": 0, "training": false, "iteration_begin": 0, "iteration_end": 0, "strict_shape": true})",
      "predict");
}

Result<Matrix> XGBoostModel::PredictLeaves(const Matrix& x) const {
  // type 6: leaf indices; shape (rows, rounds, groups, parallel trees).
  return PredictAs(
      x,
      R"({"type": 6, "training": false, "iteration_begin": 0, "iteration_end": 0, "strict_shape": true})",
      "predict leaves");
}

Result<std::string> XGBoostModel::SaveJson() const {
  MutexLock lock(&mu_);
  bst_ulong len = 0;
  const char* buf = nullptr;
  if (XGBoosterSaveModelToBuffer(booster_, R"({"format": "json"})", &len, &buf) != 0) {
    return XgbError("save");
  }
  return std::string(buf, len);
}

Result<std::unique_ptr<XGBoostModel>> FitXGBoost(const Dataset& train, const Dataset* validation,
                                                 const XGBoostOptions& options,
                                                 XGBoostFitReport* report,
                                                 const ProgressCallback& progress) {
  if (!train.has_label) return Status::InvalidArgument("xgboost needs a label column");
  if (options.num_round < 1) return Status::InvalidArgument("num_round must be >= 1");
  if (validation != nullptr && validation->rows() == 0) validation = nullptr;
  DMatrix dtrain, dval;
  const auto n_train = static_cast<int64_t>(train.rows());
  if (options.sketch_sample_rows > 0 && options.sketch_sample_rows < n_train) {
    // Quantile cuts from an even sample (row i * rows / sketch_sample_rows), then all rows
    // binned with them.
    std::vector<size_t> rows(static_cast<size_t>(options.sketch_sample_rows));
    for (size_t i = 0; i < rows.size(); ++i) {
      rows[i] = static_cast<size_t>(static_cast<int64_t>(i) * n_train / options.sketch_sample_rows);
    }
    DMatrix dref;
    {
      const Dataset sample = train.Rows(rows);
      OSPREY_RETURN_IF_ERROR(
          CreateQuantile(sample.x, nullptr, options.booster_params, nullptr, dref.out()));
    }
    OSPREY_RETURN_IF_ERROR(
        CreateQuantile(train.x, &train.y, options.booster_params, dref.get(), dtrain.out()));
  } else {
    OSPREY_RETURN_IF_ERROR(dtrain.Create(train.x, &train.y, options.booster_params));
  }
  if (validation != nullptr) {
    OSPREY_RETURN_IF_ERROR(dval.Create(validation->x, &validation->y, options.booster_params));
  }
  DMatrixHandle cache[2] = {dtrain.get(), dval.get()};
  BoosterHandle h = nullptr;
  if (XGBoosterCreate(cache, validation != nullptr ? 2 : 1, &h) != 0) return XgbError("create");
  std::unique_ptr<XGBoostModel> model(new XGBoostModel(h, options.task()));
  if (XGBoosterSetParam(h, "verbosity", "0") != 0) return XgbError("verbosity");
  for (const auto& [k, v] : options.booster_params) {
    if (XGBoosterSetParam(h, k.c_str(), v.c_str()) != 0) {
      return Status::InvalidArgument(k + ": " + XGBGetLastError());
    }
  }
  // Evaluated each round: the validation set (early stopping, progress) and, for the report's
  // learning curve, the training rows. XGBoost caches each evaluated set's predictions and adds
  // only the new tree's (the training rows' come free from the tree updater), so evaluating
  // costs the metric plus, for the other sets, one tree's prediction. Above
  // options.curve_sample_above training rows, the curve is evaluated on an even sample.
  std::vector<const char*> names;
  std::vector<DMatrixHandle> evals;
  DMatrix dsample;
  if (report != nullptr) {
    *report = XGBoostFitReport{};
    const auto n = static_cast<int64_t>(train.rows());
    const int64_t m = options.curve_sample_rows;
    report->train_metric_rows = n;
    DMatrixHandle curve = dtrain.get();
    if (n > options.curve_sample_above && m > 0 && m < n) {
      std::vector<size_t> rows(static_cast<size_t>(m));
      for (size_t i = 0; i < rows.size(); ++i) {
        rows[i] = static_cast<size_t>(static_cast<int64_t>(i) * n / m);
      }
      const Dataset sample = train.Rows(rows);
      OSPREY_RETURN_IF_ERROR(dsample.Create(sample.x, &sample.y));
      curve = dsample.get();
      report->train_metric_rows = m;
    }
    names.push_back("train");
    evals.push_back(curve);
  }
  if (validation != nullptr) {
    names.push_back("validation");
    evals.push_back(dval.get());
  }
  double best = std::numeric_limits<double>::quiet_NaN();
  int best_iter = 0;
  bool higher_better = false;
  for (int iter = 0; iter < options.num_round; ++iter) {
    if (XGBoosterUpdateOneIter(h, iter, dtrain.get()) != 0) {
      return Status::InvalidArgument(std::string("xgboost: ") + XGBGetLastError());
    }
    double metric = std::numeric_limits<double>::quiet_NaN();
    if (!evals.empty()) {
      const char* text = nullptr;
      if (XGBoosterEvalOneIter(h, iter, evals.data(), names.data(),
                               static_cast<bst_ulong>(evals.size()), &text) != 0) {
        return XgbError("eval");
      }
      const std::string_view eval_text(text);
      if (report != nullptr) {
        const EvalEntry on_train = ParseEval(eval_text, "train");
        report->metric = on_train.metric;
        report->train_metric.push_back(on_train.value);
      }
      if (validation != nullptr) {
        const EvalEntry on_validation = ParseEval(eval_text, "validation");
        metric = on_validation.value;
        if (report != nullptr) report->validation_metric.push_back(metric);
        if (iter == 0) higher_better = HigherIsBetter(on_validation.metric);
        if (std::isnan(best) || (higher_better ? metric > best : metric < best)) {
          best = metric;
          best_iter = iter;
        }
      }
    }
    if (validation == nullptr) best_iter = iter;
    if (progress) progress(iter + 1, options.num_round, metric);
    if (options.early_stopping_rounds > 0 && validation != nullptr &&
        iter - best_iter >= options.early_stopping_rounds) {
      break;
    }
  }
  int rounds = 0;
  if (XGBoosterBoostedRounds(h, &rounds) != 0) return XgbError("rounds");
  const bool cut =
      validation != nullptr && options.early_stopping_rounds > 0 && best_iter + 1 < rounds;
  if (cut) {
    BoosterHandle sliced = nullptr;
    if (XGBoosterSlice(h, 0, best_iter + 1, 1, &sliced) != 0) return XgbError("slice");
    model = std::unique_ptr<XGBoostModel>(new XGBoostModel(sliced, options.task()));
  }
  if (report != nullptr) {
    report->best_round = best_iter + 1;
    report->rounds_run = rounds;
    report->early_stopped = cut;
  }
  return model;
}

}  // namespace osprey::models::ml
