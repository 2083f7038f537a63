#include "models/hotspots.h"

#include <algorithm>
#include <cmath>
#include <tuple>
#include <type_traits>

#include "config/base/bytes.h"
#include "config/base/check.h"

namespace osprey::models {

uint32_t HotspotDetector::HashKey(const CellKey& key) const {
  uint64_t h = 0x9e3779b97f4a7c15ULL;
  for (int d = 0; d < dims_; ++d) {
    h = (h ^ static_cast<uint64_t>(key[d])) * 0xff51afd7ed558ccdULL;
    h ^= h >> 32;
  }
  h *= 0xc4ceb9fe1a85ec53ULL;
  return static_cast<uint32_t>(h >> 32);
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
  // At most window_size cells: the index stays at most a quarter full.
  size_t index_size = 16;
  while (index_size < static_cast<size_t>(window_size_) * 4) index_size *= 2;
  cell_index_.resize(index_size);
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

int32_t HotspotDetector::FindCell(const CellKey& key, uint32_t hash) const {
  const size_t mask = cell_index_.size() - 1;
  for (size_t pos = hash & mask;; pos = (pos + 1) & mask) {
    const IndexEntry& entry = cell_index_[pos];
    if (entry.cell < 0) return -1;
    if (entry.hash == hash && cells_[static_cast<size_t>(entry.cell)].key == key) {
      return entry.cell;
    }
  }
}

int32_t HotspotDetector::CellFor(const CellKey& key) {
  const uint32_t hash = HashKey(key);
  if (int32_t found = FindCell(key, hash); found >= 0) return found;
  int32_t id;
  if (free_cells_.empty()) {
    id = static_cast<int32_t>(cells_.size());
    cells_.emplace_back();
  } else {
    id = free_cells_.back();
    free_cells_.pop_back();
  }
  const size_t mask = cell_index_.size() - 1;
  size_t pos = hash & mask;
  while (cell_index_[pos].cell >= 0) pos = (pos + 1) & mask;
  cell_index_[pos] = IndexEntry{hash, id};
  cells_[id].key = key;
  cells_[id].adjacent.clear();
  CellKey other{};
  for (const CellKey& off : offsets_) {
    for (int d = 0; d < dims_; ++d) other[d] = key[d] + off[d];
    int32_t other_id = FindCell(other, HashKey(other));
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
  free_cells_.push_back(cell_id);
  // Linear probing with backward-shift deletion: later entries of the probe run move into the
  // hole unless that would put them before their home position.
  const size_t mask = cell_index_.size() - 1;
  size_t hole = HashKey(cell.key) & mask;
  while (cell_index_[hole].cell != cell_id) hole = (hole + 1) & mask;
  for (size_t pos = (hole + 1) & mask; cell_index_[pos].cell >= 0; pos = (pos + 1) & mask) {
    const size_t home = cell_index_[pos].hash & mask;
    // Movable iff home is not in the cyclic range (hole, pos].
    if (((pos - home) & mask) >= ((pos - hole) & mask)) {
      cell_index_[hole] = cell_index_[pos];
      hole = pos;
    }
  }
  cell_index_[hole] = IndexEntry{};
}

double HotspotDetector::DistSq(const double* p, const double* q) const {
  double dist_sq = 0;
  for (int d = 0; d < dims_; ++d) {
    const double diff = p[d] - q[d];
    dist_sq += diff * diff;
  }
  return dist_sq;
}

template <typename Fn>
void HotspotDetector::ForEachNeighbour(int32_t cell_id, const double* point, int32_t self,
                                       Fn&& fn) {
  // The scans are the hot loop: a fixed dimension count lets the compiler unroll the distance.
  auto scan = [&]<int kDims>(std::integral_constant<int, kDims>) {
    const int dims = kDims > 0 ? kDims : dims_;
    for (int32_t adjacent : cells_[cell_id].adjacent) {
      for (int32_t other : cells_[adjacent].slots) {
        const double* q = Coords(other);
        double dist_sq = 0;
        for (int d = 0; d < dims; ++d) {
          const double diff = point[d] - q[d];
          dist_sq += diff * diff;
        }
        if (dist_sq <= radius_sq_ && other != self) fn(other);
      }
    }
  };
  switch (dims_) {
    case 1: return scan(std::integral_constant<int, 1>{});
    case 2: return scan(std::integral_constant<int, 2>{});
    case 3: return scan(std::integral_constant<int, 3>{});
    case 4: return scan(std::integral_constant<int, 4>{});
    default: return scan(std::integral_constant<int, 0>{});
  }
}

void HotspotDetector::CollectNeighbours(int32_t slot, std::vector<int32_t>* out) {
  out->clear();
  ForEachNeighbour(slots_[slot].cell, Coords(slot), slot,
                   [&](int32_t other) { out->push_back(other); });
}

int32_t HotspotDetector::NewestCore(std::span<const int32_t> candidates) const {
  int32_t newest = -1;
  for (int32_t slot : candidates) {
    if (slots_[slot].core && (newest < 0 || slots_[slot].seq > slots_[newest].seq)) {
      newest = slot;
    }
  }
  return newest;
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
  // Neighbour counts; neighbours falling below min_points − 1 stop being cores (changed_).
  neighbours_.clear();
  changed_.clear();
  Slot& s = slots_[slot];
  ForEachNeighbour(s.cell, Coords(slot), slot, [&](int32_t other) {
    Slot& o = slots_[other];
    neighbours_.push_back(other);
    --o.neighbours;
    if (o.core && !IsCore(o.neighbours)) {
      o.core = false;
      changed_.push_back(other);
    }
  });

  // Take the point out of its component and the grid.
  const bool was_core = s.core;
  const int32_t evicted_comp = s.comp;
  if (s.comp >= 0) RemoveMember(slot);
  Cell& cell = cells_[s.cell];
  const int32_t moved = cell.slots.back();
  cell.slots[static_cast<size_t>(s.pos_in_cell)] = moved;
  slots_[moved].pos_in_cell = s.pos_in_cell;
  cell.slots.pop_back();
  if (cell.slots.empty()) ReleaseCell(s.cell);
  s = Slot{};

  // Seeds of the components that lost cores, and borders that lost their anchor. A demoted
  // core anchors to its newest remaining core neighbour (joining its component in Attach,
  // once splits are settled).
  ++seed_epoch_;
  seeds_.clear();
  reanchor_.clear();
  if (was_core) CollectAfterLoss(slot, evicted_comp, /*evicted=*/true, neighbours_);
  for (int32_t lost : changed_) {
    CollectNeighbours(lost, &scan_);
    slots_[lost].anchor = NewestCore(scan_);
    CollectAfterLoss(lost, slots_[lost].comp, /*evicted=*/false, scan_);
  }

  // One split check per component that lost cores (usually a single one). Groups are formed
  // before any split moves seeds to other components.
  for (size_t begin = 0; begin < seeds_.size(); ++begin) {
    const int32_t comp = seeds_[begin].first;
    if (comp < 0) continue;  // in an earlier group
    group_.clear();
    for (size_t idx = begin; idx < seeds_.size(); ++idx) {
      if (seeds_[idx].first != comp) continue;
      group_.push_back(seeds_[idx].second);
      seeds_[idx].first = -1;
    }
    SplitIfDisconnected(group_);
  }

  for (int32_t lost : changed_) Attach(lost);
  for (int32_t border : reanchor_) {
    CollectNeighbours(border, &scan_);
    slots_[border].anchor = NewestCore(scan_);
    Attach(border);
  }
}

void HotspotDetector::CollectAfterLoss(int32_t lost, int32_t comp, bool evicted,
                                       std::span<const int32_t> neighbours) {
  const size_t first_seed = seeds_.size();
  double nearest_sq = INFINITY;
  for (int32_t other : neighbours) {
    Slot& o = slots_[other];
    if (o.core) {
      if (o.seed_mark == seed_epoch_) continue;
      o.seed_mark = seed_epoch_;
      seeds_.emplace_back(comp, other);
      // The seed nearest the lost core goes first (see SplitIfDisconnected).
      const double dist_sq = DistSq(Coords(lost), Coords(other));
      if (dist_sq < nearest_sq) {
        nearest_sq = dist_sq;
        std::swap(seeds_[first_seed], seeds_.back());
      }
    } else if (o.anchor == lost) {
      o.anchor = -1;
      // The evicted point is the oldest: as the newest core neighbour it was the only one.
      if (evicted) {
        Detach(other);
      } else {
        reanchor_.push_back(other);
      }
    }
  }
}

int32_t HotspotDetector::FindGroup(int32_t group) {
  while (group_parent_[static_cast<size_t>(group)] != group) {
    int32_t& parent = group_parent_[static_cast<size_t>(group)];
    parent = group_parent_[static_cast<size_t>(parent)];  // path halving
    group = parent;
  }
  return group;
}

void HotspotDetector::SplitIfDisconnected(std::span<int32_t> seeds) {
  if (seeds.size() <= 1) return;
  const uint64_t epoch = ++flood_epoch_;
  flood_cores_.clear();
  flood_borders_.clear();
  group_parent_.clear();
  group_pending_.clear();

  // 1. Groups of seeds connected through seeds (points within ε of each other). The first
  // seed is the one nearest a lost core, whose ε-ball usually covers most of the others; one
  // group is the common case and proves the component still connected.
  int groups = 0;
  for (size_t begin = 0; begin < seeds.size(); ++groups) {
    // seeds[begin, end) are connected to seeds[begin]; those from `end` on are not reached yet.
    size_t end = begin + 1;
    for (size_t idx = begin; idx < end && end < seeds.size(); ++idx) {
      const double* p = Coords(seeds[idx]);
      for (size_t other = end; other < seeds.size(); ++other) {
        if (Within(p, Coords(seeds[other]))) std::swap(seeds[other], seeds[end++]);
      }
    }
    if (begin == 0 && end == seeds.size()) return;
    for (size_t idx = begin; idx < end; ++idx) {
      Slot& s = slots_[seeds[idx]];
      s.visited = epoch;
      s.group = groups;
      flood_cores_.push_back(seeds[idx]);
    }
    group_parent_.push_back(groups);
    group_pending_.push_back(static_cast<int32_t>(end - begin));
    begin = end;
  }

  // 2. Breadth-first over the component's cores from all groups at once (flood_cores_ is the
  // queue); groups that meet merge. A group whose queued cores are all scanned without meeting
  // another one is a complete piece: it moves to a new component (pieces that are small
  // finish first, so a split costs about the size of the pieces split off). The last group
  // standing keeps the component.
  for (size_t head = 0; head < flood_cores_.size(); ++head) {
    const int32_t core = flood_cores_[head];
    const int32_t group = FindGroup(slots_[core].group);
    ForEachNeighbour(slots_[core].cell, Coords(core), core, [&](int32_t other) {
      Slot& o = slots_[other];
      if (!o.core) {
        if (o.anchor == core) flood_borders_.push_back(other);
      } else if (o.visited != epoch) {
        o.visited = epoch;
        o.group = group;
        flood_cores_.push_back(other);
        ++group_pending_[static_cast<size_t>(group)];
      } else if (const int32_t theirs = FindGroup(o.group); theirs != group) {
        group_parent_[static_cast<size_t>(theirs)] = group;
        group_pending_[static_cast<size_t>(group)] += group_pending_[static_cast<size_t>(theirs)];
        --groups;
      }
    });
    if (groups == 1) return;
    if (--group_pending_[static_cast<size_t>(group)] > 0) continue;
    ++rebuilds_;
    const int32_t piece = NewComponent();
    for (int32_t member : flood_cores_) {
      if (FindGroup(slots_[member].group) == group) MoveMember(member, piece);
    }
    for (int32_t border : flood_borders_) {
      if (FindGroup(slots_[slots_[border].anchor].group) == group) MoveMember(border, piece);
    }
    if (--groups == 1) return;
  }
}

void HotspotDetector::Insert(int32_t slot) {
  const double* p = Coords(slot);
  Slot& s = slots_[slot];
  s = Slot{};
  s.seq = next_seq_++;
  const int32_t cell_id = CellFor(KeyOf(p));
  // Neighbour counts; neighbours reaching min_points − 1 become cores (changed_).
  neighbours_.clear();
  changed_.clear();
  ForEachNeighbour(cell_id, p, slot, [&](int32_t other) {
    Slot& o = slots_[other];
    ++o.neighbours;
    neighbours_.push_back(other);
    if (!o.core && IsCore(o.neighbours)) changed_.push_back(other);
  });
  s.neighbours = static_cast<int32_t>(neighbours_.size());
  Cell& cell = cells_[cell_id];
  s.cell = cell_id;
  s.pos_in_cell = static_cast<int32_t>(cell.slots.size());
  cell.slots.push_back(slot);

  // New cores join (and merge) their core neighbours' components one at a time; the promoted
  // ones still count as non-core until their turn.
  if (IsCore(s.neighbours)) MakeCore(slot, neighbours_);
  for (int32_t promoted : changed_) {
    CollectNeighbours(promoted, &scan_);
    MakeCore(promoted, scan_);
  }
  if (!s.core) {
    s.anchor = NewestCore(neighbours_);
    Attach(slot);
  }
}

void HotspotDetector::MakeCore(int32_t slot, std::span<const int32_t> neighbours) {
  Slot& s = slots_[slot];
  s.core = true;
  s.anchor = -1;
  int32_t target = -1;
  for (int32_t other : neighbours) {
    const Slot& o = slots_[other];
    if (!o.core) continue;
    int32_t comp = o.comp;
    if (target < 0) {
      target = comp;
    } else if (comp != target) {
      if (comps_[comp].members.size() > comps_[target].members.size()) std::swap(comp, target);
      MergeInto(comp, target);
    }
  }
  if (target < 0) target = NewComponent();
  if (s.comp != target) MoveMember(slot, target);
  // Non-core neighbours anchor to this core when it is newer than their anchor.
  for (int32_t other : neighbours) {
    Slot& o = slots_[other];
    if (o.core || (o.anchor >= 0 && slots_[o.anchor].seq > s.seq)) continue;
    o.anchor = slot;
    if (o.comp != target) MoveMember(other, target);
  }
}

int32_t HotspotDetector::NewComponent() {
  if (free_comps_.empty()) {
    comps_.emplace_back();
    return static_cast<int32_t>(comps_.size() - 1);
  }
  const int32_t comp = free_comps_.back();
  free_comps_.pop_back();
  return comp;
}

void HotspotDetector::AddMember(int32_t slot, int32_t comp) {
  Slot& s = slots_[slot];
  Component& c = comps_[static_cast<size_t>(comp)];
  const double* p = Coords(slot);
  if (c.members.empty()) {
    std::copy(p, p + dims_, c.lo.begin());
    std::copy(p, p + dims_, c.hi.begin());
    c.box_stale = false;
  } else if (!c.box_stale) {
    for (int d = 0; d < dims_; ++d) {
      c.lo[d] = std::min(c.lo[d], p[d]);
      c.hi[d] = std::max(c.hi[d], p[d]);
    }
  }
  s.comp = comp;
  s.pos_in_comp = static_cast<int32_t>(c.members.size());
  c.members.push_back(slot);
  if (s.alerting) ++c.alerting_members;
  report_dirty_ = true;
}

void HotspotDetector::RemoveMember(int32_t slot) {
  Slot& s = slots_[slot];
  Component& c = comps_[static_cast<size_t>(s.comp)];
  const int32_t last = c.members.back();
  c.members[static_cast<size_t>(s.pos_in_comp)] = last;
  slots_[last].pos_in_comp = s.pos_in_comp;
  c.members.pop_back();
  if (s.alerting) --c.alerting_members;
  const double* p = Coords(slot);
  for (int d = 0; d < dims_ && !c.box_stale; ++d) {
    c.box_stale = p[d] == c.lo[d] || p[d] == c.hi[d];
  }
  if (c.members.empty()) free_comps_.push_back(s.comp);
  s.comp = -1;
  s.pos_in_comp = -1;
  report_dirty_ = true;
}

void HotspotDetector::MoveMember(int32_t slot, int32_t comp) {
  if (slots_[slot].comp >= 0) RemoveMember(slot);
  AddMember(slot, comp);
}

void HotspotDetector::Detach(int32_t slot) {
  Slot& s = slots_[slot];
  if (s.comp < 0) return;
  RemoveMember(slot);
  if (s.alerting && !s.noise_listed) {
    s.noise_listed = true;
    noise_alerting_.push_back(slot);
  }
}

void HotspotDetector::MergeInto(int32_t from, int32_t to) {
  Component& f = comps_[static_cast<size_t>(from)];
  Component& t = comps_[static_cast<size_t>(to)];
  if (f.box_stale) {
    t.box_stale = true;
  } else if (!t.box_stale) {
    for (int d = 0; d < dims_; ++d) {
      t.lo[d] = std::min(t.lo[d], f.lo[d]);
      t.hi[d] = std::max(t.hi[d], f.hi[d]);
    }
  }
  for (int32_t member : f.members) {
    slots_[member].comp = to;
    slots_[member].pos_in_comp = static_cast<int32_t>(t.members.size());
    t.members.push_back(member);
  }
  t.alerting_members += f.alerting_members;
  f.members.clear();
  f.alerting_members = 0;
  free_comps_.push_back(from);
  report_dirty_ = true;
}

void HotspotDetector::Attach(int32_t slot) {
  const Slot& s = slots_[slot];
  const int32_t target = s.anchor < 0 ? -1 : slots_[s.anchor].comp;
  if (s.comp == target) return;
  if (target < 0) {
    Detach(slot);
  } else {
    MoveMember(slot, target);
  }
}

void HotspotDetector::SetAlerting(int32_t slot, bool alerting) {
  Slot& s = slots_[slot];
  if (s.alerting == alerting) return;
  s.alerting = alerting;
  if (s.comp >= 0) {
    comps_[static_cast<size_t>(s.comp)].alerting_members += alerting ? 1 : -1;
  } else if (alerting && !s.noise_listed) {
    s.noise_listed = true;
    noise_alerting_.push_back(slot);
  }
  report_dirty_ = true;
}

void HotspotDetector::RecomputeBox(Component& comp) const {
  comp.lo.fill(INFINITY);
  comp.hi.fill(-INFINITY);
  for (int32_t member : comp.members) {
    const double* p = Coords(member);
    for (int d = 0; d < dims_; ++d) {
      comp.lo[d] = std::min(comp.lo[d], p[d]);
      comp.hi[d] = std::max(comp.hi[d], p[d]);
    }
  }
  comp.box_stale = false;
}

const std::vector<Hotspot>& HotspotDetector::Evaluate() {
  new_alert_ = false;
  if (report_dirty_) {
    BuildReport();
  } else {
    // Unchanged since the last evaluation: nothing appeared at this one.
    for (Hotspot& h : hotspots_) h.new_above_threshold = false;
  }
  return hotspots_;
}

void HotspotDetector::BuildReport() {
  report_dirty_ = false;
  size_t reported = 0;
  for (Component& c : comps_) {
    if (c.members.empty()) continue;
    const auto count = static_cast<int64_t>(c.members.size());
    bool above = false;
    if (count >= min_points_) {
      if (c.box_stale) RecomputeBox(c);
      if (reported == hotspots_.size()) {
        if (spare_hotspots_.empty()) {
          hotspots_.emplace_back();
        } else {
          hotspots_.push_back(std::move(spare_hotspots_.back()));
          spare_hotspots_.pop_back();
        }
      }
      Hotspot& h = hotspots_[reported++];
      h.count = count;
      h.min_values.assign(c.lo.begin(), c.lo.begin() + dims_);
      h.max_values.assign(c.hi.begin(), c.hi.begin() + dims_);
      double volume = 1;
      for (int d = 0; d < dims_; ++d) volume *= std::max(c.hi[d] - c.lo[d], radius_);
      h.density = static_cast<double>(count) / volume;
      above = alert_density_ > 0 && h.density > alert_density_;
      h.new_above_threshold = above && c.alerting_members == 0;
      new_alert_ = new_alert_ || h.new_above_threshold;
    }
    // Members remember whether they are in an above-threshold hot spot at this evaluation.
    if (above ? c.alerting_members < count : c.alerting_members > 0) {
      for (int32_t member : c.members) slots_[member].alerting = above;
      c.alerting_members = above ? static_cast<int32_t>(count) : 0;
    }
  }
  for (int32_t slot : noise_alerting_) {
    Slot& s = slots_[slot];
    s.noise_listed = false;
    if (s.comp < 0) s.alerting = false;
  }
  noise_alerting_.clear();
  // Keep dropped hot spots' vectors for later reports.
  while (hotspots_.size() > reported) {
    spare_hotspots_.push_back(std::move(hotspots_.back()));
    hotspots_.pop_back();
  }
  std::sort(hotspots_.begin(), hotspots_.end(), [](const Hotspot& a, const Hotspot& b) {
    if (a.density != b.density) return a.density > b.density;
    if (a.count != b.count) return a.count > b.count;
    return std::tie(a.min_values, a.max_values) < std::tie(b.min_values, b.max_values);
  });
}

void HotspotDetector::ForEachPoint(
    const std::function<void(std::span<const double>, bool, int, bool)>& fn) {
  Evaluate();
  const auto window = static_cast<size_t>(window_size_);
  for (size_t idx = 0; idx < size_; ++idx) {
    auto slot = static_cast<int32_t>((head_ + idx) % window);
    const Slot& s = slots_[slot];
    const bool in_hotspot =
        s.comp >= 0 && comps_[static_cast<size_t>(s.comp)].members.size() >=
                           static_cast<size_t>(min_points_);
    fn(std::span<const double>(Coords(slot), static_cast<size_t>(dims_)), s.core, s.comp,
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
    detector.SetAlerting(static_cast<int32_t>((detector.head_ + idx) % window),
                         alerting[skip + idx] != 0);
  }
  detector.report_dirty_ = true;
  return detector;
}

}  // namespace osprey::models
