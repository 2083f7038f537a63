// A small Prometheus metrics registry: counters, gauges and histograms with fixed label sets,
// rendered in the Prometheus text exposition format (version 0.0.4).
// Thread-safe: metric handles are stable for the registry's lifetime and updated lock-free;
// creation and rendering take the registry's mutex.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "config/base/mutex.h"

namespace osprey {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void Inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double v);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Cumulative histogram over fixed upper bounds (an implicit +Inf bucket is added).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double v);
  const std::vector<double>& bounds() const { return bounds_; }
  // Per-bucket (non-cumulative) counts, bounds().size() + 1 entries.
  std::vector<uint64_t> BucketCounts() const;
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  const std::vector<double> bounds_;  // Constant after construction
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

class MetricsRegistry {
 public:
  // Returns the metric with this name and labels, creating it (and its family) on first use.
  // REQUIRES: one name is used for one kind of metric only.
  Counter& GetCounter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge& GetGauge(const std::string& name, const std::string& help, const Labels& labels = {});
  Histogram& GetHistogram(const std::string& name, const std::string& help,
                          const std::vector<double>& bounds, const Labels& labels = {});

  // A collector runs at render time to refresh gauges that are cheaper to read on demand
  // (consumer lag). It may call GetGauge but must not call Render.
  // Returns an id for RemoveCollector; remove a collector before what it reads is destroyed.
  int AddCollector(std::function<void(MetricsRegistry&)> collector);
  void RemoveCollector(int id);
  // Drops one labelled gauge (a revoked partition's lag), so it is no longer rendered.
  void RemoveGauge(const std::string& name, const Labels& labels);

  // Prometheus text format, families sorted by name.
  std::string Render();

 private:
  enum class Kind { kCounter, kGauge, kHistogram };
  struct Family {
    Kind kind;
    std::string help;
    std::map<Labels, std::unique_ptr<Counter>> counters;
    std::map<Labels, std::unique_ptr<Gauge>> gauges;
    std::map<Labels, std::unique_ptr<Histogram>> histograms;
  };
  Family& GetFamily(const std::string& name, const std::string& help, Kind kind)
      OSPREY_REQUIRES(mu_);

  std::mutex render_mu_;  // held while collectors run; RemoveCollector waits on it
  Mutex mu_;
  std::map<std::string, Family> families_ OSPREY_GUARDED_BY(mu_);
  std::map<int, std::function<void(MetricsRegistry&)>> collectors_ OSPREY_GUARDED_BY(mu_);
  int next_collector_id_ OSPREY_GUARDED_BY(mu_) = 0;
};

// Latency buckets in seconds, 100 µs .. 10 s.
std::vector<double> LatencyBucketsSeconds();

}  // namespace osprey
