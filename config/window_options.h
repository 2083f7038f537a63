// Options of the event-time window operator (operators/window_operator.h) and of the hot-spot
// operator (operators/hotspot_operator.h): plain structs with documented defaults and bounds.
// In YAML they are operators of type window and hotspots (config/loader.cc); the loader reports
// Validate()'s message at the field it names.
// Thread-compatible: built once, then only read.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/base/status.h"

namespace osprey::config {

enum class WindowKind {
  kTumbling,  // fixed, non-overlapping [k*size, (k+1)*size)
  kHopping,   // fixed size, a new window every slide: [k*slide, k*slide + size)
  kSession,   // per key, events at most gap_ms apart share a window
};

enum class TimeDomain {
  kEvent,       // the event's own timestamp, with watermarks
  kProcessing,  // the injected clock at arrival; never late
};

enum class LateEventPolicy {
  kDeadLetter,  // late events go to the late-events sink (a dead-letter topic)
  kDrop,        // late events are counted and dropped
};

enum class EmitMode {
  kOnClose,  // one final result when the watermark passes the window end (+ updates for late
             // events within allowed lateness)
  kEarly,    // also early (partial) results every early_every_events / early_every_ms
};

enum class AggregateFn {
  kCount,          // events in the window (field optional)
  kSum,            // compensated (Neumaier) sum
  kMean,           // Welford
  kMin,
  kMax,
  kVariance,       // population variance, Welford/Chan (numerically stable)
  kStddev,         // sqrt of kVariance
  kFirst,          // value of the earliest event by event time (ties: earliest arrival)
  kLast,           // value of the latest event by event time (ties: latest arrival)
  kDistinctCount,  // HyperLogLog estimate (models/sketch/hyperloglog.h)
  kQuantile,       // KLL sketch (models/sketch/quantile_sketch.h); exact below ~k values
};

// "count", "sum", "mean", "min", "max", "variance", "stddev", "first", "last", "distinct",
// "quantile".
std::string_view AggregateFnName(AggregateFn fn);

struct AggregateSpec {
  AggregateFn fn = AggregateFn::kCount;
  // Name of the value field aggregated (a name of the input Schema). Required except for
  // kCount, where empty means "events in the window".
  std::string field;
  // kQuantile only: the quantile. Range [0, 1]. Default: 0.5.
  double q = 0.5;

  // Output value name: "count", "<field>_count", "<field>_<fn>", quantiles "<field>_p99",
  // "<field>_p50", "<field>_p99.9"; distinct counts "<field>_distinct".
  std::string OutputName() const;
};

struct WindowOptions {
  // Window shape. Default: tumbling. Reloadable: no.
  WindowKind kind = WindowKind::kTumbling;
  // Window length, ms (tumbling, hopping). Range 1..30 days. Default: 60000. Reloadable: no.
  int64_t size_ms = 60'000;
  // Hopping only: distance between window starts, ms. Range 1..size_ms, and size_ms / slide_ms
  // ≤ 1000 (windows per event). Default: 10000. Reloadable: no.
  int64_t slide_ms = 10'000;
  // Session only: inactivity gap, ms. Range 1..30 days. Default: 300000. Reloadable: no.
  int64_t gap_ms = 300'000;
  // Which clock assigns windows. Default: event. Reloadable: no.
  TimeDomain time = TimeDomain::kEvent;
  // Event time: how far behind the largest timestamp seen on a source partition the watermark
  // of that partition trails, ms. Range 0..1 day. Default: 5000. Reloadable: no.
  int64_t max_out_of_orderness_ms = 5'000;
  // Event time: a partition without events for this long (processing time, ms) stops holding
  // the watermark back until it sends again. 0 = never idle. Range 0..1 day. Default: 60000.
  // Reloadable: no.
  int64_t idle_timeout_ms = 60'000;
  // Event time: how long after a window closed (by watermark) late events still update it and
  // re-emit it with "update":true, ms. Range 0..30 days. Default: 0. Reloadable: no.
  int64_t allowed_lateness_ms = 0;
  // What happens to events later than allowed_lateness_ms. They are counted either way.
  // Default: dead_letter. Reloadable: no.
  LateEventPolicy late_events = LateEventPolicy::kDeadLetter;
  // When results are emitted. Default: on_close. Reloadable: no.
  EmitMode emit = EmitMode::kOnClose;
  // kEarly: emit an open window's partial result after this many new events in it. 0 = off.
  // Range 0..1e9. Default: 0. Reloadable: no.
  int64_t early_every_events = 0;
  // kEarly: emit an open window's partial result when it changed and this much processing time
  // passed since its last emission, ms (checked on events and on Tick). 0 = off.
  // Range 0..1 day. Default: 0. Reloadable: no.
  int64_t early_every_ms = 0;
  // Aggregates computed per (key, window), output in this order. At least one; at most 256.
  // Default: none. Reloadable: no.
  std::vector<AggregateSpec> aggregates;
  // HyperLogLog precision (registers = 2^p; std. error 1.04 / sqrt(2^p): 1.6 % at 12, 0.8 % at
  // 14). Range 12..14. Default: 12. Reloadable: no.
  int hll_precision = 12;
  // KLL accuracy parameter k: larger is more accurate and bigger (see the error bound in
  // models/sketch/quantile_sketch.h; rank error ≤ 2 % at 200). Range 16..4096. Default: 200.
  // Reloadable: no.
  int quantile_k = 200;

  // OK, or InvalidArgument whose message starts with the offending field ("slide_ms: ...").
  Status Validate() const;
};

struct HotspotOptions {
  // Sliding window: the last this many records (per key when per_key). Range 100..1000.
  // Default: 1000. Reloadable: no.
  int window_size = 1000;
  // Neighbourhood radius (Euclidean, in value units; DBSCAN's ε). Range (0, 1e300), finite.
  // Default: 1. Reloadable: no.
  double scan_radius = 1.0;
  // A point is dense (a core point) with at least min_points - 1 neighbours within
  // scan_radius; hot spots with fewer than min_points points are not reported.
  // Range 2..window_size. Default: 20. Reloadable: no.
  int min_points = 20;
  // One detector per key instead of one over all keys. Default: false. Reloadable: no.
  bool per_key = false;
  // An output record is flagged as an alert when a hot spot with density above this appears
  // (density = points / box volume, see models/hotspots.h). 0 = never alert. Range ≥ 0.
  // Default: 0. Reloadable: no.
  double alert_density = 0;
  // Numeric dimensions considered: the event's values (all of them). At most this many.
  // Range 1..8. Default: 8. Reloadable: no.
  int max_dimensions = 8;

  Status Validate() const;
};

}  // namespace osprey::config
