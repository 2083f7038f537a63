#include "operators/window_operator.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <numeric>
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
  for (size_t a = 0; a < options_.aggregates.size(); ++a) {
    plan_.emplace_back(options_.aggregates[a].fn, spec_field_[a]);
  }
  quantile_specs_.resize(field_specs_.size());
  for (size_t a = 0; a < options_.aggregates.size(); ++a) {
    if (options_.aggregates[a].fn == AggregateFn::kQuantile) {
      quantile_specs_[static_cast<size_t>(spec_field_[a])].push_back(a);
    }
  }
  output_schema_ = std::move(schema);
  if (options_.kind != WindowKind::kSession) {
    slide_ms_ = options_.kind == WindowKind::kHopping ? options_.slide_ms : options_.size_ms;
    pane_ms_ = std::gcd(options_.size_ms, slide_ms_);
  }
  empty_agg_ = NewAgg();
  values_.resize(field_specs_.size());
  present_.resize(field_specs_.size());
  merged_stats_.resize(field_specs_.size());
  field_stats_.resize(field_specs_.size());
  field_distinct_.resize(field_specs_.size());
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

WindowOperator::Agg WindowOperator::NewAgg() const {
  Agg agg;
  if (field_specs_.size() > 2) agg.tail.resize(field_specs_.size() - 2);
  return agg;
}

WindowOperator::Window WindowOperator::NewWindow(int64_t start, int64_t end,
                                                 bool uses_panes) const {
  Window w;
  w.start = start;
  w.end = end;
  w.uses_panes = uses_panes;
  if (!uses_panes) w.agg = std::make_unique<Agg>(NewAgg());
  if (options_.early_every_ms > 0) w.last_emit_ms = clock_.NowMillis();  // only read then
  return w;
}

void WindowOperator::BuildSketches(size_t f, FieldAgg& agg) const {
  if (agg.sketches) return;
  agg.sketches = std::make_unique<Sketches>();
  if (field_specs_[f].distinct) {
    auto& hll = agg.sketches->distinct.emplace(options_.hll_precision);
    for (double x : agg.raw) hll.AddDouble(x);
  }
  if (field_specs_[f].quantiles) {
    auto& kll = agg.sketches->quantiles.emplace(options_.quantile_k);
    for (double x : agg.raw) kll.Add(x);
  }
  agg.raw.clear();
}

void WindowOperator::AddToAgg(Agg& agg, int64_t ingest_nanos, int64_t time_ms, int64_t seq) {
  ++agg.count;
  agg.max_ingest_nanos = std::max(agg.max_ingest_nanos, ingest_nanos);
  for (size_t f = 0; f < field_specs_.size(); ++f) {
    if (!present_[f]) continue;
    const double x = values_[f];
    FieldAgg& fa = agg.field(f);
    fa.stats.Add(x, time_ms, seq);
    if (!field_specs_[f].distinct && !field_specs_[f].quantiles) continue;
    if (!fa.sketches) {
      fa.raw.push_back(x);
      if (fa.raw.size() > kRawValues) BuildSketches(f, fa);
      continue;
    }
    if (fa.sketches->distinct) fa.sketches->distinct->AddDouble(x);
    if (fa.sketches->quantiles) fa.sketches->quantiles->Add(x);
  }
}

void WindowOperator::MergeAgg(Agg& into, Agg& from) const {
  into.count += from.count;
  into.max_ingest_nanos = std::max(into.max_ingest_nanos, from.max_ingest_nanos);
  for (size_t f = 0; f < field_specs_.size(); ++f) {
    FieldAgg& a = into.field(f);
    FieldAgg& b = from.field(f);
    a.stats.Merge(b.stats);
    if (!field_specs_[f].distinct && !field_specs_[f].quantiles) continue;
    if (!b.sketches) {
      for (double x : b.raw) {
        if (!a.sketches) {
          a.raw.push_back(x);
          if (a.raw.size() > kRawValues) BuildSketches(f, a);
        } else {
          if (a.sketches->distinct) a.sketches->distinct->AddDouble(x);
          if (a.sketches->quantiles) a.sketches->quantiles->Add(x);
        }
      }
      continue;
    }
    BuildSketches(f, a);
    // Same precision and k by construction: merging cannot fail.
    Sketches& sa = *a.sketches;
    const Sketches& sb = *b.sketches;
    if (sa.distinct && sb.distinct) sa.distinct->Merge(*sb.distinct).IgnoreError();
    if (sa.quantiles && sb.quantiles) sa.quantiles->Merge(*sb.quantiles).IgnoreError();
  }
}

void WindowOperator::MergeInto(Window& into, Window& from) const {
  into.start = std::min(into.start, from.start);
  into.end = std::max(into.end, from.end);
  MergeAgg(*into.agg, *from.agg);
  into.emitted_final = into.emitted_final || from.emitted_final;
  into.changed = true;
  into.events_since_emit += from.events_since_emit;
  into.last_emit_ms = std::min(into.last_emit_ms, from.last_emit_ms);
}

void WindowOperator::ScheduleTimers(const std::string& key, const Window& w) {
  // Consecutive windows mostly share their end (one per key and slide): cache the bucket.
  // Without allowed lateness a window is dropped when it fires: no purge timer.
  if (!w.closed || options_.allowed_lateness_ms == 0) {
    if (fire_bucket_ == nullptr || fire_bucket_time_ != w.end) {
      fire_bucket_time_ = w.end;
      auto [it, added] = fire_timers_.try_emplace(w.end);
      // Aligned windows: about every key has one ending then.
      if (added && options_.kind != WindowKind::kSession) {
        it->second.reserve(std::min<size_t>(keys_.size(), 1024));
      }
      fire_bucket_ = &it->second;
    }
    fire_bucket_->push_back(key);
  }
  if (options_.allowed_lateness_ms == 0) return;
  const int64_t purge = w.end + options_.allowed_lateness_ms;
  if (purge_bucket_ == nullptr || purge_bucket_time_ != purge) {
    purge_bucket_time_ = purge;
    purge_bucket_ = &purge_timers_[purge];
  }
  purge_bucket_->push_back(key);
}

void WindowOperator::MarkDirty(const std::string& key, KeyState& ks) {
  if (ks.dirty) return;
  ks.dirty = true;
  dirty_keys_.push_back(key);
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
  {  // The event's field values, looked up once.
    const std::vector<int>& indexes = FieldIndexes(event.schema.get());
    for (size_t f = 0; f < indexes.size(); ++f) {
      const int idx = indexes[f];
      present_[f] = idx >= 0 && static_cast<size_t>(idx) < event.values.size();
      values_[f] = present_[f] ? event.values[static_cast<size_t>(idx)] : kNaN;
    }
  }
  const int64_t ingest = event.ingest_nanos;

  bool accepted = false;
  KeyState* state = nullptr;
  const std::string* key = nullptr;
  auto state_for_key = [&]() -> KeyState& {
    if (state == nullptr) {
      auto it = keys_.find(event.key);
      if (it == keys_.end()) {
        it = keys_.emplace(event.key, KeyState{}).first;
        if (options_.kind != WindowKind::kSession) {  // the usual number of live windows
          const int64_t per_event = options_.size_ms / slide_ms_ + 1;
          it->second.windows.reserve(static_cast<size_t>(std::min<int64_t>(per_event, 16)));
          if (options_.kind == WindowKind::kHopping) {  // live panes, and up to 2 dropped
            const int64_t panes = options_.size_ms / pane_ms_ + 1;
            it->second.panes.reserve(static_cast<size_t>(std::min<int64_t>(panes, 16) + 2));
          }
        }
      }
      state = &it->second;
      key = &it->first;
    }
    return *state;
  };

  if (options_.kind == WindowKind::kSession) {
    if (!expired(t + options_.gap_ms)) {
      accepted = true;
      KeyState& ks = state_for_key();
      Window merged = NewWindow(t, t + options_.gap_ms, /*uses_panes=*/false);
      AddToAgg(*merged.agg, ingest, t, seq);
      merged.changed = true;
      ++merged.events_since_emit;
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
      ScheduleTimers(*key, *pos);
      AfterChange(*key, ks, *pos, out);
    }
  } else {
    const int64_t size = options_.size_ms;
    const bool hopping = options_.kind == WindowKind::kHopping;
    const bool early = options_.emit == config::EmitMode::kEarly;
    bool in_pane = false;
    size_t at = SIZE_MAX;  // windows before index `at` start before the current start
    for (int64_t start = FloorDiv(t, slide_ms_) * slide_ms_; start > t - size;
         start -= slide_ms_) {
      const int64_t end = start + size;
      if (expired(end)) continue;
      accepted = true;
      KeyState& ks = state_for_key();
      if (hopping && !in_pane) {  // the event's one pane, before any window over it emits
        in_pane = true;
        const int64_t pane_start = FloorDiv(t, pane_ms_) * pane_ms_;
        auto& panes = ks.panes;
        auto p = panes.end();
        if (panes.empty() || panes.back().start < pane_start) {
          panes.push_back(Pane{pane_start, NewAgg()});
          p = panes.end() - 1;
        } else {
          p = std::lower_bound(panes.begin() + static_cast<ptrdiff_t>(ks.first_pane), panes.end(),
                               pane_start,
                               [](const Pane& x, int64_t s) { return x.start < s; });
          if (p->start != pane_start) p = panes.insert(p, Pane{pane_start, NewAgg()});
        }
        AddToAgg(p->agg, ingest, t, seq);
      }
      // Starts descend: walk back from the newest window (usually a step or two).
      auto& windows = ks.windows;
      if (at == SIZE_MAX) at = windows.size();
      while (at > 0 && windows[at - 1].start >= start) --at;
      if (at == windows.size() || windows[at].start != start) {
        windows.insert(windows.begin() + static_cast<ptrdiff_t>(at),
                       NewWindow(start, end, hopping));
        ScheduleTimers(*key, windows[at]);
      }
      Window& w = windows[at];
      if (!w.uses_panes) AddToAgg(*w.agg, ingest, t, seq);
      w.changed = true;
      ++w.events_since_emit;
      if (early || (wm != WatermarkTracker::kNoWatermark && end <= wm)) {
        AfterChange(*key, ks, w, out);
      }
    }
  }

  if (accepted) {
    MarkDirty(*key, *state);
  } else {
    SendLate(std::move(event));
  }
  FireDue(out);
}

void WindowOperator::AfterChange(const std::string& key, KeyState& ks, Window& w, Emitter& out) {
  if (tracker_.current() != WatermarkTracker::kNoWatermark && w.end <= tracker_.current()) {
    EmitWindow(key, ks, w, /*early=*/false, out);
    return;
  }
  if (options_.emit != config::EmitMode::kEarly) return;
  bool by_count = options_.early_every_events > 0 &&
                  w.events_since_emit >= options_.early_every_events;
  bool by_time = options_.early_every_ms > 0 &&
                 clock_.NowMillis() - w.last_emit_ms >= options_.early_every_ms;
  if (by_count || by_time) EmitWindow(key, ks, w, /*early=*/true, out);
}

namespace {

void AppendInt(std::string& s, int64_t v) {
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  s.append(buf, res.ptr);
}

}  // namespace

void WindowOperator::EmitWindow(const std::string& key, KeyState& ks, Window& w, bool early,
                                Emitter& out) {
  // The aggregates the result merges: the window's own, or its panes.
  parts_.clear();
  if (w.uses_panes) {
    auto p = std::lower_bound(ks.panes.begin() + static_cast<ptrdiff_t>(ks.first_pane),
                              ks.panes.end(), w.start,
                              [](const Pane& x, int64_t s) { return x.start < s; });
    for (; p != ks.panes.end() && p->start < w.end; ++p) parts_.push_back(&p->agg);
  } else {
    parts_.push_back(w.agg.get());
  }
  if (parts_.empty()) parts_.push_back(&empty_agg_);  // cannot happen: a window has an event
  Event e;
  e.key = key;
  e.event_time_ms = w.end - 1;
  e.schema = output_schema_;
  int64_t count = 0;
  e.ingest_nanos = 0;
  for (const Agg* part : parts_) {
    count += part->count;
    e.ingest_nanos = std::max(e.ingest_nanos, part->max_ingest_nanos);
  }
  e.values.assign(options_.aggregates.size(), kNaN);

  for (size_t f = 0; f < field_specs_.size(); ++f) {
    // Merged running statistics (a copy only when there are several parts).
    if (parts_.size() == 1) {
      field_stats_[f] = &parts_[0]->field(f).stats;
    } else {
      models::RunningStats& m = merged_stats_[f];
      m = parts_[0]->field(f).stats;
      for (size_t p = 1; p < parts_.size(); ++p) m.Merge(parts_[p]->field(f).stats);
      field_stats_[f] = &m;
    }
    double& distinct = field_distinct_[f];
    distinct = kNaN;
    bool all_raw = true;  // every part still buffers this field's values
    for (const Agg* part : parts_) all_raw = all_raw && !part->field(f).sketches;
    if (all_raw && (field_specs_[f].distinct || !quantile_specs_[f].empty())) {
      // At most 16 values per part: the exact answers from one sorted copy. HashDouble is a
      // bijection of the canonical value (-0.0 = 0.0, one NaN), so counting distinct values
      // by == among the sorted non-NaN ones, plus one for any NaN, equals counting distinct
      // hashes.
      values_scratch_.clear();
      bool any_nan = false;
      for (const Agg* part : parts_) {
        for (double x : part->field(f).raw) {
          if (std::isnan(x)) {
            any_nan = true;
          } else {
            values_scratch_.push_back(x);
          }
        }
      }
      std::sort(values_scratch_.begin(), values_scratch_.end());
      const auto n = static_cast<int64_t>(values_scratch_.size());
      if (field_specs_[f].distinct) {
        size_t unique = any_nan ? 1 : 0;
        for (size_t i = 0; i < values_scratch_.size(); ++i) {
          unique += (i == 0 || values_scratch_[i] != values_scratch_[i - 1]) ? 1 : 0;
        }
        distinct = static_cast<double>(unique);
      }
      for (size_t a : quantile_specs_[f]) {
        const double q = options_.aggregates[a].q;
        if (n == 0) continue;  // NaN
        const int64_t rank = q <= 0 ? 1 : q >= 1 ? n : models::QuantileSketch::TargetRank(q, n);
        e.values[a] = values_scratch_[static_cast<size_t>(rank - 1)];
      }
      continue;
    }
    if (field_specs_[f].distinct) {
      if (parts_.size() == 1) {
        distinct = parts_[0]->field(f).sketches->distinct->Estimate();
      } else {
        if (!hll_scratch_) hll_scratch_.emplace(options_.hll_precision);
        hll_scratch_->Clear();
        for (const Agg* part : parts_) {
          const FieldAgg& fa = part->field(f);
          if (fa.sketches) {
            hll_scratch_->Merge(*fa.sketches->distinct).IgnoreError();  // same precision
          } else {
            for (double x : fa.raw) hll_scratch_->AddDouble(x);
          }
        }
        distinct = hll_scratch_->Estimate();
      }
    }
    if (!quantile_specs_[f].empty()) {
      // A query over the union of the parts' items (the raw values have weight 1); the same
      // walk as QuantileSketch::Quantile, one sort for all of this field's quantiles. (All
      // raw: answered above.)
      items_scratch_.clear();
      int64_t n = 0;
      double lo = std::numeric_limits<double>::infinity();
      double hi = -std::numeric_limits<double>::infinity();
      for (const Agg* part : parts_) {
        const FieldAgg& fa = part->field(f);
        if (fa.sketches) {
          const models::QuantileSketch& q = *fa.sketches->quantiles;
          if (q.empty()) continue;
          n += q.count();
          lo = std::min(lo, q.min());
          hi = std::max(hi, q.max());
          q.AppendWeightedItems(&items_scratch_);
        } else {
          for (double x : fa.raw) {
            if (std::isnan(x)) continue;
            ++n;
            lo = std::min(lo, x);
            hi = std::max(hi, x);
            items_scratch_.emplace_back(x, 1);
          }
        }
      }
      bool sorted = false;
      for (size_t a : quantile_specs_[f]) {
        const double q = options_.aggregates[a].q;
        double v = kNaN;
        if (n == 0) {
          v = kNaN;
        } else if (q <= 0) {
          v = lo;
        } else if (q >= 1) {
          v = hi;
        } else {
          if (!sorted) {
            std::sort(items_scratch_.begin(), items_scratch_.end());
            sorted = true;
          }
          const int64_t target = models::QuantileSketch::TargetRank(q, n);
          int64_t cumulative = 0;
          v = items_scratch_.back().first;
          for (const auto& [x, weight] : items_scratch_) {
            cumulative += weight;
            if (cumulative >= target) {
              v = x;
              break;
            }
          }
        }
        e.values[a] = v;
      }
    }
  }
  for (size_t a = 0; a < plan_.size(); ++a) {
    const auto [fn, f] = plan_[a];
    double& v = e.values[a];
    if (f < 0) {
      v = static_cast<double>(count);
      continue;
    }
    const models::RunningStats* s = field_stats_[static_cast<size_t>(f)];
    switch (fn) {
      case AggregateFn::kCount: v = static_cast<double>(s->count()); break;
      case AggregateFn::kSum: v = s->sum(); break;
      case AggregateFn::kMean: v = s->mean(); break;
      case AggregateFn::kMin: v = s->min(); break;
      case AggregateFn::kMax: v = s->max(); break;
      case AggregateFn::kVariance: v = s->variance(); break;
      case AggregateFn::kStddev: v = s->stddev(); break;
      case AggregateFn::kFirst: v = s->first(); break;
      case AggregateFn::kLast: v = s->last(); break;
      case AggregateFn::kDistinctCount: v = std::round(field_distinct_[static_cast<size_t>(f)]); break;
      case AggregateFn::kQuantile: break;  // above
    }
  }
  const bool update = !early && w.emitted_final;
  // "window":{"start":S,"end":E,"update":U,"early":X}; results of one window for many keys
  // come together, so the four variants of the current window are cached.
  if (annotations_[0].empty() || annotation_start_ != w.start || annotation_end_ != w.end) {
    annotation_start_ = w.start;
    annotation_end_ = w.end;
    std::string prefix = "\"window\":{\"start\":";
    AppendInt(prefix, w.start);
    prefix += ",\"end\":";
    AppendInt(prefix, w.end);
    for (int variant = 0; variant < 4; ++variant) {
      annotations_[variant] = prefix;
      annotations_[variant] += (variant & 2) != 0 ? ",\"update\":true" : ",\"update\":false";
      annotations_[variant] += (variant & 1) != 0 ? ",\"early\":true}" : ",\"early\":false}";
    }
  }
  e.annotations = annotations_[(update ? 2 : 0) + (early ? 1 : 0)];
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
  if (options_.early_every_ms > 0) w.last_emit_ms = clock_.NowMillis();
  MarkDirty(key, ks);
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

void WindowOperator::DropDeadPanes(KeyState& ks, int64_t watermark) const {
  // A pane's last window starts at the last window start at or before the pane's start.
  // Dead panes are released in place and the vector compacted every other drop.
  while (ks.first_pane < ks.panes.size() &&
         FloorDiv(ks.panes[ks.first_pane].start, slide_ms_) * slide_ms_ + options_.size_ms +
                 options_.allowed_lateness_ms <=
             watermark) {
    Agg& dead = ks.panes[ks.first_pane].agg;  // release its memory; the slot goes at compaction
    for (FieldAgg& fa : dead.head) {
      fa.raw.clear();
      fa.sketches.reset();
    }
    std::vector<FieldAgg>().swap(dead.tail);
    ++ks.first_pane;
  }
  if (ks.first_pane == ks.panes.size()) {
    ks.panes.clear();
    ks.first_pane = 0;
  } else if (ks.first_pane >= 2) {
    ks.panes.erase(ks.panes.begin(), ks.panes.begin() + static_cast<ptrdiff_t>(ks.first_pane));
    ks.first_pane = 0;
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
  // Due windows fire in (time, key hash, key, start) order whatever the order they were created
  // in (so a restored operator emits as the original would).
  while (!fire_timers_.empty() && fire_timers_.begin()->first <= wm) {
    auto node = fire_timers_.extract(fire_timers_.begin());
    fire_bucket_ = nullptr;
    const int64_t time = node.key();
    SortKeys(node.mapped());
    // Keys come in hash order, i.e. scattered in memory: the next key is looked up and its
    // state prefetched before the current one emits, so the loads overlap that work.
    auto next = keys_.end();
    // A hint only: the key's windows and at most 4 KiB of its live panes (a 1 min/10 s
    // window's are ~2.5 KiB).
    auto prefetch = [](const KeyState& ks) {
      auto lines = [](const void* data, size_t bytes) {
        const char* p = static_cast<const char*>(data);
        for (size_t off = 0; off < std::min<size_t>(bytes, 4096); off += 64) {
          __builtin_prefetch(p + off);
        }
      };
      lines(ks.windows.data(), ks.windows.size() * sizeof(Window));
      if (ks.first_pane < ks.panes.size()) {
        lines(ks.panes.data() + ks.first_pane, (ks.panes.size() - ks.first_pane) * sizeof(Pane));
      }
    };
    for (size_t idx = 0; idx < order_.size(); ++idx) {
      const std::string& key = *order_[idx].second;
      if (idx > 0 && order_[idx - 1].first == order_[idx].first &&
          *order_[idx - 1].second == key) {
        continue;  // duplicate
      }
      auto it = next != keys_.end() && next->first == key ? next : keys_.find(key);
      next = keys_.end();
      if (idx + 1 < order_.size() && *order_[idx + 1].second != key) {
        next = keys_.find(*order_[idx + 1].second);  // not `it`: Purge below may erase that
        if (next != keys_.end()) prefetch(next->second);
      }
      if (it == keys_.end()) continue;
      for (Window& w : it->second.windows) {
        if (w.end == time && !w.closed) EmitWindow(it->first, it->second, w, false, out);
      }
      if (options_.allowed_lateness_ms == 0) Purge(it, time);
    }
  }
  while (!purge_timers_.empty() && purge_timers_.begin()->first <= wm) {
    auto node = purge_timers_.extract(purge_timers_.begin());
    purge_bucket_ = nullptr;
    const int64_t time = node.key();
    for (const std::string& key : node.mapped()) {  // no output: any order
      auto it = keys_.find(key);
      if (it != keys_.end()) Purge(it, time);
    }
  }
}

void WindowOperator::Purge(std::unordered_map<std::string, KeyState>::iterator it, int64_t time) {
  KeyState& ks = it->second;
  const size_t before_size = ks.windows.size();
  std::erase_if(ks.windows, [&](const Window& x) {
    return x.end + options_.allowed_lateness_ms <= time;
  });
  if (ks.windows.size() == before_size) return;  // stale (a session that merged)
  DropDeadPanes(ks, time);
  MarkDirty(it->first, ks);
  // No window left: every pane's last window expired too.
  if (ks.windows.empty()) keys_.erase(it);
}

void WindowOperator::SortKeys(const std::vector<std::string>& keys) {
  // By (hash, key): hashes are uniform, so distribute by their top bits, then one insertion
  // sort pass fixes the few inversions left within each range. Same order as a full sort.
  order_.clear();
  for (const std::string& key : keys) order_.emplace_back(std::hash<std::string>{}(key), &key);
  auto less = [](const std::pair<size_t, const std::string*>& x,
                 const std::pair<size_t, const std::string*>& y) {
    return x.first != y.first ? x.first < y.first : *x.second < *y.second;
  };
  const size_t n = order_.size();
  if (n >= 64) {
    int bits = 6;
    while (bits < 16 && (size_t{1} << bits) < n) ++bits;
    const int shift = static_cast<int>(sizeof(size_t) * 8) - bits;
    counts_.assign((size_t{1} << bits) + 1, 0);
    for (const auto& e : order_) ++counts_[(e.first >> shift) + 1];
    for (size_t b = 1; b < counts_.size(); ++b) counts_[b] += counts_[b - 1];
    order_scratch_.resize(n);
    for (const auto& e : order_) order_scratch_[counts_[e.first >> shift]++] = e;
    order_.swap(order_scratch_);
  }
  for (size_t i = 1; i < n; ++i) {
    auto x = order_[i];
    size_t j = i;
    for (; j > 0 && less(x, order_[j - 1]); --j) order_[j] = order_[j - 1];
    order_[j] = x;
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
        EmitWindow(key, state, w, /*early=*/true, out);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Snapshots. Format 2, per key:
//   u8 version, varint windows, per window: i64 start, i64 end, u8 flags (1 closed, 2 emitted
//   final, 4 changed, 8 uses panes), i64 events_since_emit, i64 last_emit_ms, and unless it uses
//   panes: i64 count, i64 max_ingest_nanos, fields; then varint panes, per pane: i64 start,
//   i64 count, i64 max_ingest_nanos, fields.
// Format 1 (read only), per key: u8 version, varint windows, per window: i64 start, i64 end,
//   i64 count, i64 max_ingest_nanos, u8 flags (1 closed, 2 emitted final, 4 changed),
//   i64 events_since_emit, i64 last_emit_ms, fields.
// fields: varint count, per field: RunningStats, u8 has (1 HLL, 2 KLL), the sketches; in format
//   2 also has = 4: a field still buffering, then its raw values (varint n, n doubles).
// The watermark key is the same in both: u8 version, tracker, seq, counters.

void WindowOperator::SaveFields(const Agg& agg, ByteWriter& w) const {
  w.PutVarint(field_specs_.size());
  for (size_t f = 0; f < field_specs_.size(); ++f) {
    const FieldAgg& fa = agg.field(f);
    fa.stats.Save(w);
    const bool distinct = field_specs_[f].distinct;
    const bool quantiles = field_specs_[f].quantiles;
    if ((distinct || quantiles) && !fa.sketches) {  // still buffering: the raw values
      w.Put<uint8_t>(4);
      w.PutVector(std::vector<double>(fa.raw.begin(), fa.raw.end()));
      continue;
    }
    w.Put<uint8_t>(static_cast<uint8_t>((distinct ? 1 : 0) | (quantiles ? 2 : 0)));
    if (distinct) fa.sketches->distinct->Save(w);
    if (quantiles) fa.sketches->quantiles->Save(w);
  }
}

Status WindowOperator::LoadFields(ByteReader& r, uint8_t version, Agg* agg) const {
  uint64_t fields = 0;
  if (!r.GetVarint(&fields)) return Status::Corruption("truncated window");
  if (fields != field_specs_.size()) {
    return Status::Corruption("window has " + std::to_string(fields) +
                              " fields, the configuration " +
                              std::to_string(field_specs_.size()));
  }
  {
    Agg fresh = NewAgg();
    fresh.count = agg->count;
    fresh.max_ingest_nanos = agg->max_ingest_nanos;
    *agg = std::move(fresh);
  }
  for (size_t f = 0; f < fields; ++f) {
    FieldAgg& fa = agg->field(f);
    uint8_t has = 0;
    if (!fa.stats.Load(r) || !r.Get(&has)) return Status::Corruption("truncated aggregate");
    if (has == 4 && version >= 2) {
      if (!field_specs_[f].distinct && !field_specs_[f].quantiles) {
        return Status::Corruption("aggregates do not match the configuration");
      }
      std::vector<double> raw;
      if (!r.GetVector(&raw, kRawValues)) return Status::Corruption("truncated raw values");
      for (double x : raw) fa.raw.push_back(x);
      continue;
    }
    auto sketches = std::make_unique<Sketches>();
    if ((has & 1) != 0) {
      auto hll = models::HyperLogLog::Load(r);
      if (!hll.ok()) return Status::Corruption(hll.status().message());
      sketches->distinct.emplace(std::move(hll).value());
    }
    if ((has & 2) != 0) {
      auto q = models::QuantileSketch::Load(r);
      if (!q.ok()) return Status::Corruption(q.status().message());
      sketches->quantiles.emplace(std::move(q).value());
    }
    if (sketches->distinct.has_value() != field_specs_[f].distinct ||
        sketches->quantiles.has_value() != field_specs_[f].quantiles) {
      return Status::Corruption("aggregates do not match the configuration");
    }
    if (has != 0) fa.sketches = std::move(sketches);
  }
  return Status::Ok();
}

void WindowOperator::SaveKey(const KeyState& state, std::string* out) const {
  ByteWriter w(out);
  w.Put<uint8_t>(kFormatVersion);
  w.PutVarint(state.windows.size());
  for (const Window& win : state.windows) {
    w.Put(win.start);
    w.Put(win.end);
    w.Put<uint8_t>(static_cast<uint8_t>((win.closed ? 1 : 0) | (win.emitted_final ? 2 : 0) |
                                        (win.changed ? 4 : 0) | (win.uses_panes ? 8 : 0)));
    w.Put(win.events_since_emit);
    w.Put(win.last_emit_ms);
    if (!win.uses_panes) {
      w.Put(win.agg->count);
      w.Put(win.agg->max_ingest_nanos);
      SaveFields(*win.agg, w);
    }
  }
  w.PutVarint(state.panes.size() - state.first_pane);
  for (size_t idx = state.first_pane; idx < state.panes.size(); ++idx) {
    const Pane& pane = state.panes[idx];
    w.Put(pane.start);
    w.Put(pane.agg.count);
    w.Put(pane.agg.max_ingest_nanos);
    SaveFields(pane.agg, w);
  }
}

void WindowOperator::SnapshotDirty(
    const std::function<void(std::string_view key, std::string snapshot)>& sink) {
  std::sort(dirty_keys_.begin(), dirty_keys_.end());
  dirty_keys_.erase(std::unique(dirty_keys_.begin(), dirty_keys_.end()), dirty_keys_.end());
  for (const std::string& key : dirty_keys_) {
    std::string snapshot;
    auto it = keys_.find(key);
    if (it == keys_.end()) {
      SaveKey(KeyState{}, &snapshot);
    } else {
      SaveKey(it->second, &snapshot);
      it->second.dirty = false;
    }
    sink(key, std::move(snapshot));
  }
  dirty_keys_.clear();
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

Result<WindowOperator::KeyState> WindowOperator::LoadKey(uint8_t version, ByteReader& r) const {
  uint64_t n = 0;
  if (!r.GetVarint(&n) || n > r.remaining()) return Status::Corruption("bad window count");
  KeyState state;
  for (uint64_t idx = 0; idx < n; ++idx) {
    Window w;
    w.agg = std::make_unique<Agg>();
    uint8_t flags = 0;
    if (version == 1) {
      if (!r.Get(&w.start) || !r.Get(&w.end) || !r.Get(&w.agg->count) ||
          !r.Get(&w.agg->max_ingest_nanos) || !r.Get(&flags) || !r.Get(&w.events_since_emit) ||
          !r.Get(&w.last_emit_ms)) {
        return Status::Corruption("truncated window");
      }
      flags &= 7;
    } else if (!r.Get(&w.start) || !r.Get(&w.end) || !r.Get(&flags) ||
               !r.Get(&w.events_since_emit) || !r.Get(&w.last_emit_ms)) {
      return Status::Corruption("truncated window");
    }
    w.closed = (flags & 1) != 0;
    w.emitted_final = (flags & 2) != 0;
    w.changed = (flags & 4) != 0;
    w.uses_panes = (flags & 8) != 0;
    if (w.uses_panes && options_.kind != WindowKind::kHopping) {
      return Status::Corruption("a window over panes in a " +
                                std::string(options_.kind == WindowKind::kSession ? "session"
                                                                                  : "tumbling") +
                                " operator");
    }
    if (w.uses_panes) w.agg.reset();
    if (!w.uses_panes) {
      if (version != 1 && (!r.Get(&w.agg->count) || !r.Get(&w.agg->max_ingest_nanos))) {
        return Status::Corruption("truncated window");
      }
      OSPREY_RETURN_IF_ERROR(LoadFields(r, version, w.agg.get()));
    }
    if (w.end <= w.start || (!state.windows.empty() && state.windows.back().start >= w.start)) {
      return Status::Corruption("windows out of order");
    }
    state.windows.push_back(std::move(w));
  }
  if (version == 1) return state;
  if (!r.GetVarint(&n) || n > r.remaining()) return Status::Corruption("bad pane count");
  if (n > 0 && options_.kind != WindowKind::kHopping) {
    return Status::Corruption("panes outside a hopping operator");
  }
  for (uint64_t idx = 0; idx < n; ++idx) {
    Pane p;
    if (!r.Get(&p.start) || !r.Get(&p.agg.count) || !r.Get(&p.agg.max_ingest_nanos)) {
      return Status::Corruption("truncated pane");
    }
    OSPREY_RETURN_IF_ERROR(LoadFields(r, version, &p.agg));
    if (FloorDiv(p.start, pane_ms_) * pane_ms_ != p.start ||
        (!state.panes.empty() && state.panes.back().start >= p.start)) {
      return Status::Corruption("panes out of order or misaligned");
    }
    state.panes.push_back(std::move(p));
  }
  return state;
}

Status WindowOperator::Restore(std::string_view key, std::string_view snapshot) {
  auto corrupt = [&](const std::string& what) {
    return Status::Corruption("operator '" + name_ + "' key '" + std::string(key) + "': " + what);
  };
  ByteReader r(snapshot);
  uint8_t version = 0;
  if (!r.Get(&version)) return corrupt("empty snapshot");
  if (version < 1 || version > kFormatVersion) {
    return corrupt("snapshot format version " + std::to_string(version) +
                   " is not supported (this build reads 1.." + std::to_string(kFormatVersion) + ")");
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
  Result<KeyState> loaded = LoadKey(version, r);
  if (!loaded.ok()) return corrupt(loaded.status().message());
  if (!r.done()) return corrupt("trailing bytes");
  KeyState state = std::move(loaded).value();
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
