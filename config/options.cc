#include "config/options.h"

#include <algorithm>
#include <cmath>

namespace osprey::config {

std::string SourceLocation::ToString() const {
  if (line <= 0) return file;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

int HttpLimitOptions::EffectiveBurst() const {
  if (burst > 0) return burst;
  return std::max(1, static_cast<int>(std::ceil(requests_per_second)));
}

namespace {
template <typename T>
const T* FindByName(const std::vector<T>& items, const std::string& name) {
  for (const auto& item : items) {
    if (item.name == name) return &item;
  }
  return nullptr;
}
}  // namespace

const SourceOptions* DaemonConfig::FindSource(const std::string& name) const {
  return FindByName(sources, name);
}
const SinkOptions* DaemonConfig::FindSink(const std::string& name) const {
  return FindByName(sinks, name);
}
const PipelineOptions* DaemonConfig::FindPipeline(const std::string& name) const {
  return FindByName(pipelines, name);
}

}  // namespace osprey::config
