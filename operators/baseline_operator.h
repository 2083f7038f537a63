// BaselineOperator: per-key EwmaBaseline detectors. Sets the event's score (max |z|), flags an
// alert at or above the configured threshold, and annotates the signed z per value.
// Confined to its task's thread.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/base/clock.h"
#include "config/options.h"
#include "models/baseline.h"
#include "operators/operator.h"

namespace osprey::operators {

class BaselineOperator final : public Operator {
 public:
  explicit BaselineOperator(const config::OperatorOptions& options);

  const std::string& name() const override { return name_; }
  void Process(Event event, Emitter& out) override;
  void SnapshotDirty(
      const std::function<void(std::string_view key, std::string snapshot)>& sink) override;
  Status Restore(std::string_view key, std::string_view snapshot) override;
  size_t key_count() const override { return detectors_.size(); }

 private:
  struct KeyState {
    models::EwmaBaseline detector;
    bool dirty = false;
  };
  KeyState& StateFor(const std::string& key);

  const std::string name_;                         // Constant after construction
  const config::BaselineDetectorOptions options_;  // Constant after construction
  std::unordered_map<std::string, KeyState> detectors_;
  std::vector<std::string> dirty_keys_;  // keys whose state changed since the last snapshot
  std::vector<double> z_scratch_;
};


}  // namespace osprey::operators
