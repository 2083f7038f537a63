#include "config/base/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "config/base/check.h"

namespace osprey {

void Gauge::Add(double v) {
  double cur = value_.load(std::memory_order_relaxed);
  while (!value_.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
  }
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      buckets_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1)) {
  for (size_t idx = 0; idx <= bounds_.size(); ++idx) buckets_[idx].store(0);
}

void Histogram::Observe(double v) {
  size_t idx = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  buckets_[idx].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  double cur = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
  }
}

std::vector<uint64_t> Histogram::BucketCounts() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  for (size_t idx = 0; idx < out.size(); ++idx) out[idx] = buckets_[idx].load();
  return out;
}

MetricsRegistry::Family& MetricsRegistry::GetFamily(const std::string& name,
                                                    const std::string& help, Kind kind) {
  auto it = families_.find(name);
  if (it == families_.end()) {
    it = families_.emplace(name, Family{kind, help, {}, {}, {}}).first;
  }
  OSPREY_CHECK(it->second.kind == kind) << "metric " << name << " registered with two kinds";
  return it->second;
}

Counter& MetricsRegistry::GetCounter(const std::string& name, const std::string& help,
                                     const Labels& labels) {
  MutexLock lock(&mu_);
  auto& slot = GetFamily(name, help, Kind::kCounter).counters[labels];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

Gauge& MetricsRegistry::GetGauge(const std::string& name, const std::string& help,
                                 const Labels& labels) {
  MutexLock lock(&mu_);
  auto& slot = GetFamily(name, help, Kind::kGauge).gauges[labels];
  if (!slot) slot = std::make_unique<Gauge>();
  return *slot;
}

Histogram& MetricsRegistry::GetHistogram(const std::string& name, const std::string& help,
                                         const std::vector<double>& bounds,
                                         const Labels& labels) {
  MutexLock lock(&mu_);
  auto& slot = GetFamily(name, help, Kind::kHistogram).histograms[labels];
  if (!slot) slot = std::make_unique<Histogram>(bounds);
  return *slot;
}

int MetricsRegistry::AddCollector(std::function<void(MetricsRegistry&)> collector) {
  MutexLock lock(&mu_);
  int id = next_collector_id_++;
  collectors_.emplace(id, std::move(collector));
  return id;
}

void MetricsRegistry::RemoveCollector(int id) {
  std::lock_guard<std::mutex> render_lock(render_mu_);
  MutexLock lock(&mu_);
  collectors_.erase(id);
}

void MetricsRegistry::RemoveGauge(const std::string& name, const Labels& labels) {
  MutexLock lock(&mu_);
  auto it = families_.find(name);
  if (it != families_.end()) it->second.gauges.erase(labels);
}

namespace {

void AppendNumber(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    char buf[32];
    auto res = std::to_chars(buf, buf + sizeof(buf), v);
    out.append(buf, res.ptr);
  }
}

void AppendEscapedLabelValue(std::string& out, const std::string& v) {
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

void AppendLabels(std::string& out, const Labels& labels, const char* extra_key = nullptr,
                  const std::string& extra_value = {}) {
  if (labels.empty() && extra_key == nullptr) return;
  out += '{';
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out += ',';
    first = false;
    out += k;
    out += "=\"";
    AppendEscapedLabelValue(out, v);
    out += '"';
  }
  if (extra_key != nullptr) {
    if (!first) out += ',';
    out += extra_key;
    out += "=\"";
    out += extra_value;
    out += '"';
  }
  out += '}';
}

}  // namespace

std::string MetricsRegistry::Render() {
  // Collectors run under render_mu_ so RemoveCollector cannot race a running collector.
  std::lock_guard<std::mutex> render_lock(render_mu_);
  std::vector<std::function<void(MetricsRegistry&)>> collectors;
  {
    MutexLock lock(&mu_);
    for (const auto& [id, c] : collectors_) collectors.push_back(c);
  }
  for (auto& c : collectors) c(*this);

  MutexLock lock(&mu_);
  std::string out;
  out.reserve(4096);
  for (const auto& [name, fam] : families_) {
    out += "# HELP " + name + " " + fam.help + "\n";
    switch (fam.kind) {
      case Kind::kCounter:
        out += "# TYPE " + name + " counter\n";
        for (const auto& [labels, c] : fam.counters) {
          out += name;
          AppendLabels(out, labels);
          out += ' ';
          out += std::to_string(c->value());
          out += '\n';
        }
        break;
      case Kind::kGauge:
        out += "# TYPE " + name + " gauge\n";
        for (const auto& [labels, g] : fam.gauges) {
          out += name;
          AppendLabels(out, labels);
          out += ' ';
          AppendNumber(out, g->value());
          out += '\n';
        }
        break;
      case Kind::kHistogram:
        out += "# TYPE " + name + " histogram\n";
        for (const auto& [labels, h] : fam.histograms) {
          auto counts = h->BucketCounts();
          uint64_t cumulative = 0;
          for (size_t idx = 0; idx < counts.size(); ++idx) {
            cumulative += counts[idx];
            std::string le;
            if (idx < h->bounds().size()) {
              AppendNumber(le, h->bounds()[idx]);
            } else {
              le = "+Inf";
            }
            out += name + "_bucket";
            AppendLabels(out, labels, "le", le);
            out += ' ' + std::to_string(cumulative) + '\n';
          }
          out += name + "_sum";
          AppendLabels(out, labels);
          out += ' ';
          AppendNumber(out, h->sum());
          out += '\n';
          out += name + "_count";
          AppendLabels(out, labels);
          out += ' ' + std::to_string(cumulative) + '\n';
        }
        break;
    }
  }
  return out;
}

std::vector<double> LatencyBucketsSeconds() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   5.0,  10.0};
}

}  // namespace osprey
