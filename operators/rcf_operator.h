// RcfOperator: per-key thresholded Random Cut Forests (models::rcf::ThresholdedForest), as
// Kinesis RANDOM_CUT_FOREST_WITH_EXPLANATION. Sets the event's score (the forest score), flags an
// alert when the grade reaches alert_grade, and annotates grade, anomaly_score (ThresholdedForest's
// cross-stream ranking score: grade or out-of-range, first report per episode), confidence,
// threshold and, for
// graded anomalies, the attribution per value, the expected values and the relative index.
// With forecast_horizon N > 0 it also annotates "forecast": {"<value name>": {"value": [N],
// "lower": [N], "upper": [N]}} in original units, once the key's forest gives output.
// Keys are created on first sight and evicted when idle (processing time) or, least recently used
// first, past the memory budget. Confined to its task's thread.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "config/base/clock.h"
#include "config/options.h"
#include "models/rcf/options.h"
#include "models/rcf/thresholded.h"
#include "operators/operator.h"

namespace osprey::operators {

class RcfOperator final : public Operator {
 public:
  // Snapshot layout: [u8 kSnapshotVersion][ThresholdedForest::Save() bytes].
  static constexpr uint8_t kSnapshotVersion = 1;

  // `options.kind` must be kRcf. Caller keeps `clock` alive for the lifetime of this object.
  RcfOperator(const config::OperatorOptions& options, const Clock& clock);

  const std::string& name() const override { return name_; }

  // A key's forest is created on the event's value count. An event whose value count differs
  // from its key's forest (or holds a value the forest rejects, e.g. NaN) is emitted unscored
  // with annotation "error":"<why>"; the key's model is left unchanged. Idle keys are evicted
  // lazily here as well as in Tick().
  void Process(Event event, Emitter& out) override;
  // Evicts keys idle for idle_eviction_ms or longer (no-op when it is 0). Emits nothing.
  void Tick(Emitter& out) override;

  // Evicted keys are reported with an empty snapshot.
  void SnapshotDirty(
      const std::function<void(std::string_view key, std::string snapshot)>& sink) override;
  // Corruption naming the operator and the key on a bad or unsupported snapshot. The restored
  // key keeps the model options it was saved with (the configured options apply to new keys).
  // May evict other keys to stay within the memory budget.
  Status Restore(std::string_view key, std::string_view snapshot) override;
  size_t key_count() const override { return keys_.size(); }

  // Keys evicted so far (idle + memory budget).
  size_t evictions() const override { return evictions_; }
  // The model of `key`, or nullptr when the key has none (not seen yet, or evicted). For
  // read-only queries (ThresholdedForest's const methods) by whoever holds the lock under which
  // this operator runs; valid until the operator next processes, ticks or restores.
  const models::rcf::ThresholdedForest* FindModel(std::string_view key) const;

  // Sum of the keys' ThresholdedForest::MemoryBytes() as last measured (after each event).
  size_t memory_bytes() const { return memory_bytes_; }

  // The model options for a key whose events carry `input_dim` values.
  static models::rcf::ThresholdedOptions ModelOptions(const config::RcfOperatorOptions& options,
                                                      int input_dim);

 private:
  struct KeyState {
    std::unique_ptr<models::rcf::ThresholdedForest> model;
    std::list<std::string>::iterator lru;  // position in lru_
    int64_t last_seen_ms = 0;              // processing time of the last event or restore
    size_t bytes = 0;                      // model->MemoryBytes() as last measured
  };

  // Inserts `model` for `key` (replacing any), most recently used.
  KeyState& Insert(const std::string& key,
                   std::unique_ptr<models::rcf::ThresholdedForest> model);
  void Touch(KeyState& state);
  void Evict(const std::string& key);  // copies `key` first: it may alias lru_'s storage
  void EvictIdle(int64_t now_ms);
  // Evicts least recently used keys other than `keep` while over the budget.
  void EnforceBudget(const std::string& keep);
  void Annotate(const models::rcf::AnomalyDescriptor& d, const Schema* schema,
                std::string& a) const;
  // Appends ,"forecast":{...} when forecast_horizon > 0 and the model can forecast.
  void AnnotateForecast(const models::rcf::ThresholdedForest& model, const Schema* schema,
                        std::string& a) const;

  // Constant after construction
  const std::string name_;
  const config::RcfOperatorOptions options_;
  const Clock& clock_;

  std::unordered_map<std::string, KeyState> keys_;
  std::list<std::string> lru_;               // front = most recently used
  std::unordered_set<std::string> dirty_;    // changed or evicted since the last snapshot
  size_t memory_bytes_ = 0;
  size_t evictions_ = 0;
  std::vector<double> scratch_;
};

}  // namespace osprey::operators
