// RandomCutTree: one robust random cut tree (Guha, Mishra, Roy, Schrijvers, ICML 2016) over
// points held in a shared PointStore. Insert and Delete keep the tree distributed exactly as if it
// had been built from scratch on the current sample: the cut dimension is drawn with probability
// proportional to its range, and a new point is attached where a fresh cut of the box grown by the
// point first separates it (decided bottom-up, highest separating level wins, as AWS does).
// Layout: flat struct-of-arrays with 16-bit node references; duplicates share a leaf (mass > 1);
// bounding boxes are cached only for nodes holding >= box_cache_min_mass points, smaller subtrees
// recompute theirs on demand.
// Thread-compatible: const methods may be called concurrently; mutation needs external sync.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "config/base/bytes.h"
#include "config/base/status.h"
#include "models/rcf/internal/small_buffer.h"
#include "models/rcf/point_store.h"
#include "models/rcf/rng.h"

namespace osprey::models::rcf {

class RandomCutTree {
 public:
  using NodeRef = uint16_t;  // internal node id, or kLeafBit | leaf id
  static constexpr NodeRef kNull = 0xFFFF;
  static constexpr NodeRef kLeafBit = 0x8000;

  // REQUIRES: dims >= 1, 2 <= capacity <= 32767, box_cache_min_mass >= 2.
  RandomCutTree(int dims, int capacity, int box_cache_min_mass);

  // Adds one unit of mass for the point at location `point` in `store`. Returns the leaf now
  // holding it:
  // an existing leaf when the tree already has a point with identical values (the caller then
  // references that leaf's point, see leaf_point()). REQUIRES: mass() < capacity.
  uint16_t Insert(uint32_t point, const PointStore& store, Rng& rng);
  // Removes one unit of mass from `leaf`; returns the point location it held.
  // REQUIRES: leaf is in use.
  uint32_t Delete(uint16_t leaf, const PointStore& store);

  // Location in the store of the point a leaf holds.
  uint32_t leaf_point(uint16_t leaf) const { return leaf_point_[leaf]; }
  // Marks every leaf's point in a PointStore compaction table, and after PointStore::Compact
  // reads the leaves' new locations from it.
  void MarkPoints(std::vector<uint32_t>* table, int input_dim) const;
  void RemapPoints(const std::vector<uint32_t>& table, int input_dim);
  int leaf_mass(uint16_t leaf) const { return leaf_mass_[leaf]; }
  // Points in the tree, counting duplicates.
  int mass() const { return root_ == kNull ? 0 : MassOf(root_); }
  int dimensions() const { return dims_; }

  // Anomaly score of `q` (dimensions() floats): expected inverse depth with the
  // probability-of-separation update on the way up, times log2(1 + mass()) (AWS normalisation).
  // 0 for an empty tree.
  double Score(const float* q, const PointStore& store) const {
    return RawScore(q, store) * Normalizer(mass());
  }
  // Score before the log2(1 + mass()) factor (callers scoring many trees of equal mass multiply
  // once). 0 for an empty tree.
  double RawScore(const float* q, const PointStore& store) const;
  // RawScore of one q on up to kBatch trees, descending them in lockstep so that their
  // dependent loads overlap: out[k] = trees[k]->RawScore(q, store).
  static constexpr int kBatch = 8;
  static void RawScoreBatch(const RandomCutTree* const* trees, int count, const float* q,
                            const PointStore& store, double* out);

  static double Normalizer(int mass);

  // The hot paths (Insert, Delete, RawScoreBatch) exist in two builds: the baseline one and, on
  // x86-64 CPUs with AVX2, one compiled for AVX2 (picked at first use). Both do the same float
  // operations in the same order: results are bit-identical. Tests may switch between them; not
  // to be called while other threads use trees. REQUIRES for on: WideKernelsSupported().
  static bool WideKernelsSupported();
  static void SetWideKernelsForTesting(bool on);
  // Adds this tree's score of `q`, split per dimension into the part due to q being above (high)
  // and below (low) the data, to high[] and low[]; the parts sum to Score(q).
  void AddAttribution(const float* q, const PointStore& store, double* high, double* low) const;
  // Conditional field: the leaf that best completes `q` when the dimensions with missing[d] != 0
  // are unknown (both sides of cuts on missing dimensions are explored, the completion with the
  // lower score wins). REQUIRES: mass() > 0.
  uint16_t ConditionalLeaf(const float* q, const uint8_t* missing, const PointStore& store) const;

  // Full structural check: reachability, masses, free lists, cuts separate their subtrees,
  // every cached box equals its subtree's box, leaf points are live. Corruption if violated.
  Status CheckInvariants(const PointStore& store) const;
  // Visits every leaf in use as fn(leaf id, point index, mass).
  template <typename Fn>
  void ForEachLeaf(Fn&& fn) const {
    if (root_ != kNull) VisitLeaves(root_, fn);
  }
  int Depth() const { return root_ == kNull ? 0 : DepthOf(root_); }
  // Box cache slots allocated and free; for tests and tuning.
  size_t box_slots() const { return boxes_.size() / (2 * static_cast<size_t>(dims_)); }
  size_t free_box_slots() const { return free_slots_.size(); }
  // Depth of the leaf that q descends to (0 = the root is a leaf). REQUIRES: mass() > 0.
  int LeafDepth(const float* q) const;

  size_t MemoryBytes() const;
  void Save(ByteWriter& w) const;
  // Replaces the tree; boxes are rebuilt. Corruption on any inconsistency. With `index_loc`
  // (format 1 snapshots) leaves hold point indices, translated to locations through it.
  Status Load(ByteReader& r, const PointStore& store,
              const std::vector<uint32_t>* index_loc = nullptr);

 private:
  static constexpr uint16_t kNoSlot = 0xFFFF;
  struct Cut {
    int dim = 0;
    float value = 0;
  };

  static bool IsLeaf(NodeRef r) { return (r & kLeafBit) != 0; }
  static uint16_t LeafId(NodeRef r) { return r & 0x7FFF; }
  static NodeRef LeafRef(uint16_t leaf) { return static_cast<NodeRef>(leaf | kLeafBit); }
  int MassOf(NodeRef r) const { return IsLeaf(r) ? leaf_mass_[LeafId(r)] : mass_[r]; }
  NodeRef Child(NodeRef n, const float* p) const {
    const Node& node = nodes_[n];
    return node.child[p[node.cut_dim] > node.cut_val];  // branch-free: the side is a coin flip
  }
  float* BoxLo(uint16_t slot) { return boxes_.data() + static_cast<size_t>(slot) * 2 * dims_; }
  const float* BoxLo(uint16_t slot) const {
    return boxes_.data() + static_cast<size_t>(slot) * 2 * dims_;
  }

  uint16_t AllocLeaf(uint32_t point);
  void FreeLeaf(uint16_t leaf);
  NodeRef AllocInternal();
  void FreeInternal(NodeRef n);
  void AllocSlot(NodeRef n);
  void FreeSlot(NodeRef n);
  // Moves boxes out of free slots at the end and releases the memory once enough are free.
  void CompactSlots();
  // The templates on kWide below are always inlined: kWide = true only inside the AVX2 build
  // (struct Wide, random_cut_tree.cc), false everywhere else.
  struct Wide;
  template <bool kWide>
  [[gnu::always_inline]] uint16_t InsertImpl(uint32_t point, const PointStore& store, Rng& rng);
  template <bool kWide>
  [[gnu::always_inline]] uint32_t DeleteImpl(uint16_t leaf, const PointStore& store);
  // Unions the box of subtree r into [lo, hi].
  // kDims > 0: dimensions() == kDims, built in.
  template <bool kWide, int kDims = 0>
  [[gnu::always_inline]] void UnionSubtree(NodeRef r, const PointStore& store, float* lo,
                                           float* hi) const;
  // The box of `n` on a walk up from its child `child`: its cached box, or else the running box
  // (lo, hi = lo + dims, holding `child`'s box) widened by the sibling subtree. The returned
  // pointer's box spans [p, p + dims) low corner and [p + dims, p + 2 dims) high corner.
  template <bool kWide, int kDims = 0>
  [[gnu::always_inline]] const float* AncestorBox(NodeRef n, NodeRef child, const PointStore& store,
                                                  float* lo, float* hi) const;
  // Recomputes the cached box of n from its children. REQUIRES: n has a slot.
  template <bool kWide>
  [[gnu::always_inline]] void ComputeBox(NodeRef n, const PointStore& store);
  // The cut at position u in [0, 1) of the region between box [lo, hi] and p (outside it),
  // dimensions in order, each weighted by its extension. It separates p from the box.
  Cut CutInExtension(const float* lo, const float* hi, const float* p, double u) const;
  void ResetFreeLists();
  Status CheckStructure(const PointStore& store) const;
  Status CheckNode(NodeRef r, const PointStore& store, float* lo, float* hi) const;
  void RebuildBoxes(NodeRef r, const PointStore& store);
  int DepthOf(NodeRef r) const;
  template <typename Fn>
  void VisitLeaves(NodeRef r, Fn& fn) const {
    if (IsLeaf(r)) {
      fn(LeafId(r), leaf_point_[LeafId(r)], static_cast<int>(leaf_mass_[LeafId(r)]));
      return;
    }
    VisitLeaves(nodes_[r].child[0], fn);
    VisitLeaves(nodes_[r].child[1], fn);
  }
  using Path = internal::ScratchStack<NodeRef, 64>;
  // Walks from the root to the leaf q reaches, recording internal nodes. REQUIRES: non-empty.
  NodeRef Descend(const float* q, Path* path) const;
  template <bool kWide, int kDims, typename PathT>
  [[gnu::always_inline]] double ScoreFromPath(const float* q, const PointStore& store,
                                              const PathT& path, size_t depth,
                                              NodeRef leaf_ref) const;
  // RawScoreBatch after the lockstep descent: out[k] from trees[k]'s path.
  static constexpr size_t kMaxBatchDepth = 64;
  template <bool kWide>
  [[gnu::always_inline]] static void ScorePaths(const RandomCutTree* const* trees, int count,
                                                const float* q, const PointStore& store,
                                                const NodeRef (*path)[kMaxBatchDepth],
                                                const size_t* depth, const NodeRef* node,
                                                double* out);
  struct ImputeContext;
  struct ImputeResult {
    double score;
    uint16_t leaf;
  };
  ImputeResult ImputeVisit(NodeRef r, int depth, ImputeContext& ctx) const;

  // Constant after construction
  int dims_;
  int capacity_;
  int min_cache_mass_;
  // Tree state. Internal nodes: ids [0, capacity-1); free ones chain through Node::child[0]. What a
  // descent reads sits in one 12-byte Node; the mass (updates only) is a separate array.
  struct Node {
    float cut_val = 0;
    uint16_t cut_dim = 0;
    NodeRef child[2] = {kNull, kNull};  // left (values <= cut_val), right
    uint16_t box_slot = kNoSlot;
  };
  NodeRef root_ = kNull;
  std::vector<Node> nodes_;
  std::vector<uint16_t> mass_;
  NodeRef free_internal_ = kNull;
  // Leaves: ids [0, capacity); free ones chain through leaf_point_.
  std::vector<uint32_t> leaf_point_;
  std::vector<uint16_t> leaf_mass_;
  uint32_t free_leaf_ = PointStore::kNone;
  // Box cache: slot s holds lo[dims] then hi[dims] at boxes_[2*dims*s].
  std::vector<float, internal::AlignedAllocator<float, 64>> boxes_;
  std::vector<uint16_t> free_slots_;
};

}  // namespace osprey::models::rcf
