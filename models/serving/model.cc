#include "models/serving/model.h"

#include <utility>

#include "config/base/check.h"

namespace osprey::models {

namespace {
constexpr std::pair<ModelTask, std::string_view> kTaskNames[] = {
    {ModelTask::kRegression, "regression"}, {ModelTask::kBinary, "binary"},
    {ModelTask::kMulticlass, "multiclass"}, {ModelTask::kAnomaly, "anomaly"},
    {ModelTask::kClustering, "clustering"}, {ModelTask::kProjection, "projection"},
};
}  // namespace

std::string_view TaskName(ModelTask task) {
  for (const auto& [t, name] : kTaskNames) {
    if (t == task) return name;
  }
  return "unknown";
}

std::optional<ModelTask> ParseTask(std::string_view name) {
  for (const auto& [t, n] : kTaskNames) {
    if (n == name) return t;
  }
  return std::nullopt;
}

void ModelKindRegistry::Register(std::string kind, ModelLoader loader) {
  const bool inserted = loaders_.emplace(std::move(kind), std::move(loader)).second;
  OSPREY_CHECK(inserted);
}

const ModelLoader* ModelKindRegistry::Find(std::string_view kind) const {
  auto it = loaders_.find(kind);
  return it == loaders_.end() ? nullptr : &it->second;
}

std::vector<std::string> ModelKindRegistry::kinds() const {
  std::vector<std::string> out;
  for (const auto& [kind, loader] : loaders_) out.push_back(kind);
  return out;
}

}  // namespace osprey::models
