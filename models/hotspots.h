// HotspotDetector: Kinesis Data Analytics HOTSPOTS semantics, incrementally. Over a sliding
// window of the last `window_size` points (d ≤ 8 numeric dimensions) it finds the relatively
// dense regions: DBSCAN with ε = scan_radius (Euclidean) and minPts = min_points over the
// window. A point is a core point when at least min_points − 1 other window points lie within
// ε; a hot spot is a connected component of core points (cores within ε of each other) plus the
// border points within ε of one of its cores. A border point near two hot spots joins the one
// of its newest core neighbour (so the clustering depends only on the window's contents and
// order, not on its history). Hot spots with fewer than min_points points are not reported.
//
// Density = count / volume, volume = Π_dim max(max_dim − min_dim, scan_radius): Kinesis's
// "count / region size", with each side of the bounding box floored at ε so that a line or a
// single cell does not have zero volume. Units: points per (value unit)^d.
//
// Incremental maintenance. A hash grid of cells of side ε holds the window (an open-addressing
// index, so no allocation per cell); each cell keeps the list of its non-empty neighbour cells
// (of the 3^d around it), so only cell creation hashes.
// Every Add is an eviction (which can only lose cores) followed by an insertion (which can only
// gain cores), and each restores all the invariants below before returning:
//   * Slot::neighbours is the number of other window points within ε; Slot::core is
//     IsCore(neighbours).
//   * Every core belongs to a component (Slot::comp ≥ 0); two cores share a component iff a
//     chain of cores, consecutive ones within ε, joins them.
//   * A non-core point's anchor is its newest (largest seq) core neighbour, or -1; its
//     component is its anchor's, or -1 (noise). Cores have anchor -1.
//   * Component::members lists exactly the points whose comp is that component
//     (Slot::pos_in_comp is the index); a component with no members is free. Its count is
//     members.size(), lo/hi are its members' exact bounds unless box_stale, and alerting_members
//     counts its members with Slot::alerting set.
// Gained cores union the components of their core neighbours (the smaller component's members
// move to the larger). Lost cores (the evicted point, or neighbours falling below min_points − 1)
// can split their component. Every surviving piece holds one of the surviving cores within ε of
// the lost ones ("seeds"); seeds joined by chains of seeds form groups. One group (the common
// case in dense regions) proves the component intact. Otherwise a breadth-first search over the
// component's cores grows all groups in lockstep, merging groups that meet, until one is left;
// a group that runs out of cores first is a piece of its own and moves to a new component, so a
// split costs about the size of the pieces split off rather than of the component. Borders
// anchored at a lost core look for their next newest core neighbour. Per Add this costs one or
// two grid scans plus work proportional to the changed cores' neighbourhoods. Noise arriving or
// leaving changes no component. Evaluate rebuilds the report, from the components' counts and
// boxes, only after a change.
// Scratch buffers are reused: steady-state Adds do not allocate.
// Confined to one thread (thread-compatible).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/base/status.h"
#include "config/window_options.h"

namespace osprey::models {

struct Hotspot {
  double density = 0;
  std::vector<double> min_values;
  std::vector<double> max_values;
  int64_t count = 0;
  // Density > alert_density and none of its points was in an above-threshold hot spot at the
  // previous evaluation: the hot spot just appeared (or just crossed the threshold).
  bool new_above_threshold = false;
};

class HotspotDetector {
 public:
  static constexpr uint8_t kFormatVersion = 1;
  static constexpr int kMaxDims = 8;

  // REQUIRES: options.Validate().ok(), 1 <= dims <= kMaxDims.
  HotspotDetector(const config::HotspotOptions& options, int dims);

  // Appends a point, evicting the oldest one when the window is full.
  // REQUIRES: point.size() == dims() and every coordinate finite.
  void Add(std::span<const double> point);

  // The hot spots of the current window, densest first (ties: larger count, then smaller
  // min_values first). Rebuilt only if a component changed since the last call (otherwise no
  // hot spot is new_above_threshold). The reference stays valid until the next Add.
  const std::vector<Hotspot>& Evaluate();
  // After Evaluate: a hot spot above alert_density appeared at this evaluation.
  bool new_alert() const { return new_alert_; }

  int dims() const { return dims_; }
  size_t size() const { return size_; }
  // Number of component splits so far (pieces moved to a new component; for tests and
  // metrics).
  int64_t rebuilds() const { return rebuilds_; }

  // After Evaluate: visits the window's points oldest first with their core flag and their
  // component (-1 = noise); `in_hotspot` = the component is reported.
  void ForEachPoint(const std::function<void(std::span<const double> point, bool core,
                                             int component, bool in_hotspot)>& fn);

  // Versioned snapshot of the window (options are not stored; they come from config).
  void Save(std::string* out) const;
  static Result<HotspotDetector> Load(const config::HotspotOptions& options,
                                      std::string_view snapshot);

 private:
  using CellKey = std::array<int64_t, kMaxDims>;
  // Open-addressing (linear probing) entry of the cell index; cell -1 = empty.
  struct IndexEntry {
    uint32_t hash = 0;
    int32_t cell = -1;
  };
  struct Cell {
    CellKey key{};
    std::vector<int32_t> slots;
    // Non-empty cells among the 3^d around this one, itself included: maintained when cells
    // appear and disappear so neighbour scans do no hashing.
    std::vector<int32_t> adjacent;
  };
  struct Slot {
    int64_t seq = 0;         // insertion order: larger is newer
    uint64_t seed_mark = 0;  // == seed_epoch_: a seed of the current eviction's split checks
    uint64_t visited = 0;    // == flood_epoch_: reached by the current SplitIfDisconnected...
    int32_t group = -1;      // ... in this seed group
    int32_t neighbours = 0;  // other window points within ε
    int32_t cell = -1;
    int32_t pos_in_cell = -1;
    int32_t comp = -1;  // component, -1 = noise
    int32_t pos_in_comp = -1;
    int32_t anchor = -1;  // non-core points: newest core neighbour, or -1
    bool core = false;
    bool alerting = false;      // was in an above-threshold hot spot at the last evaluation
    bool noise_listed = false;  // in noise_alerting_
  };
  struct Component {
    std::vector<int32_t> members;  // empty = free
    std::array<double, kMaxDims> lo{};
    std::array<double, kMaxDims> hi{};
    bool box_stale = false;  // a member on the box's boundary left: recompute lo/hi
    int32_t alerting_members = 0;
  };

  const double* Coords(int32_t slot) const { return &coords_[static_cast<size_t>(slot) * dims_]; }
  double DistSq(const double* p, const double* q) const;
  bool Within(const double* p, const double* q) const { return DistSq(p, q) <= radius_sq_; }
  CellKey KeyOf(const double* point) const;
  uint32_t HashKey(const CellKey& key) const;
  int32_t FindCell(const CellKey& key, uint32_t hash) const;
  // The cell of `key`, created (and linked to its neighbours) when absent.
  int32_t CellFor(const CellKey& key);
  void ReleaseCell(int32_t cell_id);
  // Calls fn(slot) for every window point within ε of `point` (in cell `cell_id`) other than
  // `self`.
  template <typename Fn>
  void ForEachNeighbour(int32_t cell_id, const double* point, int32_t self, Fn&& fn);
  // Fills `out` with the window neighbours of `slot` (which is in the grid).
  void CollectNeighbours(int32_t slot, std::vector<int32_t>* out);
  // The newest core among `candidates`, or -1.
  int32_t NewestCore(std::span<const int32_t> candidates) const;
  bool IsCore(int32_t neighbours) const { return neighbours >= min_points_ - 1; }

  void Evict(int32_t slot);
  void Insert(int32_t slot);
  // Insert: `slot` just became core; `neighbours` are its window neighbours.
  void MakeCore(int32_t slot, std::span<const int32_t> neighbours);
  // Evict: `lost` stopped being a core of component `comp` (`neighbours` are its remaining
  // window neighbours). Records the cores among them as seeds and queues the borders anchored
  // at `lost` for re-anchoring (or drops them to noise when `lost` was evicted: it was the
  // oldest point, so it was their only core neighbour).
  void CollectAfterLoss(int32_t lost, int32_t comp, bool evicted,
                        std::span<const int32_t> neighbours);
  // Evict: a component lost cores; `seeds` are its surviving cores within ε of them (each
  // surviving piece contains one). Moves all but one piece to new components. Reorders `seeds`.
  void SplitIfDisconnected(std::span<int32_t> seeds);
  // SplitIfDisconnected: union-find root of a seed group.
  int32_t FindGroup(int32_t group);

  // Component membership (keeps counts, boxes and alerting_members).
  int32_t NewComponent();
  void AddMember(int32_t slot, int32_t comp);
  void RemoveMember(int32_t slot);
  void MoveMember(int32_t slot, int32_t comp);
  // Leaves its component for noise (listing it in noise_alerting_ if alerting).
  void Detach(int32_t slot);
  // Moves every member of `from` to `to`; `from` becomes free.
  void MergeInto(int32_t from, int32_t to);
  // A non-core point joins its anchor's component (or becomes noise without an anchor).
  void Attach(int32_t slot);
  void SetAlerting(int32_t slot, bool alerting);
  void RecomputeBox(Component& comp) const;
  void BuildReport();

  // Constant after construction.
  int dims_;
  int window_size_;
  double radius_;
  double radius_sq_;
  int min_points_;
  double alert_density_;
  std::vector<CellKey> offsets_;  // {-1,0,1}^dims

  std::vector<double> coords_;  // window_size_ × dims_
  std::vector<Slot> slots_;
  size_t head_ = 0;  // oldest slot when full
  size_t size_ = 0;
  int64_t next_seq_ = 0;
  std::vector<IndexEntry> cell_index_;  // cell key -> cell; power-of-two size
  std::vector<Cell> cells_;
  std::vector<int32_t> free_cells_;
  std::vector<Component> comps_;
  std::vector<int32_t> free_comps_;

  bool report_dirty_ = false;  // a component changed since the last Evaluate
  bool new_alert_ = false;
  int64_t rebuilds_ = 0;
  std::vector<Hotspot> hotspots_;
  std::vector<Hotspot> spare_hotspots_;  // storage of dropped entries, reused
  // Points that left a component while alerting: cleared at Evaluate if still noise.
  std::vector<int32_t> noise_alerting_;

  // Scratch, reused across Adds.
  uint64_t seed_epoch_ = 0;
  uint64_t flood_epoch_ = 0;
  std::vector<int32_t> neighbours_;  // of the inserted / evicted point
  std::vector<int32_t> changed_;     // promoted / demoted cores
  std::vector<int32_t> scan_;        // neighbours of a promoted / demoted core
  std::vector<std::pair<int32_t, int32_t>> seeds_;  // (component, surviving core)
  std::vector<int32_t> group_;                      // one component's seeds
  std::vector<int32_t> reanchor_;                   // borders whose anchor was lost
  // SplitIfDisconnected: cores reached (also the queue), borders anchored at scanned cores,
  // seed group union-find, and per root group the reached cores not scanned yet.
  std::vector<int32_t> flood_cores_;
  std::vector<int32_t> flood_borders_;
  std::vector<int32_t> group_parent_;
  std::vector<int32_t> group_pending_;
};

}  // namespace osprey::models
