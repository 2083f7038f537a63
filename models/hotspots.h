// HotspotDetector: Kinesis Data Analytics HOTSPOTS semantics, incrementally. Over a sliding
// window of the last `window_size` points (d ≤ 8 numeric dimensions) it finds the relatively
// dense regions: DBSCAN with ε = scan_radius (Euclidean) and minPts = min_points over the
// window. A point is a core point when at least min_points − 1 other window points lie within
// ε; a hot spot is a connected component of core points (cores within ε of each other) plus the
// border points within ε of one of its cores (a border point near two hot spots joins the one
// that reaches it first). Hot spots with fewer than min_points points are not reported.
//
// Density = count / volume, volume = Π_dim max(max_dim − min_dim, scan_radius): Kinesis's
// "count / region size", with each side of the bounding box floored at ε so that a line or a
// single cell does not have zero volume. Units: points per (value unit)^d.
//
// Incremental: a hash grid of cells of side ε holds the window; each cell keeps the list of its
// non-empty neighbour cells (of the 3^d around it), so only cell creation hashes. Neighbour
// counts are updated on insert and evict (O(adjacent cells + neighbours)). Components are
// recomputed lazily, only when the core set or the points attached to a component changed
// (noise arriving or leaving does not trigger it); the recomputation is a breadth-first search
// from core points that scans only the still-unlabelled points of adjacent cells (each cell keeps
// them in a prefix of its point list), so it costs about O(window + cores · adjacent cells)
// rather than O(window²).
// Confined to one thread (thread-compatible).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
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

  // The hot spots of the current window, densest first. Recomputed only if the window's
  // clustering changed since the last call. The reference stays valid until the next Add.
  const std::vector<Hotspot>& Evaluate();
  // After Evaluate: a hot spot above alert_density appeared at this evaluation.
  bool new_alert() const { return new_alert_; }

  int dims() const { return dims_; }
  size_t size() const { return size_; }
  // Number of component recomputations so far (for tests and metrics).
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
  struct CellKeyHash {
    size_t operator()(const CellKey& key) const;
  };
  struct Cell {
    CellKey key{};
    std::vector<int32_t> slots;
    // Non-empty cells among the 3^d around this one, itself included: maintained when cells
    // appear and disappear so neighbour scans do no hashing.
    std::vector<int32_t> adjacent;
    int32_t unlabelled = 0;  // Rebuild: slots[0, unlabelled) are not labelled yet
  };
  struct Slot {
    int32_t neighbours = 0;  // other window points within ε
    int32_t cell = -1;
    int32_t pos_in_cell = -1;
    int32_t label = -1;      // component, valid when !dirty_
    bool core = false;
    bool alerting = false;   // was in an above-threshold hot spot at the last evaluation
  };

  const double* Coords(int32_t slot) const { return &coords_[static_cast<size_t>(slot) * dims_]; }
  CellKey KeyOf(const double* point) const;
  int32_t FindCell(const CellKey& key) const;
  // The cell of `key`, created (and linked to its neighbours) when absent.
  int32_t CellFor(const CellKey& key);
  void ReleaseCell(int32_t cell_id);
  // Calls fn(slot) for every window point within ε of `point` (in cell `cell_id`) other than
  // `self`.
  template <typename Fn>
  void ForEachNeighbour(int32_t cell_id, const double* point, int32_t self, Fn&& fn);
  bool IsCore(int32_t neighbours) const { return neighbours >= min_points_ - 1; }
  void Evict(int32_t slot);
  void Insert(int32_t slot);
  void Rebuild();
  // Rebuild: moves `slot` out of the unlabelled prefix of its cell's slots.
  void MarkLabelled(int32_t slot);

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
  std::unordered_map<CellKey, int32_t, CellKeyHash> cell_index_;
  std::vector<Cell> cells_;
  std::vector<int32_t> free_cells_;

  bool dirty_ = false;
  bool new_alert_ = false;
  int64_t rebuilds_ = 0;
  std::vector<Hotspot> hotspots_;
  std::vector<int32_t> component_hotspot_;  // component -> index in hotspots_ or -1
  std::vector<int32_t> queue_;              // scratch
};

}  // namespace osprey::models
