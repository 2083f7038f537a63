#include "models/hotspots.h"

#include <algorithm>
#include <cmath>

#include "config/base/bytes.h"
#include "config/base/check.h"

namespace osprey::models {

size_t HotspotDetector::CellKeyHash::operator()(const CellKey& key) const {
  uint64_t h = 0x9e3779b97f4a7c15ULL;
  for (int64_t c : key) {
    h ^= static_cast<uint64_t>(c) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return static_cast<size_t>(h);
}

HotspotDetector::HotspotDetector(const config::HotspotOptions& options, int dims)
    : dims_(dims),
      window_size_(options.window_size),
      radius_(options.scan_radius),
      radius_sq_(options.scan_radius * options.scan_radius),
      min_points_(options.min_points),
      alert_density_(options.alert_density),
      coords_(static_cast<size_t>(options.window_size) * dims),
      slots_(static_cast<size_t>(options.window_size)) {
  OSPREY_CHECK(dims >= 1 && dims <= kMaxDims) << dims;
  OSPREY_CHECK(options.window_size >= 1 && options.scan_radius > 0 && options.min_points >= 1);
  size_t n_offsets = 1;
  for (int d = 0; d < dims; ++d) n_offsets *= 3;
  offsets_.resize(n_offsets);
  for (size_t idx = 0; idx < n_offsets; ++idx) {
    size_t rest = idx;
    CellKey& off = offsets_[idx];
    off.fill(0);
    for (int d = 0; d < dims; ++d) {
      off[d] = static_cast<int64_t>(rest % 3) - 1;
      rest /= 3;
    }
  }
  cell_index_.reserve(static_cast<size_t>(window_size_) * 2);
  queue_.reserve(static_cast<size_t>(window_size_));
}

HotspotDetector::CellKey HotspotDetector::KeyOf(const double* point) const {
  constexpr double kLimit = 4.0e18;
  CellKey key{};
  for (int d = 0; d < dims_; ++d) {
    double c = std::floor(point[d] / radius_);
    key[d] = static_cast<int64_t>(std::clamp(c, -kLimit, kLimit));
  }
  return key;
}

int32_t HotspotDetector::FindCell(const CellKey& key) const {
  auto it = cell_index_.find(key);
  return it == cell_index_.end() ? -1 : it->second;
}

int32_t HotspotDetector::CellFor(const CellKey& key) {
  auto [it, inserted] = cell_index_.try_emplace(key, -1);
  if (!inserted) return it->second;
  int32_t id;
  if (free_cells_.empty()) {
    id = static_cast<int32_t>(cells_.size());
    cells_.emplace_back();
  } else {
    id = free_cells_.back();
    free_cells_.pop_back();
  }
  it->second = id;
  cells_[id].key = key;
  cells_[id].adjacent.clear();
  CellKey other{};
  for (const CellKey& off : offsets_) {
    for (int d = 0; d < dims_; ++d) other[d] = key[d] + off[d];
    int32_t other_id = FindCell(other);
    if (other_id < 0) continue;
    cells_[id].adjacent.push_back(other_id);  // includes itself (zero offset)
    if (other_id != id) cells_[other_id].adjacent.push_back(id);
  }
  return id;
}

void HotspotDetector::ReleaseCell(int32_t cell_id) {
  Cell& cell = cells_[cell_id];
  for (int32_t other_id : cell.adjacent) {
    if (other_id == cell_id) continue;
    auto& adj = cells_[other_id].adjacent;
    auto it = std::find(adj.begin(), adj.end(), cell_id);
    *it = adj.back();
    adj.pop_back();
  }
  cell.adjacent.clear();
  cell_index_.erase(cell.key);
  free_cells_.push_back(cell_id);
}

template <typename Fn>
void HotspotDetector::ForEachNeighbour(int32_t cell_id, const double* point, int32_t self,
                                       Fn&& fn) {
  for (int32_t adjacent : cells_[cell_id].adjacent) {
    for (int32_t other : cells_[adjacent].slots) {
      if (other == self) continue;
      const double* q = Coords(other);
      double dist_sq = 0;
      for (int d = 0; d < dims_; ++d) {
        double diff = point[d] - q[d];
        dist_sq += diff * diff;
      }
      if (dist_sq <= radius_sq_) fn(other);
    }
  }
}

void HotspotDetector::Add(std::span<const double> point) {
  OSPREY_CHECK(point.size() == static_cast<size_t>(dims_)) << point.size() << " vs " << dims_;
  int32_t slot;
  if (size_ == static_cast<size_t>(window_size_)) {
    slot = static_cast<int32_t>(head_);
    Evict(slot);
    head_ = (head_ + 1) % static_cast<size_t>(window_size_);
  } else {
    slot = static_cast<int32_t>(size_++);
  }
  std::copy(point.begin(), point.end(), coords_.begin() + static_cast<ptrdiff_t>(slot) * dims_);
  Insert(slot);
}

void HotspotDetector::Evict(int32_t slot) {
  Slot& s = slots_[slot];
  // An unlabelled non-core point had no core neighbour: its leaving changes no component.
  if (s.core || s.label >= 0) dirty_ = true;
  ForEachNeighbour(s.cell, Coords(slot), slot, [&](int32_t other) {
    Slot& o = slots_[other];
    --o.neighbours;
    if (o.core && !IsCore(o.neighbours)) {
      o.core = false;
      dirty_ = true;
    }
  });
  Cell& cell = cells_[s.cell];
  int32_t moved = cell.slots.back();
  cell.slots[s.pos_in_cell] = moved;
  slots_[moved].pos_in_cell = s.pos_in_cell;
  cell.slots.pop_back();
  if (cell.slots.empty()) ReleaseCell(s.cell);
  s = Slot{};
}

void HotspotDetector::Insert(int32_t slot) {
  const double* p = Coords(slot);
  Slot& s = slots_[slot];
  s = Slot{};
  const int32_t cell_id = CellFor(KeyOf(p));
  bool near_core = false;
  ForEachNeighbour(cell_id, p, slot, [&](int32_t other) {
    Slot& o = slots_[other];
    ++o.neighbours;
    ++s.neighbours;
    if (!o.core && IsCore(o.neighbours)) {
      o.core = true;
      dirty_ = true;
    }
    near_core = near_core || o.core;
  });
  s.core = IsCore(s.neighbours);
  if (s.core || near_core) dirty_ = true;
  Cell& cell = cells_[cell_id];
  s.cell = cell_id;
  s.pos_in_cell = static_cast<int32_t>(cell.slots.size());
  cell.slots.push_back(slot);
}

void HotspotDetector::MarkLabelled(int32_t slot) {
  Cell& cell = cells_[slots_[slot].cell];
  const int32_t pos = slots_[slot].pos_in_cell;
  const int32_t last = --cell.unlabelled;
  const int32_t swapped = cell.slots[static_cast<size_t>(last)];
  cell.slots[static_cast<size_t>(last)] = slot;
  cell.slots[static_cast<size_t>(pos)] = swapped;
  slots_[swapped].pos_in_cell = pos;
  slots_[slot].pos_in_cell = last;
}

const std::vector<Hotspot>& HotspotDetector::Evaluate() {
  new_alert_ = false;
  if (dirty_) Rebuild();
  return hotspots_;
}

void HotspotDetector::Rebuild() {
  ++rebuilds_;
  dirty_ = false;
  for (Cell& cell : cells_) cell.unlabelled = static_cast<int32_t>(cell.slots.size());
  // Slots [0, size_) hold the window; order matters only for seeds (below). No modulo in the
  // per-slot loops: a 64-bit division per point would dominate the rebuild.
  for (size_t slot = 0; slot < size_; ++slot) slots_[slot].label = -1;

  // Label components breadth-first from the oldest unlabelled core (slots from head_ on are
  // older than those before it).
  int32_t components = 0;
  for (size_t age = 0; age < size_; ++age) {
    const size_t oldest_first = head_ + age;
    auto seed = static_cast<int32_t>(oldest_first < size_ ? oldest_first : oldest_first - size_);
    if (!slots_[seed].core || slots_[seed].label >= 0) continue;
    const int32_t comp = components++;
    slots_[seed].label = comp;
    MarkLabelled(seed);
    queue_.clear();
    queue_.push_back(seed);
    for (size_t head = 0; head < queue_.size(); ++head) {
      const int32_t core = queue_[head];
      const double* p = Coords(core);
      for (int32_t cell_id : cells_[slots_[core].cell].adjacent) {
        Cell& cell = cells_[cell_id];
        // cell.slots[0, unlabelled) are the unlabelled points: only those are scanned.
        for (int32_t pos = 0; pos < cell.unlabelled;) {
          const int32_t other = cell.slots[static_cast<size_t>(pos)];
          const double* q = Coords(other);
          double dist_sq = 0;
          for (int d = 0; d < dims_; ++d) {
            double diff = p[d] - q[d];
            dist_sq += diff * diff;
          }
          if (dist_sq > radius_sq_) {
            ++pos;
            continue;
          }
          slots_[other].label = comp;
          MarkLabelled(other);  // moves another unlabelled point to `pos`
          if (slots_[other].core) queue_.push_back(other);
        }
      }
    }
  }

  // Per-component count and bounding box.
  std::vector<int64_t> counts(static_cast<size_t>(components), 0);
  std::vector<double> lo(static_cast<size_t>(components) * dims_, INFINITY);
  std::vector<double> hi(static_cast<size_t>(components) * dims_, -INFINITY);
  std::vector<char> was_alerting(static_cast<size_t>(components), 0);
  for (size_t idx = 0; idx < size_; ++idx) {
    auto slot = static_cast<int32_t>(idx);
    const Slot& s = slots_[slot];
    if (s.label < 0) continue;
    auto comp = static_cast<size_t>(s.label);
    ++counts[comp];
    if (s.alerting) was_alerting[comp] = 1;
    const double* p = Coords(slot);
    for (int d = 0; d < dims_; ++d) {
      lo[comp * dims_ + d] = std::min(lo[comp * dims_ + d], p[d]);
      hi[comp * dims_ + d] = std::max(hi[comp * dims_ + d], p[d]);
    }
  }

  hotspots_.clear();
  component_hotspot_.assign(static_cast<size_t>(components), -1);
  std::vector<char> above(static_cast<size_t>(components), 0);
  for (size_t comp = 0; comp < static_cast<size_t>(components); ++comp) {
    if (counts[comp] < min_points_) continue;
    Hotspot h;
    h.count = counts[comp];
    h.min_values.assign(lo.begin() + static_cast<ptrdiff_t>(comp * dims_),
                        lo.begin() + static_cast<ptrdiff_t>((comp + 1) * dims_));
    h.max_values.assign(hi.begin() + static_cast<ptrdiff_t>(comp * dims_),
                        hi.begin() + static_cast<ptrdiff_t>((comp + 1) * dims_));
    double volume = 1;
    for (int d = 0; d < dims_; ++d) volume *= std::max(h.max_values[d] - h.min_values[d], radius_);
    h.density = static_cast<double>(h.count) / volume;
    if (alert_density_ > 0 && h.density > alert_density_) {
      above[comp] = 1;
      h.new_above_threshold = was_alerting[comp] == 0;
      new_alert_ = new_alert_ || h.new_above_threshold;
    }
    component_hotspot_[comp] = static_cast<int32_t>(hotspots_.size());
    hotspots_.push_back(std::move(h));
  }
  for (size_t idx = 0; idx < size_; ++idx) {
    Slot& s = slots_[idx];
    s.alerting = s.label >= 0 && above[static_cast<size_t>(s.label)] != 0;
  }
  std::stable_sort(hotspots_.begin(), hotspots_.end(),
                   [](const Hotspot& a, const Hotspot& b) { return a.density > b.density; });
}

void HotspotDetector::ForEachPoint(
    const std::function<void(std::span<const double>, bool, int, bool)>& fn) {
  Evaluate();
  const auto window = static_cast<size_t>(window_size_);
  for (size_t idx = 0; idx < size_; ++idx) {
    auto slot = static_cast<int32_t>((head_ + idx) % window);
    const Slot& s = slots_[slot];
    bool in_hotspot = s.label >= 0 && component_hotspot_[static_cast<size_t>(s.label)] >= 0;
    fn(std::span<const double>(Coords(slot), static_cast<size_t>(dims_)), s.core, s.label,
       in_hotspot);
  }
}

void HotspotDetector::Save(std::string* out) const {
  ByteWriter w(out);
  w.Put<uint8_t>(kFormatVersion);
  w.Put<uint8_t>(static_cast<uint8_t>(dims_));
  w.PutVarint(size_);
  const auto window = static_cast<size_t>(window_size_);
  std::vector<double> points;
  points.reserve(size_ * dims_);
  std::vector<uint8_t> alerting;
  alerting.reserve(size_);
  for (size_t idx = 0; idx < size_; ++idx) {
    auto slot = static_cast<int32_t>((head_ + idx) % window);
    points.insert(points.end(), Coords(slot), Coords(slot) + dims_);
    alerting.push_back(slots_[slot].alerting ? 1 : 0);
  }
  w.PutVector(points);
  w.PutVector(alerting);
}

Result<HotspotDetector> HotspotDetector::Load(const config::HotspotOptions& options,
                                              std::string_view snapshot) {
  ByteReader r(snapshot);
  uint8_t version = 0, dims = 0;
  uint64_t size = 0;
  if (!r.Get(&version) || version != kFormatVersion) {
    return Status::Corruption("hotspot snapshot: missing or unsupported format version");
  }
  if (!r.Get(&dims) || !r.GetVarint(&size) || dims < 1 || dims > kMaxDims) {
    return Status::Corruption("hotspot snapshot: bad header");
  }
  std::vector<double> points;
  std::vector<uint8_t> alerting;
  if (!r.GetVector(&points, size * dims) || !r.GetVector(&alerting, size) || !r.done() ||
      points.size() != size * dims || alerting.size() != size) {
    return Status::Corruption("hotspot snapshot: truncated or inconsistent");
  }
  for (double v : points) {
    if (!std::isfinite(v)) return Status::Corruption("hotspot snapshot: non-finite point");
  }
  HotspotDetector detector(options, dims);
  // A smaller configured window keeps the newest points.
  size_t skip = size > static_cast<uint64_t>(options.window_size)
                    ? static_cast<size_t>(size) - static_cast<size_t>(options.window_size)
                    : 0;
  for (size_t idx = skip; idx < size; ++idx) {
    detector.Add(std::span<const double>(points.data() + idx * dims, dims));
  }
  const auto window = static_cast<size_t>(detector.window_size_);
  for (size_t idx = 0; idx < detector.size_; ++idx) {
    detector.slots_[(detector.head_ + idx) % window].alerting = alerting[skip + idx] != 0;
  }
  detector.dirty_ = true;
  return detector;
}

}  // namespace osprey::models
