#include "operators/window_operator.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "config/base/bytes.h"
#include "config/base/json_writer.h"

namespace osprey::operators {

namespace {

using config::AggregateFn;
using config::WindowKind;

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

}  // namespace

Result<std::unique_ptr<WindowOperator>> WindowOperator::Create(
    std::string name, const config::WindowOptions& options, const Clock& clock,
    LateSink late_sink) {
  Status st = options.Validate();
  if (!st.ok()) return Status::InvalidArgument("window operator '" + name + "': " + st.message());
  return std::unique_ptr<WindowOperator>(
      new WindowOperator(std::move(name), options, clock, std::move(late_sink)));
}

WindowOperator::WindowOperator(std::string name, const config::WindowOptions& options,
                               const Clock& clock, LateSink late_sink)
    : name_(std::move(name)),
      options_(options),
      clock_(clock),
      late_sink_(std::move(late_sink)),
      tracker_(options.max_out_of_orderness_ms, options.idle_timeout_ms, clock) {
  auto schema = std::make_shared<Schema>();
  for (const config::AggregateSpec& spec : options_.aggregates) {
    schema->value_names.push_back(spec.OutputName());
    if (spec.field.empty()) {
      spec_field_.push_back(-1);
      continue;
    }
    auto it = std::find_if(field_specs_.begin(), field_specs_.end(),
                           [&](const FieldSpec& f) { return f.name == spec.field; });
    if (it == field_specs_.end()) {
      field_specs_.push_back(FieldSpec{spec.field, false, false});
      it = field_specs_.end() - 1;
    }
    it->distinct = it->distinct || spec.fn == AggregateFn::kDistinctCount;
    it->quantiles = it->quantiles || spec.fn == AggregateFn::kQuantile;
    spec_field_.push_back(static_cast<int>(it - field_specs_.begin()));
  }
  output_schema_ = std::move(schema);
}

size_t WindowOperator::open_windows() const {
  size_t n = 0;
  for (const auto& [key, state] : keys_) n += state.windows.size();
  return n;
}

const std::vector<int>& WindowOperator::FieldIndexes(const Schema* schema) {
  if (schema == cached_schema_ && !cached_indexes_.empty()) return cached_indexes_;
  cached_schema_ = schema;
  cached_indexes_.assign(field_specs_.size(), -1);
  if (schema != nullptr) {
    for (size_t f = 0; f < field_specs_.size(); ++f) {
      const auto& names = schema->value_names;
      auto it = std::find(names.begin(), names.end(), field_specs_[f].name);
      if (it != names.end()) cached_indexes_[f] = static_cast<int>(it - names.begin());
    }
  }
  return cached_indexes_;
}

WindowOperator::Window WindowOperator::NewWindow(int64_t start, int64_t end) const {
  Window w;
  w.start = start;
  w.end = end;
  w.fields.resize(field_specs_.size());
  for (size_t f = 0; f < field_specs_.size(); ++f) {
    if (field_specs_[f].distinct) w.fields[f].distinct.emplace(options_.hll_precision);
    if (field_specs_[f].quantiles) w.fields[f].quantiles.emplace(options_.quantile_k);
  }
  w.last_emit_ms = clock_.NowMillis();
  return w;
}

void WindowOperator::AddToWindow(Window& w, const Event& event, int64_t time_ms, int64_t seq) {
  const std::vector<int>& indexes = FieldIndexes(event.schema.get());
  ++w.count;
  for (size_t f = 0; f < indexes.size(); ++f) {
    int idx = indexes[f];
    if (idx < 0 || static_cast<size_t>(idx) >= event.values.size()) continue;
    double x = event.values[static_cast<size_t>(idx)];
    FieldAgg& agg = w.fields[f];
    agg.stats.Add(x, time_ms, seq);
    if (agg.distinct) agg.distinct->AddDouble(x);
    if (agg.quantiles) agg.quantiles->Add(x);
  }
  w.max_ingest_nanos = std::max(w.max_ingest_nanos, event.ingest_nanos);
  w.changed = true;
  ++w.events_since_emit;
}

void WindowOperator::MergeInto(Window& into, Window& from) {
  into.start = std::min(into.start, from.start);
  into.end = std::max(into.end, from.end);
  into.count += from.count;
  for (size_t f = 0; f < into.fields.size(); ++f) {
    FieldAgg& a = into.fields[f];
    FieldAgg& b = from.fields[f];
    a.stats.Merge(b.stats);
    // Same precision and k by construction: merging cannot fail.
    if (a.distinct && b.distinct) a.distinct->Merge(*b.distinct).IgnoreError();
    if (a.quantiles && b.quantiles) a.quantiles->Merge(*b.quantiles).IgnoreError();
  }
  into.max_ingest_nanos = std::max(into.max_ingest_nanos, from.max_ingest_nanos);
  into.emitted_final = into.emitted_final || from.emitted_final;
  into.changed = true;
  into.events_since_emit += from.events_since_emit;
  into.last_emit_ms = std::min(into.last_emit_ms, from.last_emit_ms);
}

void WindowOperator::ScheduleTimers(const std::string& key, const Window& w) {
  if (!w.closed) fire_timers_.emplace(w.end, key, w.start);
  purge_timers_.emplace(w.end + options_.allowed_lateness_ms, key, w.start);
}

void WindowOperator::Process(Event event, Emitter& out) {
  const int64_t seq = ++seq_;
  const bool processing_time = options_.time == config::TimeDomain::kProcessing;
  int64_t t = event.event_time_ms;
  if (processing_time) {
    t = std::max(clock_.NowMillis(), tracker_.current());
  } else {
    tracker_.Observe(event.origin.partition, t);
    watermark_dirty_ = true;
  }
  const int64_t wm = tracker_.current();
  auto expired = [&](int64_t end) {
    return wm != WatermarkTracker::kNoWatermark && end + options_.allowed_lateness_ms <= wm;
  };

  bool accepted = false;
  KeyState* state = nullptr;
  auto state_for_key = [&]() -> KeyState& {
    if (state == nullptr) {
      auto it = keys_.find(event.key);
      if (it == keys_.end()) it = keys_.emplace(event.key, KeyState{}).first;
      state = &it->second;
    }
    return *state;
  };

  if (options_.kind == WindowKind::kSession) {
    if (!expired(t + options_.gap_ms)) {
      accepted = true;
      KeyState& ks = state_for_key();
      Window merged = NewWindow(t, t + options_.gap_ms);
      AddToWindow(merged, event, t, seq);
      // Sessions touching [t, t + gap] merge (Flink's TimeWindow::intersects).
      auto& windows = ks.windows;
      for (size_t idx = 0; idx < windows.size();) {
        if (windows[idx].start <= merged.end && windows[idx].end >= merged.start) {
          MergeInto(merged, windows[idx]);
          windows.erase(windows.begin() + static_cast<ptrdiff_t>(idx));
        } else {
          ++idx;
        }
      }
      merged.closed = false;  // AfterChange re-emits at once if the end already passed
      auto pos = std::lower_bound(windows.begin(), windows.end(), merged.start,
                                  [](const Window& w, int64_t s) { return w.start < s; });
      pos = windows.insert(pos, std::move(merged));
      ScheduleTimers(event.key, *pos);
      AfterChange(event.key, *pos, out);
    }
  } else {
    const int64_t size = options_.size_ms;
    const int64_t slide = options_.kind == WindowKind::kHopping ? options_.slide_ms : size;
    for (int64_t start = FloorDiv(t, slide) * slide; start > t - size; start -= slide) {
      const int64_t end = start + size;
      if (expired(end)) continue;
      accepted = true;
      auto& windows = state_for_key().windows;
      auto pos = std::lower_bound(windows.begin(), windows.end(), start,
                                  [](const Window& w, int64_t s) { return w.start < s; });
      if (pos == windows.end() || pos->start != start) {
        pos = windows.insert(pos, NewWindow(start, end));
        ScheduleTimers(event.key, *pos);
      }
      AddToWindow(*pos, event, t, seq);
      AfterChange(event.key, *pos, out);
    }
  }

  if (accepted) {
    dirty_.insert(event.key);
  } else {
    SendLate(std::move(event));
  }
  FireDue(out);
}

void WindowOperator::AfterChange(const std::string& key, Window& w, Emitter& out) {
  if (tracker_.current() != WatermarkTracker::kNoWatermark && w.end <= tracker_.current()) {
    EmitWindow(key, w, /*early=*/false, out);
    return;
  }
  if (options_.emit != config::EmitMode::kEarly) return;
  bool by_count = options_.early_every_events > 0 &&
                  w.events_since_emit >= options_.early_every_events;
  bool by_time = options_.early_every_ms > 0 &&
                 clock_.NowMillis() - w.last_emit_ms >= options_.early_every_ms;
  if (by_count || by_time) EmitWindow(key, w, /*early=*/true, out);
}

void WindowOperator::EmitWindow(const std::string& key, Window& w, bool early, Emitter& out) {
  Event e;
  e.key = key;
  e.event_time_ms = w.end - 1;
  e.schema = output_schema_;
  e.ingest_nanos = w.max_ingest_nanos;
  e.values.reserve(options_.aggregates.size());
  for (size_t a = 0; a < options_.aggregates.size(); ++a) {
    const config::AggregateSpec& spec = options_.aggregates[a];
    const int f = spec_field_[a];
    if (f < 0) {
      e.values.push_back(static_cast<double>(w.count));
      continue;
    }
    const FieldAgg& agg = w.fields[static_cast<size_t>(f)];
    const models::RunningStats& s = agg.stats;
    double v = kNaN;
    switch (spec.fn) {
      case AggregateFn::kCount: v = static_cast<double>(s.count()); break;
      case AggregateFn::kSum: v = s.sum(); break;
      case AggregateFn::kMean: v = s.mean(); break;
      case AggregateFn::kMin: v = s.min(); break;
      case AggregateFn::kMax: v = s.max(); break;
      case AggregateFn::kVariance: v = s.variance(); break;
      case AggregateFn::kStddev: v = s.stddev(); break;
      case AggregateFn::kFirst: v = s.first(); break;
      case AggregateFn::kLast: v = s.last(); break;
      case AggregateFn::kDistinctCount:
        v = std::round(agg.distinct->Estimate());
        break;
      case AggregateFn::kQuantile: v = agg.quantiles->Quantile(spec.q); break;
    }
    e.values.push_back(v);
  }
  const bool update = !early && w.emitted_final;
  std::string& a = e.annotations;
  a = "\"window\":";
  JsonWriter jw(&a);
  jw.BeginObject()
      .Key("start").Int(w.start)
      .Key("end").Int(w.end)
      .Key("update").Bool(update)
      .Key("early").Bool(early)
      .EndObject();
  if (early) {
    ++stats_.early_results;
  } else if (update) {
    ++stats_.updates;
  } else {
    ++stats_.final_results;
  }
  if (!early) {
    w.emitted_final = true;
    w.closed = true;
  }
  w.changed = false;
  w.events_since_emit = 0;
  w.last_emit_ms = clock_.NowMillis();
  dirty_.insert(key);
  watermark_dirty_ = true;  // counters
  out.Emit(std::move(e));
}

void WindowOperator::SendLate(Event event) {
  watermark_dirty_ = true;
  if (options_.late_events == config::LateEventPolicy::kDeadLetter && late_sink_) {
    ++stats_.late_dead_lettered;
    std::string& a = event.annotations;
    if (!a.empty()) a += ',';
    a += "\"late\":";
    JsonWriter jw(&a);
    jw.BeginObject().Key("operator").String(name_).Key("watermark_ms").Int(tracker_.current());
    jw.EndObject();
    late_sink_(std::move(event));
  } else {
    ++stats_.late_dropped;
  }
}

void WindowOperator::FireDue(Emitter& out) {
  const int64_t before = tracker_.current();
  int64_t wm = 0;
  if (options_.time == config::TimeDomain::kProcessing) {
    tracker_.AdvanceTo(clock_.NowMillis());
    wm = tracker_.current();
  } else {
    wm = tracker_.Advance();
  }
  if (wm != before) watermark_dirty_ = true;
  if (wm == WatermarkTracker::kNoWatermark) return;
  while (!fire_timers_.empty() && std::get<0>(*fire_timers_.begin()) <= wm) {
    auto node = fire_timers_.extract(fire_timers_.begin());
    const auto& [time, key, start] = node.value();
    auto it = keys_.find(key);
    if (it == keys_.end()) continue;
    for (Window& w : it->second.windows) {
      if (w.start == start && w.end == time && !w.closed) {
        EmitWindow(key, w, /*early=*/false, out);
        break;
      }
    }
  }
  while (!purge_timers_.empty() && std::get<0>(*purge_timers_.begin()) <= wm) {
    auto node = purge_timers_.extract(purge_timers_.begin());
    const auto& [time, key, start] = node.value();
    auto it = keys_.find(key);
    if (it == keys_.end()) continue;
    auto& windows = it->second.windows;
    auto w = std::find_if(windows.begin(), windows.end(), [&](const Window& x) {
      return x.start == start && x.end + options_.allowed_lateness_ms == time;
    });
    if (w == windows.end()) continue;  // stale (a session that merged)
    windows.erase(w);
    dirty_.insert(key);
    if (windows.empty()) keys_.erase(it);
  }
}

void WindowOperator::OnWatermark(int64_t watermark_ms, Emitter& out) {
  tracker_.AdvanceTo(watermark_ms);
  FireDue(out);
}

void WindowOperator::Tick(Emitter& out) {
  FireDue(out);
  if (options_.emit != config::EmitMode::kEarly || options_.early_every_ms <= 0) return;
  const int64_t now = clock_.NowMillis();
  for (auto& [key, state] : keys_) {
    for (Window& w : state.windows) {
      if (!w.closed && w.changed && now - w.last_emit_ms >= options_.early_every_ms) {
        EmitWindow(key, w, /*early=*/true, out);
      }
    }
  }
}

void WindowOperator::SaveKey(const KeyState& state, std::string* out) const {
  ByteWriter w(out);
  w.Put<uint8_t>(kFormatVersion);
  w.PutVarint(state.windows.size());
  for (const Window& win : state.windows) {
    w.Put(win.start);
    w.Put(win.end);
    w.Put(win.count);
    w.Put(win.max_ingest_nanos);
    w.Put<uint8_t>(static_cast<uint8_t>((win.closed ? 1 : 0) | (win.emitted_final ? 2 : 0) |
                                        (win.changed ? 4 : 0)));
    w.Put(win.events_since_emit);
    w.Put(win.last_emit_ms);
    w.PutVarint(win.fields.size());
    for (const FieldAgg& f : win.fields) {
      f.stats.Save(w);
      w.Put<uint8_t>(static_cast<uint8_t>((f.distinct ? 1 : 0) | (f.quantiles ? 2 : 0)));
      if (f.distinct) f.distinct->Save(w);
      if (f.quantiles) f.quantiles->Save(w);
    }
  }
}

void WindowOperator::SnapshotDirty(
    const std::function<void(std::string_view key, std::string snapshot)>& sink) {
  for (const std::string& key : dirty_) {
    std::string snapshot;
    auto it = keys_.find(key);
    SaveKey(it == keys_.end() ? KeyState{} : it->second, &snapshot);
    sink(key, std::move(snapshot));
  }
  dirty_.clear();
  if (watermark_dirty_) {
    std::string snapshot;
    ByteWriter w(&snapshot);
    w.Put<uint8_t>(kFormatVersion);
    std::string tracker;
    tracker_.Save(&tracker);
    w.PutString(tracker);
    w.Put(seq_);
    w.Put(stats_.late_dead_lettered);
    w.Put(stats_.late_dropped);
    w.Put(stats_.final_results);
    w.Put(stats_.updates);
    w.Put(stats_.early_results);
    sink(kWatermarkKey, std::move(snapshot));
    watermark_dirty_ = false;
  }
}

Status WindowOperator::Restore(std::string_view key, std::string_view snapshot) {
  auto corrupt = [&](const std::string& what) {
    return Status::Corruption("operator '" + name_ + "' key '" + std::string(key) + "': " + what);
  };
  ByteReader r(snapshot);
  uint8_t version = 0;
  if (!r.Get(&version)) return corrupt("empty snapshot");
  if (version != kFormatVersion) {
    return corrupt("snapshot format version " + std::to_string(version) +
                   " is not supported (this build reads " + std::to_string(kFormatVersion) + ")");
  }
  if (key == kWatermarkKey) {
    std::string tracker;
    int64_t seq = 0;
    WindowOperatorStats stats;
    if (!r.GetString(&tracker) || !r.Get(&seq) || !r.Get(&stats.late_dead_lettered) ||
        !r.Get(&stats.late_dropped) || !r.Get(&stats.final_results) || !r.Get(&stats.updates) ||
        !r.Get(&stats.early_results) || !r.done()) {
      return corrupt("truncated watermark state");
    }
    Status st = tracker_.Restore(tracker);
    if (!st.ok()) return corrupt(st.message());
    seq_ = std::max(seq_, seq);
    stats_ = stats;
    return Status::Ok();
  }
  uint64_t n = 0;
  if (!r.GetVarint(&n) || n > r.remaining()) return corrupt("bad window count");
  KeyState state;
  for (uint64_t idx = 0; idx < n; ++idx) {
    Window w;
    uint8_t flags = 0;
    uint64_t fields = 0;
    if (!r.Get(&w.start) || !r.Get(&w.end) || !r.Get(&w.count) || !r.Get(&w.max_ingest_nanos) ||
        !r.Get(&flags) || !r.Get(&w.events_since_emit) || !r.Get(&w.last_emit_ms) ||
        !r.GetVarint(&fields)) {
      return corrupt("truncated window");
    }
    if (fields != field_specs_.size()) {
      return corrupt("window has " + std::to_string(fields) + " fields, the configuration " +
                     std::to_string(field_specs_.size()));
    }
    w.closed = (flags & 1) != 0;
    w.emitted_final = (flags & 2) != 0;
    w.changed = (flags & 4) != 0;
    w.fields.resize(fields);
    for (size_t f = 0; f < fields; ++f) {
      FieldAgg& agg = w.fields[f];
      uint8_t has = 0;
      if (!agg.stats.Load(r) || !r.Get(&has)) return corrupt("truncated aggregate");
      if ((has & 1) != 0) {
        auto hll = models::HyperLogLog::Load(r);
        if (!hll.ok()) return corrupt(hll.status().message());
        agg.distinct.emplace(std::move(hll).value());
      }
      if ((has & 2) != 0) {
        auto q = models::QuantileSketch::Load(r);
        if (!q.ok()) return corrupt(q.status().message());
        agg.quantiles.emplace(std::move(q).value());
      }
      if (agg.distinct.has_value() != field_specs_[f].distinct ||
          agg.quantiles.has_value() != field_specs_[f].quantiles) {
        return corrupt("aggregates do not match the configuration");
      }
    }
    if (w.end <= w.start || (!state.windows.empty() && state.windows.back().start >= w.start)) {
      return corrupt("windows out of order");
    }
    state.windows.push_back(std::move(w));
  }
  if (!r.done()) return corrupt("trailing bytes");
  std::string k(key);
  if (state.windows.empty()) {
    keys_.erase(k);
    return Status::Ok();
  }
  for (const Window& w : state.windows) ScheduleTimers(k, w);
  keys_.insert_or_assign(std::move(k), std::move(state));
  return Status::Ok();
}

}  // namespace osprey::operators
