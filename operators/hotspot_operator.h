// HotspotOperator: Kinesis-style HOTSPOTS over the last window_size records (models/hotspots.h),
// one detector for the whole stream or one per key. Every event passes through with the
// annotation "hotspots":[{"density":D,"minValues":[..],"maxValues":[..],"count":N},...]
// (densest first) computed over the window that includes it, and is flagged as an alert when a
// hot spot with density above alert_density appeared with it.
// Dimensions are the event's first min(values, max_dimensions) values, fixed by the first event
// of a detector; events with a different number of values or non-finite values pass through
// unannotated and are counted.
// Confined to its task's thread.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "config/window_options.h"
#include "models/hotspots.h"
#include "operators/operator.h"

namespace osprey::operators {

class HotspotOperator final : public Operator {
 public:
  static constexpr uint8_t kFormatVersion = 1;
  // Snapshot key of the single detector when !per_key (not a valid group key: starts with NUL).
  static constexpr std::string_view kGlobalKey{"\0__all", 6};

  // InvalidArgument when options do not validate.
  static Result<std::unique_ptr<HotspotOperator>> Create(std::string name,
                                                         const config::HotspotOptions& options);

  const std::string& name() const override { return name_; }
  void Process(Event event, Emitter& out) override;
  void SnapshotDirty(
      const std::function<void(std::string_view key, std::string snapshot)>& sink) override;
  Status Restore(std::string_view key, std::string_view snapshot) override;
  size_t key_count() const override { return detectors_.size(); }

  // Events passed through unannotated (dimension mismatch or non-finite values).
  int64_t skipped() const { return skipped_; }
  int64_t alerts() const { return alerts_; }

 private:
  HotspotOperator(std::string name, const config::HotspotOptions& options);

  const std::string name_;                // Constant after construction
  const config::HotspotOptions options_;  // Constant after construction
  std::unordered_map<std::string, models::HotspotDetector> detectors_;
  std::unordered_set<std::string> dirty_;
  int64_t skipped_ = 0;
  int64_t alerts_ = 0;
  // Rendered hot spots of the last evaluation per detector are cheap to rebuild; keep one
  // scratch buffer to avoid reallocations.
  std::string json_scratch_;
};

}  // namespace osprey::operators
