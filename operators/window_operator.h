// WindowOperator: keyed tumbling, hopping and session windows over event time (or processing
// time), with watermarks (operators/watermark.h), allowed lateness, a late-events side output
// and on-close or early emission. Each result is an Event like any other, so pipelines chain:
//   key           = the group key (the input event's key)
//   event_time_ms = window end − 1
//   values        = one per configured aggregate, named by AggregateSpec::OutputName()
//                   ("count", "cpu_mean", "cpu_p99", ...) in the output Schema
//   annotations   = "window":{"start":S,"end":E,"update":U,"early":X}
// where early = a partial result of a still-open window, and update = a re-emission of a window
// whose final result was already emitted (a late event within allowed lateness changed it, or a
// closed session merged). Consumers keep the last result per (key, start).
//
// Semantics (Flink's): an event at t belongs to [s, s+size) windows containing t; sessions
// [t, t+gap) merge when they touch, i.e. events at most gap_ms apart share a session. A window
// closes (final result) when the watermark reaches its end, and its state is dropped when the
// watermark reaches end + allowed_lateness. An event whose every window is dropped is late: it
// is counted and passed to the LateSink (dead_letter policy) or dropped. An event for a closed
// but retained window re-emits that window at once.
//
// Cost (stream slicing): tumbling windows and sessions aggregate in the window itself; hopping
// windows keep per-key panes of gcd(size, slide) ms, each event updates exactly one pane, and a
// result merges the panes of its window (every aggregate is mergeable: Chan's formula for the
// variance, register max for HyperLogLog, KLL merge). Sketch fields buffer their first 16 raw
// values and build their sketches only past that, so small windows allocate and hash little.
// While every part of a result is still buffering, distinct counts are exact (as are quantiles
// below k items); otherwise they are the HyperLogLog estimate of the union (register max) and
// quantiles come from the union of the KLL items, within the sketches' bounds.
// Confined to its task's thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "config/base/clock.h"
#include "config/window_options.h"
#include "models/sketch/hyperloglog.h"
#include "models/sketch/quantile_sketch.h"
#include "models/sketch/running_stats.h"
#include "operators/operator.h"
#include "operators/watermark.h"

namespace osprey::operators {

// Receives events later than the allowed lateness under the dead_letter policy. The event
// carries an extra annotation "late":{"operator":NAME,"watermark_ms":W}.
using LateSink = std::function<void(Event late_event)>;

struct WindowOperatorStats {
  int64_t late_dead_lettered = 0;  // late events passed to the LateSink
  int64_t late_dropped = 0;        // late events dropped (drop policy, or no sink)
  int64_t final_results = 0;       // on-close emissions (update = false)
  int64_t updates = 0;             // re-emissions of closed windows
  int64_t early_results = 0;       // partial results of open windows
};

class WindowOperator final : public Operator {
 public:
  // Snapshot key holding the watermark and counters (not a valid group key: starts with NUL).
  static constexpr std::string_view kWatermarkKey{"\0__watermark", 12};
  // 2 (panes for hopping windows); Restore also reads version 1.
  static constexpr uint8_t kFormatVersion = 2;

  // InvalidArgument when options do not validate. Caller keeps `clock` alive; `late_sink` may
  // be empty (late events are then dropped whatever the policy).
  static Result<std::unique_ptr<WindowOperator>> Create(std::string name,
                                                        const config::WindowOptions& options,
                                                        const Clock& clock, LateSink late_sink);

  const std::string& name() const override { return name_; }
  // Event time comes from event.event_time_ms and the watermark partition from
  // event.origin.partition. Values are matched to aggregate fields by event.schema names (a
  // field the schema lacks leaves its aggregates NaN, counts 0).
  void Process(Event event, Emitter& out) override;
  // Raises the watermark to at least `watermark_ms` (never lowers it) and fires due windows.
  void OnWatermark(int64_t watermark_ms, Emitter& out) override;
  // Processing-time housekeeping; call periodically (e.g. every 100 ms): lets idle partitions
  // release the watermark, advances processing-time windows, emits early_every_ms results.
  // O(open windows) when early_every_ms > 0, else O(due windows).
  void Tick(Emitter& out) override;

  void SnapshotDirty(
      const std::function<void(std::string_view key, std::string snapshot)>& sink) override;
  Status Restore(std::string_view key, std::string_view snapshot) override;
  size_t key_count() const override { return keys_.size(); }

  int64_t watermark_ms() const { return tracker_.current(); }
  const WindowOperatorStats& stats() const { return stats_; }
  const std::shared_ptr<const Schema>& output_schema() const { return output_schema_; }
  size_t open_windows() const;

 private:
  // Raw values a sketch field buffers before it builds its sketches (≤ the smallest quantile k,
  // so quantiles from the buffer equal the KLL sketch's exact results).
  static constexpr size_t kRawValues = 16;

  struct Sketches {
    std::optional<models::HyperLogLog> distinct;     // if the field has a distinct count
    std::optional<models::QuantileSketch> quantiles;  // if the field has quantiles
  };
  // Buffered values: the first 4 in place (a pane of a hopping window usually holds a few), then
  // all of them on the heap.
  class RawValues {
   public:
    void push_back(double x) {
      if (heap_.empty()) {
        if (n_ < kInline) {
          inline_[n_++] = x;
          return;
        }
        heap_.reserve(2 * kInline);
        heap_.assign(inline_, inline_ + n_);
      }
      heap_.push_back(x);
    }
    const double* begin() const { return heap_.empty() ? inline_ : heap_.data(); }
    const double* end() const { return begin() + size(); }
    size_t size() const { return heap_.empty() ? n_ : heap_.size(); }
    void clear() {
      n_ = 0;
      std::vector<double>().swap(heap_);
    }

   private:
    static constexpr uint32_t kInline = 4;
    double inline_[kInline] = {};
    uint32_t n_ = 0;
    std::vector<double> heap_;
  };
  struct FieldAgg {
    models::RunningStats stats;
    // Distinct/quantile fields: the values added so far while `sketches` is null.
    RawValues raw;
    std::unique_ptr<Sketches> sketches;
  };
  // The aggregates of a set of events: a tumbling window, a session, or a hopping pane. The
  // first two fields live in place, so a key's panes are one contiguous block.
  struct Agg {
    int64_t count = 0;
    int64_t max_ingest_nanos = 0;
    FieldAgg head[2];
    std::vector<FieldAgg> tail;  // fields 2.. (field_specs_.size() - 2 of them)
    FieldAgg& field(size_t f) { return f < 2 ? head[f] : tail[f - 2]; }
    const FieldAgg& field(size_t f) const { return f < 2 ? head[f] : tail[f - 2]; }
  };
  struct Window {
    int64_t start = 0;
    int64_t end = 0;  // exclusive
    // Tumbling, session, and hopping windows restored from format v1: the window's own
    // aggregates. Hopping windows otherwise read the key's panes (agg stays null).
    bool uses_panes = false;
    std::unique_ptr<Agg> agg;
    bool closed = false;          // the watermark passed end and the result went out
    bool emitted_final = false;   // a final (non-early) result was emitted at least once
    bool changed = false;         // changed since the last emission
    int64_t events_since_emit = 0;
    int64_t last_emit_ms = 0;     // processing time of the last emission (or creation)
  };
  struct Pane {
    int64_t start = 0;  // a multiple of pane_ms_; covers [start, start + pane_ms_)
    Agg agg;
  };
  struct KeyState {
    std::vector<Window> windows;  // sorted by start
    std::vector<Pane> panes;      // hopping only; sorted by start; live from first_pane on
    size_t first_pane = 0;        // panes before it are dropped (released, not yet erased)
    bool dirty = false;           // listed in dirty_keys_
  };
  struct FieldSpec {
    std::string name;
    bool distinct = false;
    bool quantiles = false;
  };
  // Timers by time; each entry lists keys with a window due then. Duplicates and stale entries
  // are harmless: firing checks the windows.
  using Timers = std::map<int64_t, std::vector<std::string>>;

  WindowOperator(std::string name, const config::WindowOptions& options, const Clock& clock,
                 LateSink late_sink);

  Window NewWindow(int64_t start, int64_t end, bool uses_panes) const;
  Agg NewAgg() const;
  // Adds the current event's values (looked up once per event into values_/present_) to `agg`.
  void AddToAgg(Agg& agg, int64_t ingest_nanos, int64_t time_ms, int64_t seq);
  void BuildSketches(size_t f, FieldAgg& agg) const;
  void MergeInto(Window& into, Window& from) const;
  void MergeAgg(Agg& into, Agg& from) const;
  // Emits `w` and updates its flags.
  void EmitWindow(const std::string& key, KeyState& ks, Window& w, bool early, Emitter& out);
  // After an event changed `w`: immediate re-emission if closed, early emission if due.
  void AfterChange(const std::string& key, KeyState& ks, Window& w, Emitter& out);
  void ScheduleTimers(const std::string& key, const Window& w);
  void FireDue(Emitter& out);
  // Fills order_ with `keys` by (hash, key): the canonical firing order.
  void SortKeys(const std::vector<std::string>& keys);
  // Drops the key's windows whose end + allowed lateness ≤ time, the panes no window needs any
  // more, and the key once it has no window.
  void Purge(std::unordered_map<std::string, KeyState>::iterator it, int64_t time);
  void SendLate(Event event);
  void MarkDirty(const std::string& key, KeyState& ks);
  // Drops panes no live window covers any more.
  void DropDeadPanes(KeyState& ks, int64_t watermark) const;
  const std::vector<int>& FieldIndexes(const Schema* schema);
  // An aggregate's per-field part of the snapshot: the field count, then per field its
  // RunningStats, a has-sketch byte and the sketches (or, format 2, the buffered values).
  void SaveFields(const Agg& agg, ByteWriter& w) const;
  // Corruption (plain message) on a bad encoding or one that does not match the configuration.
  Status LoadFields(ByteReader& r, uint8_t version, Agg* agg) const;
  void SaveKey(const KeyState& state, std::string* out) const;
  Result<KeyState> LoadKey(uint8_t version, ByteReader& r) const;

  // Constant after construction.
  const std::string name_;
  const config::WindowOptions options_;
  const Clock& clock_;
  const LateSink late_sink_;
  std::vector<FieldSpec> field_specs_;
  std::vector<int> spec_field_;  // aggregate index -> field_specs_ index, -1 = plain count
  std::vector<std::vector<size_t>> quantile_specs_;  // per field: aggregate indexes of kQuantile
  std::vector<std::pair<config::AggregateFn, int>> plan_;  // per aggregate: fn, spec_field_
  std::shared_ptr<const Schema> output_schema_;
  int64_t slide_ms_ = 0;  // tumbling/hopping: distance between window starts
  int64_t pane_ms_ = 0;   // hopping: gcd(size, slide)
  Agg empty_agg_;

  WatermarkTracker tracker_;
  std::unordered_map<std::string, KeyState> keys_;
  Timers fire_timers_;   // at end
  Timers purge_timers_;  // at end + allowed lateness
  std::vector<std::string>* fire_bucket_ = nullptr;  // fire_timers_[fire_bucket_time_], or null
  int64_t fire_bucket_time_ = 0;
  std::vector<std::string>* purge_bucket_ = nullptr;  // likewise
  int64_t purge_bucket_time_ = 0;
  std::vector<std::pair<size_t, const std::string*>> order_;  // scratch: keys by (hash, key)
  std::vector<std::pair<size_t, const std::string*>> order_scratch_;
  std::vector<size_t> counts_;
  std::vector<std::string> dirty_keys_;  // keys changed (or dropped) since the last snapshot
  bool watermark_dirty_ = false;
  int64_t seq_ = 0;
  WindowOperatorStats stats_;
  const Schema* cached_schema_ = nullptr;
  std::vector<int> cached_indexes_;
  // Scratch, reused across calls.
  std::vector<double> values_;  // per field: the current event's value
  std::vector<char> present_;   // per field: the current event has the field
  std::vector<const Agg*> parts_;
  std::vector<uint64_t> hashes_;
  std::vector<models::RunningStats> merged_stats_;  // per field
  std::vector<const models::RunningStats*> field_stats_;  // per field, of the result
  std::vector<double> field_distinct_;                    // per field, of the result
  std::optional<models::HyperLogLog> hll_scratch_;
  std::vector<std::pair<double, int64_t>> items_scratch_;
  std::vector<double> values_scratch_;
  int64_t annotation_start_ = 0;  // the window whose annotations are cached
  int64_t annotation_end_ = 0;
  std::string annotations_[4];  // of that window: [2 * update + early]
};

}  // namespace osprey::operators
