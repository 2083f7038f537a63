#include "config/window_options.h"

#include <cmath>
#include <cstdio>

namespace osprey::config {

namespace {

constexpr int64_t kDayMs = 24LL * 3600 * 1000;

Status OutOfRange(std::string_view field, std::string_view bound) {
  return Status::InvalidArgument(std::string(field) + ": " + std::string(bound));
}

// "0.99" -> "99", "0.999" -> "99.9", "0.5" -> "50", "1" -> "100".
std::string PercentileLabel(double q) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", q * 100.0);
  return buf;
}

}  // namespace

std::string_view AggregateFnName(AggregateFn fn) {
  switch (fn) {
    case AggregateFn::kCount: return "count";
    case AggregateFn::kSum: return "sum";
    case AggregateFn::kMean: return "mean";
    case AggregateFn::kMin: return "min";
    case AggregateFn::kMax: return "max";
    case AggregateFn::kVariance: return "variance";
    case AggregateFn::kStddev: return "stddev";
    case AggregateFn::kFirst: return "first";
    case AggregateFn::kLast: return "last";
    case AggregateFn::kDistinctCount: return "distinct";
    case AggregateFn::kQuantile: return "quantile";
  }
  return "unknown";
}

std::string AggregateSpec::OutputName() const {
  if (fn == AggregateFn::kCount && field.empty()) return "count";
  if (fn == AggregateFn::kQuantile) return field + "_p" + PercentileLabel(q);
  return field + "_" + std::string(AggregateFnName(fn));
}

Status WindowOptions::Validate() const {
  constexpr int64_t kMaxSizeMs = 30 * kDayMs;
  if (kind != WindowKind::kSession && (size_ms < 1 || size_ms > kMaxSizeMs)) {
    return OutOfRange("size_ms", "must be in 1..2592000000 (30 days)");
  }
  if (kind == WindowKind::kHopping) {
    if (slide_ms < 1 || slide_ms > size_ms) return OutOfRange("slide_ms", "must be in 1..size_ms");
    if (size_ms / slide_ms > 1000) {
      return OutOfRange("slide_ms", "size_ms / slide_ms must be <= 1000 (windows per event)");
    }
  }
  if (kind == WindowKind::kSession && (gap_ms < 1 || gap_ms > kMaxSizeMs)) {
    return OutOfRange("gap_ms", "must be in 1..2592000000 (30 days)");
  }
  if (max_out_of_orderness_ms < 0 || max_out_of_orderness_ms > kDayMs) {
    return OutOfRange("max_out_of_orderness_ms", "must be in 0..86400000 (1 day)");
  }
  if (idle_timeout_ms < 0 || idle_timeout_ms > kDayMs) {
    return OutOfRange("idle_timeout_ms", "must be in 0..86400000 (1 day)");
  }
  if (allowed_lateness_ms < 0 || allowed_lateness_ms > kMaxSizeMs) {
    return OutOfRange("allowed_lateness_ms", "must be in 0..2592000000 (30 days)");
  }
  if (early_every_events < 0 || early_every_events > 1'000'000'000) {
    return OutOfRange("early_every_events", "must be in 0..1000000000");
  }
  if (early_every_ms < 0 || early_every_ms > kDayMs) {
    return OutOfRange("early_every_ms", "must be in 0..86400000 (1 day)");
  }
  if (emit == EmitMode::kEarly && early_every_events == 0 && early_every_ms == 0) {
    return OutOfRange("emit", "early needs early_every_events or early_every_ms > 0");
  }
  if (aggregates.empty()) return OutOfRange("aggregates", "at least one is required");
  if (aggregates.size() > 256) return OutOfRange("aggregates", "at most 256");
  for (size_t idx = 0; idx < aggregates.size(); ++idx) {
    const AggregateSpec& a = aggregates[idx];
    std::string path = "aggregates[" + std::to_string(idx) + "]";
    if (a.field.empty() && a.fn != AggregateFn::kCount) {
      return OutOfRange(path + ".field", "required for " + std::string(AggregateFnName(a.fn)));
    }
    if (a.fn == AggregateFn::kQuantile && !(a.q >= 0.0 && a.q <= 1.0)) {
      return OutOfRange(path + ".q", "must be in [0, 1]");
    }
    for (size_t prev = 0; prev < idx; ++prev) {
      if (aggregates[prev].OutputName() == a.OutputName()) {
        return OutOfRange(path, "duplicate output '" + a.OutputName() + "'");
      }
    }
  }
  if (hll_precision < 12 || hll_precision > 14) {
    return OutOfRange("hll_precision", "must be in 12..14");
  }
  if (quantile_k < 16 || quantile_k > 4096) return OutOfRange("quantile_k", "must be in 16..4096");
  return Status::Ok();
}

Status HotspotOptions::Validate() const {
  if (window_size < 100 || window_size > 1000) {
    return OutOfRange("window_size", "must be in 100..1000");
  }
  if (!(scan_radius > 0) || !std::isfinite(scan_radius) || scan_radius >= 1e300) {
    return OutOfRange("scan_radius", "must be finite and > 0");
  }
  if (min_points < 2 || min_points > window_size) {
    return OutOfRange("min_points", "must be in 2..window_size");
  }
  if (!(alert_density >= 0) || !std::isfinite(alert_density)) {
    return OutOfRange("alert_density", "must be finite and >= 0");
  }
  if (max_dimensions < 1 || max_dimensions > 8) {
    return OutOfRange("max_dimensions", "must be in 1..8");
  }
  return Status::Ok();
}

}  // namespace osprey::config
