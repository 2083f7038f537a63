// The served-model interface: what the model registry loads and the scoring API calls. Every
// model kind (RCF snapshot, XGBoost, linear learner, and the trainer's k-means, PCA, ...)
// implements ServedModel and registers a loader in a ModelKindRegistry. Loaders take bytes, not
// paths: models/ does no I/O; the daemon's registry reads the files (see REGISTRY.md here).
// ServedModel is immutable after loading and thread-safe: Predict may run concurrently.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "config/base/status.h"

namespace osprey::models {

// One raw input value as a client sends it: missing, a number, or a string (categorical or text
// features; a numeric feature given as a string is parsed by the model's preprocessing).
using FeatureValue = std::variant<std::monostate, double, std::string>;

// One instance: values in the order of the model's input schema (ServedModel::inputs()).
using FeatureRow = std::vector<FeatureValue>;

enum class FeatureType { kNumeric, kCategorical, kText };

struct FeatureSpec {
  std::string name;
  FeatureType type = FeatureType::kNumeric;
};

// The output for one instance. Which fields are set depends on the model's task:
//   regression:  score = predicted value
//   binary:      score = P(label = 1), predicted_label = 0/1
//   multiclass:  probabilities[k], predicted_label = argmax, score = probabilities[label]
//   anomaly:     score = anomaly score (RCF: inliers ~0.6-1, outliers 2-4); extra may hold grade;
//                values may hold the per-input attribution
//   clustering:  predicted_label = closest cluster, score = distance to it
//   projection:  values = projection (PCA components), score = values[0]
struct Prediction {
  double score = 0.0;
  std::optional<int> predicted_label;
  std::vector<double> probabilities;
  std::vector<double> values;
  // Named extras, e.g. {"grade": 0.7}; serialised as extra JSON fields by the API.
  std::map<std::string, double> extra;
};

enum class ModelTask { kRegression, kBinary, kMulticlass, kAnomaly, kClustering, kProjection };

std::string_view TaskName(ModelTask task);
std::optional<ModelTask> ParseTask(std::string_view name);

class ServedModel {
 public:
  virtual ~ServedModel() = default;

  // "rcf", "xgboost", "linear", "kmeans", "pca", ...: the metadata's "kind".
  virtual std::string_view kind() const = 0;
  virtual ModelTask task() const = 0;
  // The raw input columns a request must supply, in order. A request may give them by name
  // (JSON object) or by position (CSV row / JSON array).
  virtual const std::vector<FeatureSpec>& inputs() const = 0;
  // One Prediction per row, in order. An invalid row (wrong arity, a string where a number is
  // needed and cannot be parsed) fails the whole call with InvalidArgument naming the row
  // (0-based) and column. Thread-safe.
  virtual Result<std::vector<Prediction>> Predict(std::span<const FeatureRow> rows) const = 0;
  // Bytes this model holds in memory (approximate), for /metrics.
  virtual size_t memory_bytes() const = 0;
};

// What a loader gets: the parsed-enough metadata and the artifact's files' contents.
struct ModelArtifact {
  std::string name;
  std::string version;
  std::string kind;
  // metadata.json as text; loaders may read their own fields from it.
  std::string metadata_json;
  // File name (relative to the version directory) -> contents, for every regular file in it
  // other than metadata.json.
  std::map<std::string, std::string> files;
};

using ModelLoader =
    std::function<Result<std::unique_ptr<const ServedModel>>(const ModelArtifact& artifact)>;

// kind -> loader. Thread-compatible: register at start-up, then only Find.
class ModelKindRegistry {
 public:
  // REQUIRES: `kind` not registered yet.
  void Register(std::string kind, ModelLoader loader);
  // nullptr if unknown.
  const ModelLoader* Find(std::string_view kind) const;
  std::vector<std::string> kinds() const;

 private:
  std::map<std::string, ModelLoader, std::less<>> loaders_;
};

}  // namespace osprey::models
