#include "models/rcf/random_cut_tree.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "config/base/check.h"
#include "models/rcf/internal/small_buffer.h"

namespace osprey::models::rcf {
namespace {

using internal::ScratchArray;
using internal::ScratchStack;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr size_t kInlineFloats = 512;  // boxes of up to 256 dimensions stay on the stack
constexpr size_t kInlinePath = 64;

inline void SetBoxToPoint(float* lo, float* hi, const float* p, int dims) {
  std::memcpy(lo, p, sizeof(float) * dims);
  std::memcpy(hi, p, sizeof(float) * dims);
}
inline void SetBoxEmpty(float* lo, float* hi, int dims) {
  std::fill(lo, lo + dims, kInf);
  std::fill(hi, hi + dims, -kInf);
}
inline void UnionPoint(float* lo, float* hi, const float* p, int dims) {
  for (int d = 0; d < dims; ++d) {
    lo[d] = std::min(lo[d], p[d]);
    hi[d] = std::max(hi[d], p[d]);
  }
}
inline void UnionBox(float* lo, float* hi, const float* lo2, const float* hi2, int dims) {
  for (int d = 0; d < dims; ++d) {
    lo[d] = std::min(lo[d], lo2[d]);
    hi[d] = std::max(hi[d], hi2[d]);
  }
}
inline bool Contains(const float* lo, const float* hi, const float* p, int dims) {
  for (int d = 0; d < dims; ++d) {
    if (p[d] < lo[d] || p[d] > hi[d]) return false;
  }
  return true;
}
inline bool SamePoint(const float* a, const float* b, int dims) {
  for (int d = 0; d < dims; ++d) {
    if (a[d] != b[d]) return false;
  }
  return true;
}
// Sums over dimensions of the box's range and of how far q lies outside it. Eight independent
// float lanes (vectorisable without -ffast-math) summed in a fixed order: deterministic.
inline void RangeAndExtension(const float* lo, const float* hi, const float* q, int dims,
                              float* range_out, float* ext_out) {
  constexpr int kLanes = 8;
  float range[kLanes] = {};
  float ext[kLanes] = {};
  int d = 0;
  for (; d + kLanes <= dims; d += kLanes) {
    for (int lane = 0; lane < kLanes; ++lane) {
      float l = lo[d + lane], h = hi[d + lane], x = q[d + lane];
      range[lane] += h - l;
      ext[lane] += std::max(l - x, 0.0f) + std::max(x - h, 0.0f);
    }
  }
  for (int lane = 0; d < dims; ++d, ++lane) {
    float l = lo[d], h = hi[d], x = q[d];
    range[lane] += h - l;
    ext[lane] += std::max(l - x, 0.0f) + std::max(x - h, 0.0f);
  }
  *range_out = ((range[0] + range[1]) + (range[2] + range[3])) +
               ((range[4] + range[5]) + (range[6] + range[7]));
  *ext_out = ((ext[0] + ext[1]) + (ext[2] + ext[3])) + ((ext[4] + ext[5]) + (ext[6] + ext[7]));
}
// Probability that a random cut of box(lo, hi) grown by q separates q: extension / grown range.
inline double SeparationProbability(const float* lo, const float* hi, const float* q, int dims) {
  float range, ext;
  RangeAndExtension(lo, hi, q, dims, &range, &ext);
  return ext == 0 ? 0.0 : static_cast<double>(ext) / (static_cast<double>(range) + ext);
}
// AWS scoring functions.
inline double ScoreSeen(int depth, int mass) { return 1.0 / (depth + std::log2(mass + 1.0)); }
inline double ScoreUnseen(int depth) { return 1.0 / (depth + 1.0); }
inline double Damp(int leaf_mass, int tree_mass) {
  return 1.0 - leaf_mass / (2.0 * tree_mass);
}
inline double Normalizer(int tree_mass) { return std::log2(1.0 + tree_mass); }

}  // namespace

RandomCutTree::RandomCutTree(int dims, int capacity, int box_cache_min_mass)
    : dims_(dims), capacity_(capacity), min_cache_mass_(box_cache_min_mass) {
  OSPREY_CHECK(dims >= 1 && capacity >= 2 && capacity <= 32767 && box_cache_min_mass >= 2);
  left_.resize(capacity - 1);
  right_.resize(capacity - 1);
  mass_.resize(capacity - 1);
  cut_dim_.resize(capacity - 1);
  cut_val_.resize(capacity - 1);
  box_slot_.resize(capacity - 1);
  leaf_point_.resize(capacity);
  leaf_mass_.resize(capacity);
  ResetFreeLists();
}

void RandomCutTree::ResetFreeLists() {
  root_ = kNull;
  for (int idx = 0; idx < capacity_ - 1; ++idx) {
    left_[idx] = static_cast<NodeRef>(idx + 1 < capacity_ - 1 ? idx + 1 : kNull);
    box_slot_[idx] = kNoSlot;
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
  free_internal_ = left_[n];
  box_slot_[n] = kNoSlot;
  return n;
}

void RandomCutTree::FreeInternal(NodeRef n) {
  if (box_slot_[n] != kNoSlot) FreeSlot(n);
  left_[n] = free_internal_;
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
    boxes_.resize(boxes_.size() + 2 * static_cast<size_t>(dims_));
  }
  box_slot_[n] = slot;
}

void RandomCutTree::FreeSlot(NodeRef n) {
  free_slots_.push_back(box_slot_[n]);
  box_slot_[n] = kNoSlot;
}

void RandomCutTree::UnionSubtree(NodeRef r, const PointStore& store, float* lo, float* hi) const {
  if (IsLeaf(r)) {
    UnionPoint(lo, hi, store.Point(leaf_point_[LeafId(r)]), dims_);
  } else if (box_slot_[r] != kNoSlot) {
    const float* blo = BoxLo(box_slot_[r]);
    UnionBox(lo, hi, blo, blo + dims_, dims_);
  } else {
    UnionSubtree(left_[r], store, lo, hi);
    UnionSubtree(right_[r], store, lo, hi);
  }
}

void RandomCutTree::ComputeBox(NodeRef n, const PointStore& store) {
  float* lo = BoxLo(box_slot_[n]);
  float* hi = lo + dims_;
  SetBoxEmpty(lo, hi, dims_);
  UnionSubtree(left_[n], store, lo, hi);
  UnionSubtree(right_[n], store, lo, hi);
}

RandomCutTree::Cut RandomCutTree::RandomCut(const float* lo, const float* hi, const float* p,
                                            double r) const {
  double total = 0;
  for (int d = 0; d < dims_; ++d) {
    total += static_cast<double>(std::max(hi[d], p[d])) - std::min(lo[d], p[d]);
  }
  double target = r * total;
  Cut cut;
  int last_positive = -1;
  double cum = 0;
  for (int d = 0; d < dims_; ++d) {
    float l = std::min(lo[d], p[d]);
    float h = std::max(hi[d], p[d]);
    double range = static_cast<double>(h) - l;
    if (range <= 0) continue;
    last_positive = d;
    if (target < cum + range) {
      cut.dim = d;
      cut.value = static_cast<float>(l + (target - cum));
      if (cut.value >= h) cut.value = std::nextafter(h, -kInf);
      return cut;
    }
    cum += range;
  }
  // Rounding pushed the target past the last range: cut at the top of the last positive one.
  OSPREY_CHECK(last_positive >= 0) << "random cut of a degenerate box";
  cut.dim = last_positive;
  cut.value = std::nextafter(std::max(hi[last_positive], p[last_positive]), -kInf);
  return cut;
}

uint16_t RandomCutTree::Insert(uint32_t point, const PointStore& store, Rng& rng) {
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
      if (++mass_[n] >= min_cache_mass_ && box_slot_[n] == kNoSlot) {
        AllocSlot(n);
        ComputeBox(n, store);
      }
    }
    return leaf;
  }

  // Bottom-up: a fresh cut of each box on the path, grown by p; the highest separating one wins.
  ScratchArray<float, kInlineFloats> buf(2 * static_cast<size_t>(dims_));
  float* lo = buf.data();
  float* hi = lo + dims_;
  SetBoxToPoint(lo, hi, lp, dims_);
  size_t best_level = path.size();  // path.size() = at the leaf
  Cut best = RandomCut(lo, hi, p, rng.NextDouble());
  NodeRef child = node;
  for (size_t idx = path.size(); idx-- > 0;) {
    NodeRef n = path[idx];
    const float* blo;
    const float* bhi;
    if (box_slot_[n] != kNoSlot) {
      blo = BoxLo(box_slot_[n]);
      bhi = blo + dims_;
    } else {
      UnionSubtree(left_[n] == child ? right_[n] : left_[n], store, lo, hi);
      blo = lo;
      bhi = hi;
    }
    child = n;
    if (Contains(blo, bhi, p, dims_)) break;  // so is every box above
    Cut cut = RandomCut(blo, bhi, p, rng.NextDouble());
    float v = cut.value;
    int d = cut.dim;
    if ((p[d] <= v && v < blo[d]) || (bhi[d] <= v && v < p[d])) {
      best = cut;
      best_level = idx;
    }
  }

  const uint16_t new_leaf = AllocLeaf(point);
  const NodeRef old = best_level == path.size() ? node : path[best_level];
  const NodeRef n = AllocInternal();
  cut_dim_[n] = static_cast<uint16_t>(best.dim);
  cut_val_[n] = best.value;
  if (p[best.dim] <= best.value) {
    left_[n] = LeafRef(new_leaf);
    right_[n] = old;
  } else {
    left_[n] = old;
    right_[n] = LeafRef(new_leaf);
  }
  mass_[n] = static_cast<uint16_t>(MassOf(old) + 1);
  if (best_level == 0) {
    root_ = n;
  } else {
    NodeRef parent = path[best_level - 1];
    (left_[parent] == old ? left_[parent] : right_[parent]) = n;
  }
  if (mass_[n] >= min_cache_mass_) {
    AllocSlot(n);
    ComputeBox(n, store);
  }
  for (size_t idx = best_level; idx-- > 0;) {
    NodeRef m = path[idx];
    if (++mass_[m] >= min_cache_mass_) {
      if (box_slot_[m] != kNoSlot) {
        float* blo = BoxLo(box_slot_[m]);
        UnionPoint(blo, blo + dims_, p, dims_);
      } else {
        AllocSlot(m);
        ComputeBox(m, store);
      }
    }
  }
  return new_leaf;
}

uint32_t RandomCutTree::Delete(uint16_t leaf, const PointStore& store) {
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
      if (--mass_[n] < min_cache_mass_ && box_slot_[n] != kNoSlot) FreeSlot(n);
    }
    return point;
  }
  FreeLeaf(leaf);
  if (path.empty()) {
    root_ = kNull;
    return point;
  }
  const NodeRef parent = path.back();
  const NodeRef sibling = left_[parent] == node ? right_[parent] : left_[parent];
  if (path.size() == 1) {
    root_ = sibling;
  } else {
    NodeRef grand = path[path.size() - 2];
    (left_[grand] == parent ? left_[grand] : right_[grand]) = sibling;
  }
  FreeInternal(parent);
  bool boxes_stable = false;
  ScratchArray<float, kInlineFloats> old_box(2 * static_cast<size_t>(dims_));
  for (size_t idx = path.size() - 1; idx-- > 0;) {
    NodeRef n = path[idx];
    if (--mass_[n] < min_cache_mass_) {
      if (box_slot_[n] != kNoSlot) FreeSlot(n);
      continue;
    }
    if (boxes_stable) continue;
    float* blo = BoxLo(box_slot_[n]);
    bool on_boundary = false;
    for (int d = 0; d < dims_ && !on_boundary; ++d) {
      on_boundary = p[d] == blo[d] || p[d] == blo[dims_ + d];
    }
    if (!on_boundary) {
      boxes_stable = true;
      continue;
    }
    std::memcpy(old_box.data(), blo, sizeof(float) * 2 * dims_);
    ComputeBox(n, store);
    boxes_stable = std::memcmp(old_box.data(), blo, sizeof(float) * 2 * dims_) == 0;
  }
  return point;
}

double RandomCutTree::Score(const float* q, const PointStore& store) const {
  if (root_ == kNull) return 0;
  ScratchStack<NodeRef, kInlinePath> path;
  NodeRef node = root_;
  while (!IsLeaf(node)) {
    path.push_back(node);
    node = Child(node, q);
  }
  const int tree_mass = mass();
  const uint16_t leaf = LeafId(node);
  const float* lp = store.Point(leaf_point_[leaf]);
  const int leaf_depth = static_cast<int>(path.size());
  if (SamePoint(q, lp, dims_)) {
    int m = leaf_mass_[leaf];
    return Damp(m, tree_mass) * ScoreSeen(leaf_depth, m) * Normalizer(tree_mass);
  }
  double score = ScoreUnseen(leaf_depth);
  ScratchArray<float, kInlineFloats> buf(2 * static_cast<size_t>(dims_));
  float* lo = buf.data();
  float* hi = lo + dims_;
  SetBoxToPoint(lo, hi, lp, dims_);
  NodeRef child = node;
  for (size_t idx = path.size(); idx-- > 0;) {
    NodeRef n = path[idx];
    const float* blo;
    const float* bhi;
    if (box_slot_[n] != kNoSlot) {
      blo = BoxLo(box_slot_[n]);
      bhi = blo + dims_;
    } else {
      UnionSubtree(left_[n] == child ? right_[n] : left_[n], store, lo, hi);
      blo = lo;
      bhi = hi;
    }
    child = n;
    double prob = SeparationProbability(blo, bhi, q, dims_);
    if (prob == 0) break;  // q is inside this box and every box above
    score = prob * ScoreUnseen(static_cast<int>(idx)) + (1 - prob) * score;
  }
  return score * Normalizer(tree_mass);
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
    const float* blo;
    const float* bhi;
    if (box_slot_[n] != kNoSlot) {
      blo = BoxLo(box_slot_[n]);
      bhi = blo + dims_;
    } else {
      UnionSubtree(left_[n] == child ? right_[n] : left_[n], store, lo, hi);
      blo = lo;
      bhi = hi;
    }
    child = n;
    double ext = 0, range = 0;
    for (int d = 0; d < dims_; ++d) {
      range += static_cast<double>(bhi[d]) - blo[d];
      if (q[d] < blo[d]) {
        ext += static_cast<double>(blo[d]) - q[d];
      } else if (q[d] > bhi[d]) {
        ext += static_cast<double>(q[d]) - bhi[d];
      }
    }
    if (ext == 0) break;
    double grown = range + ext;
    double keep = 1 - ext / grown;
    double unseen = ScoreUnseen(static_cast<int>(idx)) / grown;
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
    double score =
        same ? Damp(m, ctx.tree_mass) * ScoreSeen(depth, m) : ScoreUnseen(depth);
    return {score, leaf};
  }
  ImputeResult result;
  int d = cut_dim_[r];
  if (ctx.missing[d] != 0) {
    ImputeResult a = ImputeVisit(left_[r], depth + 1, ctx);
    float* lo = ctx.boxes.data() + depth * stride;
    std::memcpy(lo, ctx.boxes.data() + (depth + 1) * stride, sizeof(float) * stride);
    ImputeResult b = ImputeVisit(right_[r], depth + 1, ctx);
    lo = ctx.boxes.data() + depth * stride;
    const float* child = ctx.boxes.data() + (depth + 1) * stride;
    UnionBox(lo, lo + dims_, child, child + dims_, dims_);
    result = b.score < a.score ? b : a;
  } else {
    NodeRef next = Child(r, ctx.q);
    result = ImputeVisit(next, depth + 1, ctx);
    float* lo = ctx.boxes.data() + depth * stride;
    if (box_slot_[r] != kNoSlot) {
      std::memcpy(lo, BoxLo(box_slot_[r]), sizeof(float) * stride);
    } else {
      std::memcpy(lo, ctx.boxes.data() + (depth + 1) * stride, sizeof(float) * stride);
      UnionSubtree(next == left_[r] ? right_[r] : left_[r], ctx.store, lo, lo + dims_);
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
  return 1 + std::max(DepthOf(left_[r]), DepthOf(right_[r]));
}

size_t RandomCutTree::MemoryBytes() const {
  return sizeof(*this) +
         (left_.capacity() + right_.capacity() + mass_.capacity() + cut_dim_.capacity() +
          box_slot_.capacity() + leaf_mass_.capacity() + free_slots_.capacity()) *
             sizeof(uint16_t) +
         (cut_val_.capacity() + boxes_.capacity()) * sizeof(float) +
         leaf_point_.capacity() * sizeof(uint32_t);
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
        if (leaf >= capacity_ || seen_leaf[leaf]) return bad("leaf reference out of range or shared");
        seen_leaf[leaf] = 1;
        ++used_leaves;
        if (leaf_mass_[leaf] == 0) return bad("leaf with zero mass");
        if (!store.IsLive(leaf_point_[leaf])) return bad("leaf holds a dead point");
        continue;
      }
      if (r >= internals) return bad("node reference out of range");
      if (expanded) {
        if (mass_[r] != MassOf(left_[r]) + MassOf(right_[r])) return bad("masses do not add up");
        bool cached = box_slot_[r] != kNoSlot;
        if (cached != (mass_[r] >= min_cache_mass_)) return bad("box cache policy violated");
        if (cached && static_cast<size_t>(box_slot_[r] + 1) * 2 * dims_ > boxes_.size()) {
          return bad("box slot out of range");
        }
        continue;
      }
      if (seen_internal[r]) return bad("node reachable twice");
      seen_internal[r] = 1;
      ++used_internal;
      if (cut_dim_[r] >= dims_) return bad("cut dimension out of range");
      stack.push_back({r, true});
      stack.push_back({left_[r], false});
      stack.push_back({right_[r], false});
    }
    if (used_internal != used_leaves - 1) return bad("internal/leaf count mismatch");
  }
  int free_internal = 0;
  for (NodeRef n = free_internal_; n != kNull; n = left_[n]) {
    if (n >= internals || seen_internal[n] || ++free_internal > internals) {
      return bad("bad internal free list");
    }
    seen_internal[n] = 1;
  }
  if (free_internal + used_internal != internals) return bad("internal nodes leaked");
  int free_leaves = 0;
  for (uint32_t leaf = free_leaf_; leaf != PointStore::kNone; leaf = leaf_point_[leaf]) {
    if (leaf >= static_cast<uint32_t>(capacity_) || seen_leaf[leaf] ||
        ++free_leaves > capacity_) {
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
  OSPREY_RETURN_IF_ERROR(CheckNode(left_[r], store, lo, hi));
  int d = cut_dim_[r];
  if (!(hi[d] <= cut_val_[r])) return Status::Corruption("rcf tree: left subtree crosses its cut");
  OSPREY_RETURN_IF_ERROR(CheckNode(right_[r], store, child.data(), child.data() + dims_));
  if (!(child[d] > cut_val_[r])) {
    return Status::Corruption("rcf tree: right subtree crosses its cut");
  }
  UnionBox(lo, hi, child.data(), child.data() + dims_, dims_);
  if (box_slot_[r] != kNoSlot &&
      std::memcmp(BoxLo(box_slot_[r]), lo, sizeof(float) * 2 * dims_) != 0) {
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
  RebuildBoxes(left_[r], store);
  RebuildBoxes(right_[r], store);
  if (mass_[r] >= min_cache_mass_) {
    AllocSlot(r);
    ComputeBox(r, store);
  }
}

void RandomCutTree::Save(ByteWriter& w) const {
  w.Put<uint16_t>(root_);
  w.Put<uint16_t>(free_internal_);
  w.Put<uint32_t>(free_leaf_);
  w.PutVector(left_);
  w.PutVector(right_);
  w.PutVector(mass_);
  w.PutVector(cut_dim_);
  w.PutVector(cut_val_);
  w.PutVector(leaf_point_);
  w.PutVector(leaf_mass_);
}

Status RandomCutTree::Load(ByteReader& r, const PointStore& store) {
  const size_t internals = capacity_ - 1;
  if (!r.Get(&root_) || !r.Get(&free_internal_) || !r.Get(&free_leaf_) ||
      !r.GetVector(&left_, internals) || !r.GetVector(&right_, internals) ||
      !r.GetVector(&mass_, internals) || !r.GetVector(&cut_dim_, internals) ||
      !r.GetVector(&cut_val_, internals) || !r.GetVector(&leaf_point_, capacity_) ||
      !r.GetVector(&leaf_mass_, capacity_)) {
    ResetFreeLists();
    return Status::Corruption("rcf tree: truncated");
  }
  boxes_.clear();
  free_slots_.clear();
  box_slot_.assign(internals, kNoSlot);
  auto fail = [&](Status s) {
    left_.resize(internals);
    right_.resize(internals);
    mass_.resize(internals);
    cut_dim_.resize(internals);
    cut_val_.resize(internals);
    leaf_point_.resize(capacity_);
    leaf_mass_.resize(capacity_);
    ResetFreeLists();
    return s;
  };
  if (left_.size() != internals || right_.size() != internals || mass_.size() != internals ||
      cut_dim_.size() != internals || cut_val_.size() != internals ||
      leaf_point_.size() != static_cast<size_t>(capacity_) ||
      leaf_mass_.size() != static_cast<size_t>(capacity_)) {
    return fail(Status::Corruption("rcf tree: array sizes do not match sample_size"));
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
