#include "operators/baseline_operator.h"

#include "config/base/json_writer.h"

namespace osprey::operators {

BaselineOperator::BaselineOperator(const config::OperatorOptions& options)
    : name_(options.name), options_(options.baseline) {}

BaselineOperator::KeyState& BaselineOperator::StateFor(const std::string& key) {
  auto it = detectors_.find(key);
  if (it == detectors_.end()) {
    it = detectors_.emplace(key, KeyState{models::EwmaBaseline(options_), false}).first;
  }
  return it->second;
}

void BaselineOperator::Process(Event event, Emitter& out) {
  KeyState& state = StateFor(event.key);
  double score = state.detector.ScoreAndUpdate(event.values, &z_scratch_);
  if (!state.dirty) {
    state.dirty = true;
    dirty_keys_.push_back(event.key);
  }
  event.score = score;
  event.alert = event.alert || score >= options_.alert_threshold;
  if (!event.annotations.empty()) event.annotations += ',';
  std::string& a = event.annotations;
  a += "\"z\":[";
  JsonWriter w(&a);
  for (double z : z_scratch_) w.Double(z);
  a += ']';
  out.Emit(std::move(event));
}

void BaselineOperator::SnapshotDirty(
    const std::function<void(std::string_view key, std::string snapshot)>& sink) {
  for (const auto& key : dirty_keys_) {
    auto it = detectors_.find(key);
    if (it == detectors_.end()) continue;
    it->second.dirty = false;
    std::string snapshot;
    it->second.detector.Save(&snapshot);
    sink(key, std::move(snapshot));
  }
  dirty_keys_.clear();
}

Status BaselineOperator::Restore(std::string_view key, std::string_view snapshot) {
  models::EwmaBaseline detector(options_);
  Status st = detector.Restore(snapshot);
  if (!st.ok()) {
    return Status::Corruption("operator '" + name_ + "' key '" + std::string(key) +
                              "': " + st.message());
  }
  detectors_.insert_or_assign(std::string(key), KeyState{std::move(detector), false});
  return Status::Ok();
}

}  // namespace osprey::operators
