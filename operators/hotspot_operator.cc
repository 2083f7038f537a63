#include "operators/hotspot_operator.h"

#include <algorithm>
#include <cmath>
#include <span>

#include "config/base/json_writer.h"

namespace osprey::operators {

Result<std::unique_ptr<HotspotOperator>> HotspotOperator::Create(
    std::string name, const config::HotspotOptions& options) {
  Status st = options.Validate();
  if (!st.ok()) return Status::InvalidArgument("hotspot operator '" + name + "': " + st.message());
  return std::unique_ptr<HotspotOperator>(new HotspotOperator(std::move(name), options));
}

HotspotOperator::HotspotOperator(std::string name, const config::HotspotOptions& options)
    : name_(std::move(name)), options_(options) {}

void HotspotOperator::Process(Event event, Emitter& out) {
  static const std::string kGlobal(kGlobalKey);
  const std::string& key = options_.per_key ? event.key : kGlobal;
  auto it = detectors_.find(key);
  if (it == detectors_.end()) {
    int dims = std::min<int>(static_cast<int>(event.values.size()), options_.max_dimensions);
    if (dims < 1) {
      ++skipped_;
      out.Emit(std::move(event));
      return;
    }
    it = detectors_.emplace(key, models::HotspotDetector(options_, dims)).first;
  }
  models::HotspotDetector& detector = it->second;
  const auto dims = static_cast<size_t>(detector.dims());
  // Extra values beyond max_dimensions are ignored; otherwise the count must match.
  bool usable = event.values.size() == dims ||
                (detector.dims() == options_.max_dimensions && event.values.size() > dims);
  for (size_t d = 0; usable && d < dims; ++d) usable = std::isfinite(event.values[d]);
  if (!usable) {
    ++skipped_;
    out.Emit(std::move(event));
    return;
  }
  detector.Add(std::span<const double>(event.values.data(), dims));
  dirty_.insert(key);
  const std::vector<models::Hotspot>& hotspots = detector.Evaluate();

  std::string& a = event.annotations;
  if (!a.empty()) a += ',';
  a += "\"hotspots\":";
  JsonWriter w(&a);
  w.BeginArray();
  for (const models::Hotspot& h : hotspots) {
    w.BeginObject().Key("density").Double(h.density).Key("minValues").BeginArray();
    for (double v : h.min_values) w.Double(v);
    w.EndArray().Key("maxValues").BeginArray();
    for (double v : h.max_values) w.Double(v);
    w.EndArray().Key("count").Int(h.count).EndObject();
  }
  w.EndArray();
  if (detector.new_alert()) {
    event.alert = true;
    ++alerts_;
  }
  out.Emit(std::move(event));
}

void HotspotOperator::SnapshotDirty(
    const std::function<void(std::string_view key, std::string snapshot)>& sink) {
  for (const std::string& key : dirty_) {
    auto it = detectors_.find(key);
    if (it == detectors_.end()) continue;
    std::string snapshot;
    snapshot.push_back(static_cast<char>(kFormatVersion));
    it->second.Save(&snapshot);
    sink(key, std::move(snapshot));
  }
  dirty_.clear();
}

Status HotspotOperator::Restore(std::string_view key, std::string_view snapshot) {
  auto corrupt = [&](const std::string& what) {
    return Status::Corruption("operator '" + name_ + "' key '" + std::string(key) + "': " + what);
  };
  if (snapshot.empty()) return corrupt("empty snapshot");
  if (static_cast<uint8_t>(snapshot[0]) != kFormatVersion) {
    return corrupt("snapshot format version " + std::to_string(static_cast<uint8_t>(snapshot[0])) +
                   " is not supported (this build reads " + std::to_string(kFormatVersion) + ")");
  }
  auto detector = models::HotspotDetector::Load(options_, snapshot.substr(1));
  if (!detector.ok()) return corrupt(detector.status().message());
  if (detector->dims() > options_.max_dimensions) return corrupt("more dimensions than configured");
  detectors_.insert_or_assign(std::string(key), std::move(detector).value());
  return Status::Ok();
}

}  // namespace osprey::operators
