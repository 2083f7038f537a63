#include "models/rcf/random_cut_tree.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>

#include "config/base/check.h"
#include "models/rcf/internal/small_buffer.h"

namespace osprey::models::rcf {
namespace {

using internal::ScratchArray;
using internal::ScratchStack;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr size_t kInlineFloats = 512;  // boxes of up to 256 dimensions stay on the stack
constexpr size_t kInlinePath = 64;

// Box kernels on GCC/Clang vector types, always inlined. The hot paths are compiled twice (see
// RandomCutTree::Wide): kWide = false for the baseline target (SSE2 on x86-64) and kWide = true
// inside functions compiled for AVX2, where eight float lanes are one register instead of two.
// Both perform the same IEEE operations in the same order: results are bit-identical.
#define OSPREY_RCF_INLINE __attribute__((always_inline)) inline
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define OSPREY_RCF_X86_DISPATCH 1
#define OSPREY_RCF_TARGET_AVX2 __attribute__((target("avx2")))
#else
#define OSPREY_RCF_X86_DISPATCH 0
#define OSPREY_RCF_TARGET_AVX2
#endif
// For the whole file (GCC reports it at the end of the unit): the vector types never cross a
// call that is not inlined, so the ABI note about passing them does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"
using F4 = float __attribute__((vector_size(16)));
using F8 = float __attribute__((vector_size(32)));

template <typename V>
OSPREY_RCF_INLINE V Load(const float* p) {
  V v;
  std::memcpy(&v, p, sizeof(V));
  return v;
}
template <typename V>
OSPREY_RCF_INLINE void Store(float* p, V v) {
  std::memcpy(p, &v, sizeof(V));
}
// std::min(a, b) is (b < a ? b : a), std::max(a, b) is (a < b ? b : a): minps(b, a) and
// maxps(b, a) (the second operand when unordered or equal), so the vector forms keep the scalar
// results bit for bit, signed zeros and NaN included. MaxPs(a, b) is maxps(a, b).
template <typename V>
OSPREY_RCF_INLINE V Min(V a, V b) {
  return b < a ? b : a;
}
template <typename V>
OSPREY_RCF_INLINE V Max(V a, V b) {
  return a < b ? b : a;
}
template <typename V>
OSPREY_RCF_INLINE V MaxPs(V a, V b) {
  return a > b ? a : b;
}
// Distance of x outside [l, h] per lane, maxps(maxps(l - x, x - h), +0): for l <= h it equals
// maxps(l - x, +0) + maxps(x - h, +0) bit for bit (at most one term is not +0; NaN and infinite
// x included), with one operation less. Never -0.
template <typename V>
OSPREY_RCF_INLINE V Outside(V l, V h, V x) {
  return MaxPs(MaxPs(l - x, x - h), V{});
}

// Eight float lanes: one 256-bit vector (kWide) or two 128-bit halves.
template <bool kWide>
struct Lanes8;
template <>
struct Lanes8<true> {
  F8 v;
  static OSPREY_RCF_INLINE Lanes8 Load(const float* p) { return {rcf::Load<F8>(p)}; }
  OSPREY_RCF_INLINE void Store(float* p) const { rcf::Store(p, v); }
  OSPREY_RCF_INLINE F4 low() const { return __builtin_shufflevector(v, v, 0, 1, 2, 3); }
  OSPREY_RCF_INLINE F4 high() const { return __builtin_shufflevector(v, v, 4, 5, 6, 7); }
  friend OSPREY_RCF_INLINE Lanes8 operator+(Lanes8 a, Lanes8 b) { return {a.v + b.v}; }
  friend OSPREY_RCF_INLINE Lanes8 operator-(Lanes8 a, Lanes8 b) { return {a.v - b.v}; }
  friend OSPREY_RCF_INLINE Lanes8 Min(Lanes8 a, Lanes8 b) { return {rcf::Min(a.v, b.v)}; }
  friend OSPREY_RCF_INLINE Lanes8 Max(Lanes8 a, Lanes8 b) { return {rcf::Max(a.v, b.v)}; }
  friend OSPREY_RCF_INLINE Lanes8 Outside(Lanes8 l, Lanes8 h, Lanes8 x) {
    return {rcf::Outside(l.v, h.v, x.v)};
  }
};
template <>
struct Lanes8<false> {
  F4 lo, hi;
  static OSPREY_RCF_INLINE Lanes8 Load(const float* p) {
    return {rcf::Load<F4>(p), rcf::Load<F4>(p + 4)};
  }
  OSPREY_RCF_INLINE void Store(float* p) const {
    rcf::Store(p, lo);
    rcf::Store(p + 4, hi);
  }
  OSPREY_RCF_INLINE F4 low() const { return lo; }
  OSPREY_RCF_INLINE F4 high() const { return hi; }
  friend OSPREY_RCF_INLINE Lanes8 operator+(Lanes8 a, Lanes8 b) {
    return {a.lo + b.lo, a.hi + b.hi};
  }
  friend OSPREY_RCF_INLINE Lanes8 operator-(Lanes8 a, Lanes8 b) {
    return {a.lo - b.lo, a.hi - b.hi};
  }
  friend OSPREY_RCF_INLINE Lanes8 Min(Lanes8 a, Lanes8 b) {
    return {rcf::Min(a.lo, b.lo), rcf::Min(a.hi, b.hi)};
  }
  friend OSPREY_RCF_INLINE Lanes8 Max(Lanes8 a, Lanes8 b) {
    return {rcf::Max(a.lo, b.lo), rcf::Max(a.hi, b.hi)};
  }
  friend OSPREY_RCF_INLINE Lanes8 Outside(Lanes8 l, Lanes8 h, Lanes8 x) {
    return {rcf::Outside(l.lo, h.lo, x.lo), rcf::Outside(l.hi, h.hi, x.hi)};
  }
};

// dst[0, n) = src[0, n), inline (no library call for the few floats of a box).
template <bool kWide>
OSPREY_RCF_INLINE void CopyFloats(float* dst, const float* src, int n) {
  int d = 0;
  for (; d + 8 <= n; d += 8) Lanes8<kWide>::Load(src + d).Store(dst + d);
  if (d + 4 <= n) {
    Store(dst + d, Load<F4>(src + d));
    d += 4;
  }
  for (; d < n; ++d) dst[d] = src[d];
}
template <bool kWide = false>
OSPREY_RCF_INLINE void SetBoxToPoint(float* lo, float* hi, const float* p, int dims) {
  CopyFloats<kWide>(lo, p, dims);
  CopyFloats<kWide>(hi, p, dims);
}
inline void SetBoxEmpty(float* lo, float* hi, int dims) {
  std::fill(lo, lo + dims, kInf);
  std::fill(hi, hi + dims, -kInf);
}
// lo = min(lo, lo2), hi = max(hi, hi2) per dimension.
template <bool kWide>
OSPREY_RCF_INLINE void UnionBox(float* lo, float* hi, const float* lo2, const float* hi2,
                                int dims) {
  using L = Lanes8<kWide>;
  int d = 0;
  for (; d + 8 <= dims; d += 8) {
    Min(L::Load(lo + d), L::Load(lo2 + d)).Store(lo + d);
    Max(L::Load(hi + d), L::Load(hi2 + d)).Store(hi + d);
  }
  if (d + 4 <= dims) {
    Store(lo + d, Min(Load<F4>(lo + d), Load<F4>(lo2 + d)));
    Store(hi + d, Max(Load<F4>(hi + d), Load<F4>(hi2 + d)));
    d += 4;
  }
#pragma GCC unroll 1  // at most 3 iterations: no vectorised copy with its set-up
  for (; d < dims; ++d) {
    lo[d] = std::min(lo[d], lo2[d]);
    hi[d] = std::max(hi[d], hi2[d]);
  }
}
template <bool kWide>
OSPREY_RCF_INLINE void UnionPoint(float* lo, float* hi, const float* p, int dims) {
  UnionBox<kWide>(lo, hi, p, p, dims);
}
// Whether p has a value equal to the box's bound in some dimension (no early exit: vectorised).
OSPREY_RCF_INLINE bool OnBoundary(const float* lo, const float* hi, const float* p, int dims) {
  int on = 0;
  for (int d = 0; d < dims; ++d) on |= static_cast<int>(p[d] == lo[d]) | (p[d] == hi[d]);
  return on != 0;
}
inline bool SamePoint(const float* a, const float* b, int dims) {
  for (int d = 0; d < dims; ++d) {
    if (a[d] != b[d]) return false;
  }
  return true;
}
// Sums over dimensions of the box's range and of how far q lies outside it, in float lanes summed
// in a fixed order (deterministic for every build and target): dimension d goes to lane d % 8 of
// two 4-lane halves while 8 remain, then a group of 4 to the low half, the halves are added, the
// last dims % 4 go to lanes 0..; the result is (lane0 + lane1) + (lane2 + lane3). Fewer than 4
// dimensions: one lane each.
template <bool kWide>
OSPREY_RCF_INLINE void RangeAndExtension(const float* lo, const float* hi, const float* q, int dims,
                                         float* range_out, float* ext_out) {
  if (dims < 4) {
    float range[3] = {0, 0, 0};
    float ext[3] = {0, 0, 0};
    for (int d = 0; d < dims; ++d) {
      float l = lo[d], h = hi[d], x = q[d];
      range[d] += h - l;
      ext[d] += std::max(l - x, 0.0f) + std::max(x - h, 0.0f);
    }
    *range_out = (range[0] + range[1]) + (range[2] + 0.0f);
    *ext_out = (ext[0] + ext[1]) + (ext[2] + 0.0f);
    return;
  }
  // Range lanes start at +0 (+0 + v is v except for v = -0). Outside is never -0: extension
  // lanes start at their first value.
  using L = Lanes8<kWide>;
  const F4 zero4 = {};
  int d = 0;
  F4 r, e;
  if (dims >= 8) {
    L l = L::Load(lo), h = L::Load(hi), x = L::Load(q);
    L r8 = L{} + (h - l), e8 = Outside(l, h, x);
    for (d = 8; d + 8 <= dims; d += 8) {
      l = L::Load(lo + d), h = L::Load(hi + d), x = L::Load(q + d);
      r8 = r8 + (h - l);
      e8 = e8 + Outside(l, h, x);
    }
    F4 rl = r8.low(), el = e8.low();
    if (d + 4 <= dims) {
      F4 l4 = Load<F4>(lo + d), h4 = Load<F4>(hi + d), x4 = Load<F4>(q + d);
      rl += h4 - l4;
      el += Outside(l4, h4, x4);
      d += 4;
    }
    r = rl + r8.high();
    e = el + e8.high();
  } else {  // 4 to 7 dimensions: the high half is +0
    F4 l4 = Load<F4>(lo), h4 = Load<F4>(hi), x4 = Load<F4>(q);
    r = zero4 + (h4 - l4);
    e = Outside(l4, h4, x4);
    d = 4;
  }
  if (d < dims) {
    // The last dims % 4 values go to lanes 0.. (zero padding adds +0: sums are >= +0, unchanged).
    F4 l4 = zero4, h4 = zero4, x4 = zero4;
    for (int lane = 0; d < dims; ++d, ++lane) {
      l4[lane] = lo[d];
      h4[lane] = hi[d];
      x4[lane] = q[d];
    }
    r += h4 - l4;
    e += Outside(l4, h4, x4);
  }
  // Both sums at once: s = (r0 + r1, r2 + r3, e0 + e1, e2 + e3), then s0 + s1 and s2 + s3.
  F4 sums = __builtin_shufflevector(r, e, 0, 2, 4, 6) + __builtin_shufflevector(r, e, 1, 3, 5, 7);
  sums += __builtin_shufflevector(sums, sums, 1, 0, 3, 2);
  *range_out = sums[0];
  *ext_out = sums[2];
}
// Probability that a random cut of box(lo, hi) grown by q separates q: extension / grown range.
inline double SeparationProbability(const float* lo, const float* hi, const float* q, int dims) {
  float range, ext;
  RangeAndExtension<false>(lo, hi, q, dims, &range, &ext);
  return ext == 0 ? 0.0 : static_cast<double>(ext) / (static_cast<double>(range) + ext);
}
// AWS scoring functions.
inline double ScoreSeen(int depth, int mass) { return 1.0 / (depth + std::log2(mass + 1.0)); }
constexpr int kInverseTableSize = 64;
struct InverseTable {
  double value[kInverseTableSize];
  constexpr InverseTable() : value() {
    for (int idx = 0; idx < kInverseTableSize; ++idx) value[idx] = 1.0 / (idx + 1.0);
  }
};
constexpr InverseTable kInverse;
inline double ScoreUnseen(int depth) {
  return depth < kInverseTableSize ? kInverse.value[depth] : 1.0 / (depth + 1.0);
}
inline double Damp(int leaf_mass, int tree_mass) { return 1.0 - leaf_mass / (2.0 * tree_mass); }

// Which build of the hot paths runs: -1 not decided yet, 0 baseline, 1 AVX2.
std::atomic<int> g_wide_kernels{-1};

bool CpuHasAvx2() {
#if OSPREY_RCF_X86_DISPATCH
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") != 0;
#else
  return false;
#endif
}

bool UseWideKernels() {
  int wide = g_wide_kernels.load(std::memory_order_relaxed);
  if (wide < 0) {
    wide = CpuHasAvx2() ? 1 : 0;
    g_wide_kernels.store(wide, std::memory_order_relaxed);
  }
  return wide != 0;
}

}  // namespace

bool RandomCutTree::WideKernelsSupported() { return CpuHasAvx2(); }

void RandomCutTree::SetWideKernelsForTesting(bool on) {
  OSPREY_CHECK(!on || CpuHasAvx2()) << "AVX2 kernels requested on a CPU without AVX2";
  g_wide_kernels.store(on ? 1 : 0, std::memory_order_relaxed);
}

// The hot paths compiled for AVX2: each inlines the kWide = true templates (and every kernel they
// call) into a function built for that target. Only called when the CPU has AVX2.
struct RandomCutTree::Wide {
  OSPREY_RCF_TARGET_AVX2 static uint16_t Insert(RandomCutTree& tree, uint32_t point,
                                                const PointStore& store, Rng& rng) {
    return tree.InsertImpl<true>(point, store, rng);
  }
  OSPREY_RCF_TARGET_AVX2 static uint32_t Delete(RandomCutTree& tree, uint16_t leaf,
                                                const PointStore& store) {
    return tree.DeleteImpl<true>(leaf, store);
  }
  OSPREY_RCF_TARGET_AVX2 static void ScorePaths(const RandomCutTree* const* trees, int count,
                                                const float* q, const PointStore& store,
                                                const NodeRef (*path)[kMaxBatchDepth],
                                                const size_t* depth, const NodeRef* node,
                                                double* out) {
    RandomCutTree::ScorePaths<true>(trees, count, q, store, path, depth, node, out);
  }
};

RandomCutTree::RandomCutTree(int dims, int capacity, int box_cache_min_mass)
    : dims_(dims), capacity_(capacity), min_cache_mass_(box_cache_min_mass) {
  OSPREY_CHECK(dims >= 1 && capacity >= 2 && capacity <= 32767 && box_cache_min_mass >= 2);
  nodes_.resize(capacity - 1);
  mass_.resize(capacity - 1);
  leaf_point_.resize(capacity);
  leaf_mass_.resize(capacity);
  ResetFreeLists();
}

void RandomCutTree::ResetFreeLists() {
  root_ = kNull;
  for (int idx = 0; idx < capacity_ - 1; ++idx) {
    nodes_[idx].child[0] = static_cast<NodeRef>(idx + 1 < capacity_ - 1 ? idx + 1 : kNull);
    nodes_[idx].box_slot = kNoSlot;
  }
  free_internal_ = capacity_ > 1 ? 0 : kNull;
  for (int idx = 0; idx < capacity_; ++idx) {
    leaf_point_[idx] = idx + 1 < capacity_ ? static_cast<uint32_t>(idx + 1) : PointStore::kNone;
    leaf_mass_[idx] = 0;
  }
  free_leaf_ = 0;
  boxes_.clear();
  free_slots_.clear();
}

uint16_t RandomCutTree::AllocLeaf(uint32_t point) {
  OSPREY_CHECK(free_leaf_ != PointStore::kNone) << "tree is full";
  auto leaf = static_cast<uint16_t>(free_leaf_);
  free_leaf_ = leaf_point_[leaf];
  leaf_point_[leaf] = point;
  leaf_mass_[leaf] = 1;
  return leaf;
}

void RandomCutTree::FreeLeaf(uint16_t leaf) {
  leaf_point_[leaf] = free_leaf_;
  leaf_mass_[leaf] = 0;
  free_leaf_ = leaf;
}

RandomCutTree::NodeRef RandomCutTree::AllocInternal() {
  OSPREY_CHECK(free_internal_ != kNull) << "no free internal node";
  NodeRef n = free_internal_;
  free_internal_ = nodes_[n].child[0];
  nodes_[n].box_slot = kNoSlot;
  return n;
}

void RandomCutTree::FreeInternal(NodeRef n) {
  if (nodes_[n].box_slot != kNoSlot) FreeSlot(n);
  nodes_[n].child[0] = free_internal_;
  free_internal_ = n;
}

void RandomCutTree::AllocSlot(NodeRef n) {
  uint16_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    size_t slots = boxes_.size() / (2 * static_cast<size_t>(dims_));
    OSPREY_CHECK(slots < kNoSlot);
    slot = static_cast<uint16_t>(slots);
    const size_t stride = 2 * static_cast<size_t>(dims_);
    // Grow by small steps, not doubling: the slot count settles early and slack is memory.
    if (boxes_.size() + stride > boxes_.capacity()) boxes_.reserve(boxes_.size() + 2 * stride);
    boxes_.resize(boxes_.size() + stride);
  }
  nodes_[n].box_slot = slot;
}

void RandomCutTree::FreeSlot(NodeRef n) {
  free_slots_.push_back(nodes_[n].box_slot);
  nodes_[n].box_slot = kNoSlot;
}

void RandomCutTree::CompactSlots() {
  const size_t stride = 2 * static_cast<size_t>(dims_);
  const size_t slots = boxes_.size() / stride;
  const size_t used = slots - free_slots_.size();
  std::vector<uint16_t> holes;
  for (uint16_t slot : free_slots_) {
    if (slot < used) holes.push_back(slot);
  }
  for (Node& node : nodes_) {
    if (node.box_slot == kNoSlot || node.box_slot < used) continue;
    const uint16_t to = holes.back();
    holes.pop_back();
    std::memcpy(BoxLo(to), BoxLo(node.box_slot), sizeof(float) * stride);
    node.box_slot = to;
  }
  boxes_.resize(used * stride);
  boxes_.shrink_to_fit();
  free_slots_.clear();
}

template <bool kWide, int kDims>
OSPREY_RCF_INLINE const float* RandomCutTree::AncestorBox(NodeRef n, NodeRef child,
                                                          const PointStore& store, float* lo,
                                                          float* hi) const {
  if (nodes_[n].box_slot != kNoSlot) return BoxLo(nodes_[n].box_slot);
  UnionSubtree<kWide, kDims>(nodes_[n].child[0] == child ? nodes_[n].child[1] : nodes_[n].child[0],
                             store, lo, hi);
  return lo;
}

template <bool kWide, int kDims>
OSPREY_RCF_INLINE void RandomCutTree::UnionSubtree(NodeRef r, const PointStore& store, float* lo,
                                                   float* hi) const {
  const int dims = kDims > 0 ? kDims : dims_;
  ScratchStack<NodeRef, kInlinePath> pending;  // right children still to visit
  while (true) {
    if (IsLeaf(r)) {
      UnionPoint<kWide>(lo, hi, store.Point(leaf_point_[LeafId(r)]), dims);
    } else {
      const Node& node = nodes_[r];
      if (node.box_slot != kNoSlot) {
        const float* blo = BoxLo(node.box_slot);
        UnionBox<kWide>(lo, hi, blo, blo + dims, dims);
      } else {
        pending.push_back(node.child[1]);
        r = node.child[0];
        continue;
      }
    }
    if (pending.empty()) return;
    r = pending.back();
    pending.pop_back();
  }
}

template <bool kWide>
OSPREY_RCF_INLINE void RandomCutTree::ComputeBox(NodeRef n, const PointStore& store) {
  float* lo = BoxLo(nodes_[n].box_slot);
  float* hi = lo + dims_;
  SetBoxEmpty(lo, hi, dims_);
  UnionSubtree<kWide>(nodes_[n].child[0], store, lo, hi);
  UnionSubtree<kWide>(nodes_[n].child[1], store, lo, hi);
}

RandomCutTree::Cut RandomCutTree::CutInExtension(const float* lo, const float* hi, const float* p,
                                                 double u) const {
  double total = 0;
  for (int d = 0; d < dims_; ++d) {
    total += std::max(static_cast<double>(lo[d]) - p[d], 0.0) +
             std::max(static_cast<double>(p[d]) - hi[d], 0.0);
  }
  const double target = u * total;
  double cum = 0;
  int last = -1;
  for (int d = 0; d < dims_; ++d) {
    const bool below = p[d] < lo[d];
    if (!below && !(p[d] > hi[d])) continue;
    const double ext =
        below ? static_cast<double>(lo[d]) - p[d] : static_cast<double>(p[d]) - hi[d];
    last = d;
    if (target < cum + ext || d == dims_ - 1) {
      // p <= cut < lo (p goes left, the box right) or hi <= cut < p (the box left, p right).
      const float from = below ? p[d] : hi[d];
      const float to = below ? lo[d] : p[d];
      auto value = static_cast<float>(from + std::min(target - cum, ext));
      if (value >= to) value = std::nextafter(to, -kInf);
      if (value < from) value = from;
      return Cut{d, value};
    }
    cum += ext;
  }
  OSPREY_CHECK(last >= 0) << "cut of a box that contains the point";
  const bool below = p[last] < lo[last];
  return Cut{last, std::nextafter(below ? lo[last] : p[last], -kInf)};
}

template <bool kWide>
OSPREY_RCF_INLINE uint16_t RandomCutTree::InsertImpl(uint32_t point, const PointStore& store,
                                                     Rng& rng) {
  const float* p = store.Point(point);
  if (root_ == kNull) {
    uint16_t leaf = AllocLeaf(point);
    root_ = LeafRef(leaf);
    return leaf;
  }
  OSPREY_CHECK(mass() < capacity_) << "insert into a full tree";
  ScratchStack<NodeRef, kInlinePath> path;
  NodeRef node = root_;
  while (!IsLeaf(node)) {
    path.push_back(node);
    node = Child(node, p);
  }
  const uint16_t leaf = LeafId(node);
  const float* lp = store.Point(leaf_point_[leaf]);
  if (SamePoint(p, lp, dims_)) {
    ++leaf_mass_[leaf];
    for (size_t idx = path.size(); idx-- > 0;) {
      NodeRef n = path[idx];
      if (++mass_[n] >= min_cache_mass_ && nodes_[n].box_slot == kNoSlot) {
        AllocSlot(n);
        ComputeBox<kWide>(n, store);
      }
    }
    return leaf;
  }

  // Bottom-up: a fresh random cut of each box on the path grown by p separates p with probability
  // extension / grown range; the highest separating level wins, and given that it separates, its
  // cut is uniform over the extension. At the leaf the grown box is {leaf, p}: always separates.
  // As in ScoreFromPath: first the uncached lowest levels with a running box (a winning box is
  // copied, the running box changes), then the cached ones (a winning box is pointed to: no
  // allocation happens during the walk).
  const size_t stride = 2 * static_cast<size_t>(dims_);
  ScratchArray<float, kInlineFloats> buf(stride);
  ScratchArray<float, kInlineFloats> best_copy(stride);
  float* lo = buf.data();
  float* hi = lo + dims_;
  SetBoxToPoint<kWide>(lo, hi, lp, dims_);
  SetBoxToPoint<kWide>(best_copy.data(), best_copy.data() + dims_, lp, dims_);
  const float* best_box = best_copy.data();
  size_t best_level = path.size();  // path.size() = at the leaf
  double best_u = rng.NextDouble();
  NodeRef child = node;
  size_t level = path.size();
  while (level > 0) {
    for (; level > 0 && nodes_[path[level - 1]].box_slot == kNoSlot; --level) {
      const Node& n = nodes_[path[level - 1]];
      UnionSubtree<kWide>(n.child[0] == child ? n.child[1] : n.child[0], store, lo, hi);
      child = path[level - 1];
      float range, ext;
      RangeAndExtension<kWide>(lo, hi, p, dims_, &range, &ext);
      if (ext == 0) {  // p is inside this box and every box above: the walk ends
        level = 0;
        break;
      }
      const double prob = static_cast<double>(ext) / (static_cast<double>(range) + ext);
      double r = rng.NextDouble();
      if (r < prob) {
        best_level = level - 1;
        best_u = r / prob;  // uniform in [0, 1) given r < prob
        CopyFloats<kWide>(best_copy.data(), lo, 2 * dims_);
        best_box = best_copy.data();
      }
    }
    for (; level > 0; --level) {
      const uint16_t slot = nodes_[path[level - 1]].box_slot;
      if (slot == kNoSlot) break;
      const float* blo = BoxLo(slot);
      float range, ext;
      RangeAndExtension<kWide>(blo, blo + dims_, p, dims_, &range, &ext);
      if (ext == 0) {
        level = 0;
        break;
      }
      const double prob = static_cast<double>(ext) / (static_cast<double>(range) + ext);
      double r = rng.NextDouble();
      if (r < prob) {
        best_level = level - 1;
        best_u = r / prob;
        best_box = blo;
      }
    }
    if (level > 0) {  // an uncached node above a cached one: not with a valid cache, exact anyway
      child = path[level];
      CopyFloats<kWide>(lo, BoxLo(nodes_[child].box_slot), 2 * dims_);
    }
  }
  const Cut best = CutInExtension(best_box, best_box + dims_, p, best_u);

  const uint16_t new_leaf = AllocLeaf(point);
  const NodeRef old = best_level == path.size() ? node : path[best_level];
  const NodeRef n = AllocInternal();
  nodes_[n].cut_dim = static_cast<uint16_t>(best.dim);
  nodes_[n].cut_val = best.value;
  if (p[best.dim] <= best.value) {
    nodes_[n].child[0] = LeafRef(new_leaf);
    nodes_[n].child[1] = old;
  } else {
    nodes_[n].child[0] = old;
    nodes_[n].child[1] = LeafRef(new_leaf);
  }
  mass_[n] = static_cast<uint16_t>(MassOf(old) + 1);
  if (best_level == 0) {
    root_ = n;
  } else {
    NodeRef parent = path[best_level - 1];
    (nodes_[parent].child[0] == old ? nodes_[parent].child[0] : nodes_[parent].child[1]) = n;
  }
  if (mass_[n] >= min_cache_mass_) {
    AllocSlot(n);
    ComputeBox<kWide>(n, store);
  }
  for (size_t idx = best_level; idx-- > 0;) {
    NodeRef m = path[idx];
    if (++mass_[m] >= min_cache_mass_) {
      if (nodes_[m].box_slot != kNoSlot) {
        float* blo = BoxLo(nodes_[m].box_slot);
        UnionPoint<kWide>(blo, blo + dims_, p, dims_);
      } else {
        AllocSlot(m);
        ComputeBox<kWide>(m, store);
      }
    }
  }
  return new_leaf;
}

template <bool kWide>
OSPREY_RCF_INLINE uint32_t RandomCutTree::DeleteImpl(uint16_t leaf, const PointStore& store) {
  OSPREY_CHECK(leaf < capacity_ && leaf_mass_[leaf] > 0) << "delete of a free leaf " << leaf;
  const uint32_t point = leaf_point_[leaf];
  const float* p = store.Point(point);
  ScratchStack<NodeRef, kInlinePath> path;
  NodeRef node = root_;
  while (!IsLeaf(node)) {
    path.push_back(node);
    node = Child(node, p);
  }
  OSPREY_CHECK(node == LeafRef(leaf)) << "leaf " << leaf << " not found by its point";
  if (leaf_mass_[leaf] > 1) {
    --leaf_mass_[leaf];
    for (size_t idx = path.size(); idx-- > 0;) {
      NodeRef n = path[idx];
      if (--mass_[n] < min_cache_mass_ && nodes_[n].box_slot != kNoSlot) FreeSlot(n);
    }
    return point;
  }
  FreeLeaf(leaf);
  struct SlotCompactor {  // on every return below
    RandomCutTree* tree;
    ~SlotCompactor() {
      const size_t free = tree->free_slots_.size();
      if (free >= 4 && free * 8 >= tree->boxes_.size() / (2 * static_cast<size_t>(tree->dims_))) {
        tree->CompactSlots();
      }
    }
  } compactor{this};
  if (path.empty()) {
    root_ = kNull;
    return point;
  }
  const NodeRef parent = path.back();
  const NodeRef sibling =
      nodes_[parent].child[0] == node ? nodes_[parent].child[1] : nodes_[parent].child[0];
  if (path.size() == 1) {
    root_ = sibling;
  } else {
    NodeRef grand = path[path.size() - 2];
    (nodes_[grand].child[0] == parent ? nodes_[grand].child[0] : nodes_[grand].child[1]) = sibling;
  }
  FreeInternal(parent);
  bool boxes_stable = false;
  ScratchArray<float, kInlineFloats> old_box(2 * static_cast<size_t>(dims_));
  for (size_t idx = path.size() - 1; idx-- > 0;) {
    NodeRef n = path[idx];
    if (--mass_[n] < min_cache_mass_) {
      if (nodes_[n].box_slot != kNoSlot) FreeSlot(n);
      continue;
    }
    if (boxes_stable) continue;
    float* blo = BoxLo(nodes_[n].box_slot);
    if (!OnBoundary(blo, blo + dims_, p, dims_)) {
      boxes_stable = true;
      continue;
    }
    CopyFloats<kWide>(old_box.data(), blo, 2 * dims_);
    ComputeBox<kWide>(n, store);
    boxes_stable = std::memcmp(old_box.data(), blo, sizeof(float) * 2 * dims_) == 0;
  }
  return point;
}

uint16_t RandomCutTree::Insert(uint32_t point, const PointStore& store, Rng& rng) {
  return UseWideKernels() ? Wide::Insert(*this, point, store, rng)
                          : InsertImpl<false>(point, store, rng);
}

uint32_t RandomCutTree::Delete(uint16_t leaf, const PointStore& store) {
  return UseWideKernels() ? Wide::Delete(*this, leaf, store) : DeleteImpl<false>(leaf, store);
}

void RandomCutTree::MarkPoints(std::vector<uint32_t>* table, int input_dim) const {
  for (int leaf = 0; leaf < capacity_; ++leaf) {
    if (leaf_mass_[leaf] != 0) (*table)[leaf_point_[leaf] / input_dim] = 1;
  }
}

void RandomCutTree::RemapPoints(const std::vector<uint32_t>& table, int input_dim) {
  for (int leaf = 0; leaf < capacity_; ++leaf) {
    // Free leaves chain through leaf_point_.
    if (leaf_mass_[leaf] != 0) leaf_point_[leaf] = table[leaf_point_[leaf] / input_dim];
  }
}

double RandomCutTree::Normalizer(int mass) { return std::log2(1.0 + mass); }

RandomCutTree::NodeRef RandomCutTree::Descend(const float* q, Path* path) const {
  NodeRef node = root_;
  while (!IsLeaf(node)) {
    path->push_back(node);
    node = Child(node, q);
  }
  return node;
}

template <bool kWide, int kDims, typename PathT>
OSPREY_RCF_INLINE double RandomCutTree::ScoreFromPath(const float* q, const PointStore& store,
                                                      const PathT& path, size_t depth,
                                                      NodeRef node) const {
  const int dims = kDims > 0 ? kDims : dims_;
  const int tree_mass = mass();
  const uint16_t leaf = LeafId(node);
  const float* lp = store.Point(leaf_point_[leaf]);
  const int leaf_depth = static_cast<int>(depth);
  if (SamePoint(q, lp, dims)) {
    int m = leaf_mass_[leaf];
    return Damp(m, tree_mass) * ScoreSeen(leaf_depth, m);
  }
  double score = ScoreUnseen(leaf_depth);
  ScratchArray<float, kInlineFloats> buf(2 * static_cast<size_t>(dims));
  float* lo = buf.data();
  float* hi = lo + dims;
  SetBoxToPoint<kWide>(lo, hi, lp, dims);
  // Walk up: path[level] is the ancestor at depth `level`. The lowest ancestors have no cached
  // box (the running box grows by each sibling subtree); above the first cached one all are cached
  // (masses only grow upwards), which the second, tighter loop handles. q inside a box (and so
  // inside every box above) ends the walk; the branch comes before the division.
  NodeRef child = node;
  size_t level = depth;
  while (level > 0) {
    for (; level > 0 && nodes_[path[level - 1]].box_slot == kNoSlot; --level) {
      const Node& n = nodes_[path[level - 1]];
      UnionSubtree<kWide, kDims>(n.child[0] == child ? n.child[1] : n.child[0], store, lo, hi);
      child = path[level - 1];
      float range, ext;
      RangeAndExtension<kWide>(lo, hi, q, dims, &range, &ext);
      if (ext == 0) return score;
      const double prob = static_cast<double>(ext) / (static_cast<double>(range) + ext);
      score = prob * ScoreUnseen(static_cast<int>(level - 1)) + (1 - prob) * score;
    }
    for (; level > 0; --level) {
      const uint16_t slot = nodes_[path[level - 1]].box_slot;
      if (slot == kNoSlot) break;
      const float* blo = boxes_.data() + static_cast<size_t>(slot) * 2 * dims;
      float range, ext;
      RangeAndExtension<kWide>(blo, blo + dims, q, dims, &range, &ext);
      if (ext == 0) return score;
      const double prob = static_cast<double>(ext) / (static_cast<double>(range) + ext);
      score = prob * ScoreUnseen(static_cast<int>(level - 1)) + (1 - prob) * score;
    }
    if (level > 0) {  // an uncached node above a cached one: not with a valid cache, exact anyway
      child = path[level];
      CopyFloats<kWide>(lo, BoxLo(nodes_[child].box_slot), 2 * dims);
    }
  }
  return score;
}

double RandomCutTree::RawScore(const float* q, const PointStore& store) const {
  if (root_ == kNull) return 0;
  Path path;
  NodeRef leaf = Descend(q, &path);
  return ScoreFromPath<false, 0>(q, store, path, path.size(), leaf);
}

void RandomCutTree::RawScoreBatch(const RandomCutTree* const* trees, int count, const float* q,
                                  const PointStore& store, double* out) {
  OSPREY_CHECK(count <= kBatch);
  NodeRef path[kBatch][kMaxBatchDepth];
  size_t depth[kBatch] = {};
  NodeRef node[kBatch];
  for (int k = 0; k < count; ++k) node[k] = trees[k]->root_;
  for (size_t level = 0; level < kMaxBatchDepth; ++level) {
    bool live = false;
    for (int k = 0; k < count; ++k) {
      const NodeRef n = node[k];
      if (IsLeaf(n)) continue;  // also kNull (empty tree)
      path[k][level] = n;
      depth[k] = level + 1;
      node[k] = trees[k]->Child(n, q);
      live = true;
    }
    if (!live) break;
  }
  bool deep = false;  // a tree deeper than the buffer
  for (int k = 0; k < count; ++k) deep |= !IsLeaf(node[k]);
  if (deep) {  // deeper than the lockstep buffer: score from the root with an unbounded path
    for (int k = 0; k < count; ++k) out[k] = trees[k]->RawScore(q, store);
  } else if (UseWideKernels()) {
    Wide::ScorePaths(trees, count, q, store, path, depth, node, out);
  } else {
    ScorePaths<false>(trees, count, q, store, path, depth, node, out);
  }
}

template <bool kWide>
OSPREY_RCF_INLINE void RandomCutTree::ScorePaths(const RandomCutTree* const* trees, int count,
                                                 const float* q, const PointStore& store,
                                                 const NodeRef (*path)[kMaxBatchDepth],
                                                 const size_t* depth, const NodeRef* node,
                                                 double* out) {
  // The common dimension counts get walks with the count built in (loops unrolled, no tails).
  // Always inlined, so that it is built for the caller's target.
  auto score_all = [&](auto dims_constant) __attribute__((always_inline)) {
    constexpr int kDims = decltype(dims_constant)::value;
    for (int k = 0; k < count; ++k) {
      const RandomCutTree& t = *trees[k];
      out[k] = t.root_ == kNull
                   ? 0
                   : t.ScoreFromPath<kWide, kDims>(q, store, path[k], depth[k], node[k]);
    }
  };
  switch (count > 0 ? trees[0]->dims_ : 0) {
    case 1:
      score_all(std::integral_constant<int, 1>{});
      break;
    case 8:
      score_all(std::integral_constant<int, 8>{});
      break;
    case 16:
      score_all(std::integral_constant<int, 16>{});
      break;
    default:
      score_all(std::integral_constant<int, 0>{});
  }
}

void RandomCutTree::AddAttribution(const float* q, const PointStore& store, double* high,
                                   double* low) const {
  if (root_ == kNull) return;
  ScratchStack<NodeRef, kInlinePath> path;
  NodeRef node = root_;
  while (!IsLeaf(node)) {
    path.push_back(node);
    node = Child(node, q);
  }
  const int tree_mass = mass();
  const double norm = Normalizer(tree_mass);
  const uint16_t leaf = LeafId(node);
  const float* lp = store.Point(leaf_point_[leaf]);
  const int leaf_depth = static_cast<int>(path.size());
  if (SamePoint(q, lp, dims_)) {
    int m = leaf_mass_[leaf];
    double share = Damp(m, tree_mass) * ScoreSeen(leaf_depth, m) * norm / (2.0 * dims_);
    for (int d = 0; d < dims_; ++d) {
      high[d] += share;
      low[d] += share;
    }
    return;
  }
  ScratchArray<double, kInlineFloats> attr(2 * static_cast<size_t>(dims_));
  double* ah = attr.data();
  double* al = ah + dims_;
  {
    double total = 0;
    for (int d = 0; d < dims_; ++d) total += std::abs(static_cast<double>(q[d]) - lp[d]);
    double s = ScoreUnseen(leaf_depth) / total;
    for (int d = 0; d < dims_; ++d) {
      double diff = static_cast<double>(q[d]) - lp[d];
      ah[d] = diff > 0 ? s * diff : 0;
      al[d] = diff < 0 ? -s * diff : 0;
    }
  }
  ScratchArray<float, kInlineFloats> buf(2 * static_cast<size_t>(dims_));
  float* lo = buf.data();
  float* hi = lo + dims_;
  SetBoxToPoint(lo, hi, lp, dims_);
  NodeRef child = node;
  for (size_t idx = path.size(); idx-- > 0;) {
    NodeRef n = path[idx];
    const float* blo = AncestorBox<false>(n, child, store, lo, hi);
    const float* bhi = blo + dims_;
    child = n;
    // The same probability as RawScore, split across dimensions in proportion to the extension.
    double prob = SeparationProbability(blo, bhi, q, dims_);
    if (prob == 0) break;
    double ext = 0;
    for (int d = 0; d < dims_; ++d) {
      ext += std::max(static_cast<double>(blo[d]) - q[d], 0.0) +
             std::max(static_cast<double>(q[d]) - bhi[d], 0.0);
    }
    double keep = 1 - prob;
    double unseen = prob * ScoreUnseen(static_cast<int>(idx)) / ext;
    for (int d = 0; d < dims_; ++d) {
      double up = q[d] > bhi[d] ? static_cast<double>(q[d]) - bhi[d] : 0;
      double down = q[d] < blo[d] ? static_cast<double>(blo[d]) - q[d] : 0;
      ah[d] = up * unseen + keep * ah[d];
      al[d] = down * unseen + keep * al[d];
    }
  }
  for (int d = 0; d < dims_; ++d) {
    high[d] += ah[d] * norm;
    low[d] += al[d] * norm;
  }
}

struct RandomCutTree::ImputeContext {
  const float* q;
  const uint8_t* missing;
  const PointStore& store;
  int tree_mass;
  std::vector<float> boxes;  // per depth: lo[dims], hi[dims]
};

RandomCutTree::ImputeResult RandomCutTree::ImputeVisit(NodeRef r, int depth,
                                                       ImputeContext& ctx) const {
  const size_t stride = 2 * static_cast<size_t>(dims_);
  if (ctx.boxes.size() < (depth + 2) * stride) ctx.boxes.resize((depth + 2) * stride);
  if (IsLeaf(r)) {
    uint16_t leaf = LeafId(r);
    const float* lp = ctx.store.Point(leaf_point_[leaf]);
    float* lo = ctx.boxes.data() + depth * stride;
    SetBoxToPoint(lo, lo + dims_, lp, dims_);
    bool same = true;
    for (int d = 0; d < dims_ && same; ++d) same = ctx.missing[d] != 0 || ctx.q[d] == lp[d];
    int m = leaf_mass_[leaf];
    double score = same ? Damp(m, ctx.tree_mass) * ScoreSeen(depth, m) : ScoreUnseen(depth);
    return {score, leaf};
  }
  ImputeResult result;
  int d = nodes_[r].cut_dim;
  if (ctx.missing[d] != 0) {
    ImputeResult a = ImputeVisit(nodes_[r].child[0], depth + 1, ctx);
    float* lo = ctx.boxes.data() + depth * stride;
    std::memcpy(lo, ctx.boxes.data() + (depth + 1) * stride, sizeof(float) * stride);
    ImputeResult b = ImputeVisit(nodes_[r].child[1], depth + 1, ctx);
    lo = ctx.boxes.data() + depth * stride;
    const float* child = ctx.boxes.data() + (depth + 1) * stride;
    UnionBox<false>(lo, lo + dims_, child, child + dims_, dims_);
    result = b.score < a.score ? b : a;
  } else {
    NodeRef next = Child(r, ctx.q);
    result = ImputeVisit(next, depth + 1, ctx);
    float* lo = ctx.boxes.data() + depth * stride;
    if (nodes_[r].box_slot != kNoSlot) {
      std::memcpy(lo, BoxLo(nodes_[r].box_slot), sizeof(float) * stride);
    } else {
      std::memcpy(lo, ctx.boxes.data() + (depth + 1) * stride, sizeof(float) * stride);
      UnionSubtree<false>(next == nodes_[r].child[0] ? nodes_[r].child[1] : nodes_[r].child[0],
                          ctx.store, lo, lo + dims_);
    }
  }
  // Probability of separation on the known dimensions only.
  const float* lo = ctx.boxes.data() + depth * stride;
  const float* hi = lo + dims_;
  double ext = 0, range = 0;
  for (int dim = 0; dim < dims_; ++dim) {
    range += static_cast<double>(hi[dim]) - lo[dim];
    if (ctx.missing[dim] != 0) continue;
    if (ctx.q[dim] < lo[dim]) {
      ext += static_cast<double>(lo[dim]) - ctx.q[dim];
    } else if (ctx.q[dim] > hi[dim]) {
      ext += static_cast<double>(ctx.q[dim]) - hi[dim];
    }
  }
  if (ext > 0) {
    double prob = ext / (range + ext);
    result.score = prob * ScoreUnseen(depth) + (1 - prob) * result.score;
  }
  return result;
}

uint16_t RandomCutTree::ConditionalLeaf(const float* q, const uint8_t* missing,
                                        const PointStore& store) const {
  OSPREY_CHECK(root_ != kNull);
  ImputeContext ctx{q, missing, store, mass(), {}};
  return ImputeVisit(root_, 0, ctx).leaf;
}

int RandomCutTree::LeafDepth(const float* q) const {
  OSPREY_CHECK(root_ != kNull);
  int depth = 0;
  for (NodeRef n = root_; !IsLeaf(n); n = Child(n, q)) ++depth;
  return depth;
}

int RandomCutTree::DepthOf(NodeRef r) const {
  if (IsLeaf(r)) return 0;
  return 1 + std::max(DepthOf(nodes_[r].child[0]), DepthOf(nodes_[r].child[1]));
}

size_t RandomCutTree::MemoryBytes() const {
  return sizeof(*this) + nodes_.capacity() * sizeof(Node) +
         (mass_.capacity() + leaf_mass_.capacity() + free_slots_.capacity()) * sizeof(uint16_t) +
         boxes_.capacity() * sizeof(float) + leaf_point_.capacity() * sizeof(uint32_t);
}

// ---------------------------------------------------------------------------------------------
// Checks and persistence.

Status RandomCutTree::CheckStructure(const PointStore& store) const {
  auto bad = [](const std::string& what) { return Status::Corruption("rcf tree: " + what); };
  const int internals = capacity_ - 1;
  std::vector<uint8_t> seen_internal(internals, 0), seen_leaf(capacity_, 0);
  int used_internal = 0, used_leaves = 0;
  if (root_ != kNull) {
    // Iterative DFS with a post-order mass check.
    std::vector<std::pair<NodeRef, bool>> stack{{root_, false}};
    while (!stack.empty()) {
      auto [r, expanded] = stack.back();
      stack.pop_back();
      if (IsLeaf(r)) {
        uint16_t leaf = LeafId(r);
        if (leaf >= capacity_ || seen_leaf[leaf])
          return bad("leaf reference out of range or shared");
        seen_leaf[leaf] = 1;
        ++used_leaves;
        if (leaf_mass_[leaf] == 0) return bad("leaf with zero mass");
        if (!store.IsValid(leaf_point_[leaf])) return bad("leaf point outside the store");
        continue;
      }
      if (r >= internals) return bad("node reference out of range");
      if (expanded) {
        if (mass_[r] != MassOf(nodes_[r].child[0]) + MassOf(nodes_[r].child[1]))
          return bad("masses do not add up");
        bool cached = nodes_[r].box_slot != kNoSlot;
        if (cached != (mass_[r] >= min_cache_mass_)) return bad("box cache policy violated");
        if (cached && static_cast<size_t>(nodes_[r].box_slot + 1) * 2 * dims_ > boxes_.size()) {
          return bad("box slot out of range");
        }
        continue;
      }
      if (seen_internal[r]) return bad("node reachable twice");
      seen_internal[r] = 1;
      ++used_internal;
      if (nodes_[r].cut_dim >= dims_) return bad("cut dimension out of range");
      stack.push_back({r, true});
      stack.push_back({nodes_[r].child[0], false});
      stack.push_back({nodes_[r].child[1], false});
    }
    if (used_internal != used_leaves - 1) return bad("internal/leaf count mismatch");
  }
  int free_internal = 0;
  for (NodeRef n = free_internal_; n != kNull; n = nodes_[n].child[0]) {
    if (n >= internals || seen_internal[n] || ++free_internal > internals) {
      return bad("bad internal free list");
    }
    seen_internal[n] = 1;
  }
  if (free_internal + used_internal != internals) return bad("internal nodes leaked");
  int free_leaves = 0;
  for (uint32_t leaf = free_leaf_; leaf != PointStore::kNone; leaf = leaf_point_[leaf]) {
    if (leaf >= static_cast<uint32_t>(capacity_) || seen_leaf[leaf] || ++free_leaves > capacity_) {
      return bad("bad leaf free list");
    }
    seen_leaf[leaf] = 1;
  }
  if (free_leaves + used_leaves != capacity_) return bad("leaves leaked");
  if (mass() > capacity_) return bad("more points than capacity");
  return Status::Ok();
}

Status RandomCutTree::CheckNode(NodeRef r, const PointStore& store, float* lo, float* hi) const {
  if (IsLeaf(r)) {
    SetBoxToPoint(lo, hi, store.Point(leaf_point_[LeafId(r)]), dims_);
    return Status::Ok();
  }
  std::vector<float> child(2 * static_cast<size_t>(dims_));
  OSPREY_RETURN_IF_ERROR(CheckNode(nodes_[r].child[0], store, lo, hi));
  int d = nodes_[r].cut_dim;
  if (!(hi[d] <= nodes_[r].cut_val))
    return Status::Corruption("rcf tree: left subtree crosses its cut");
  OSPREY_RETURN_IF_ERROR(CheckNode(nodes_[r].child[1], store, child.data(), child.data() + dims_));
  if (!(child[d] > nodes_[r].cut_val)) {
    return Status::Corruption("rcf tree: right subtree crosses its cut");
  }
  UnionBox<false>(lo, hi, child.data(), child.data() + dims_, dims_);
  if (nodes_[r].box_slot != kNoSlot &&
      std::memcmp(BoxLo(nodes_[r].box_slot), lo, sizeof(float) * 2 * dims_) != 0) {
    return Status::Corruption("rcf tree: cached box differs from its subtree's box");
  }
  return Status::Ok();
}

Status RandomCutTree::CheckInvariants(const PointStore& store) const {
  OSPREY_RETURN_IF_ERROR(CheckStructure(store));
  if (root_ == kNull) return Status::Ok();
  std::vector<float> box(2 * static_cast<size_t>(dims_));
  return CheckNode(root_, store, box.data(), box.data() + dims_);
}

void RandomCutTree::RebuildBoxes(NodeRef r, const PointStore& store) {
  if (IsLeaf(r)) return;
  RebuildBoxes(nodes_[r].child[0], store);
  RebuildBoxes(nodes_[r].child[1], store);
  if (mass_[r] >= min_cache_mass_) {
    AllocSlot(r);
    ComputeBox<false>(r, store);
  }
}

void RandomCutTree::Save(ByteWriter& w) const {
  w.Put<uint16_t>(root_);
  w.Put<uint16_t>(free_internal_);
  w.Put<uint32_t>(free_leaf_);
  for (const Node& n : nodes_) {
    w.Put<uint16_t>(n.child[0]);
    w.Put<uint16_t>(n.child[1]);
    w.Put<uint16_t>(n.cut_dim);
    w.Put<float>(n.cut_val);
  }
  w.PutVector(mass_);
  w.PutVector(leaf_point_);
  w.PutVector(leaf_mass_);
}

Status RandomCutTree::Load(ByteReader& r, const PointStore& store,
                           const std::vector<uint32_t>* index_loc) {
  const size_t internals = capacity_ - 1;
  auto fail = [&](Status s) {
    nodes_.assign(internals, Node{});
    mass_.assign(internals, 0);
    leaf_point_.assign(capacity_, 0);
    leaf_mass_.assign(capacity_, 0);
    ResetFreeLists();
    return s;
  };
  bool ok = r.Get(&root_) && r.Get(&free_internal_) && r.Get(&free_leaf_);
  for (size_t idx = 0; ok && idx < internals; ++idx) {
    Node& n = nodes_[idx];
    ok = r.Get(&n.child[0]) && r.Get(&n.child[1]) && r.Get(&n.cut_dim) && r.Get(&n.cut_val);
    n.box_slot = kNoSlot;
  }
  ok = ok && r.GetVector(&mass_, internals) && r.GetVector(&leaf_point_, capacity_) &&
       r.GetVector(&leaf_mass_, capacity_);
  if (!ok) return fail(Status::Corruption("rcf tree: truncated"));
  boxes_.clear();
  free_slots_.clear();
  if (mass_.size() != internals || leaf_point_.size() != static_cast<size_t>(capacity_) ||
      leaf_mass_.size() != static_cast<size_t>(capacity_)) {
    return fail(Status::Corruption("rcf tree: array sizes do not match sample_size"));
  }
  if (index_loc != nullptr) {  // format 1: leaves in use hold point indices
    for (int leaf = 0; leaf < capacity_; ++leaf) {
      if (leaf_mass_[leaf] == 0) continue;
      uint32_t idx = leaf_point_[leaf];
      if (idx >= index_loc->size() || (*index_loc)[idx] == PointStore::kNone) {
        return fail(Status::Corruption("rcf tree: leaf holds a dead point"));
      }
      leaf_point_[leaf] = (*index_loc)[idx];
    }
  }
  // Structure first (the box policy check is relaxed until boxes are rebuilt).
  int saved_min = min_cache_mass_;
  min_cache_mass_ = 0x10000;  // no node qualifies: the policy check passes with no slots
  Status s = CheckStructure(store);
  min_cache_mass_ = saved_min;
  if (!s.ok()) return fail(s);
  if (root_ != kNull) RebuildBoxes(root_, store);
  s = CheckInvariants(store);
  if (!s.ok()) return fail(s);
  return Status::Ok();
}

}  // namespace osprey::models::rcf
