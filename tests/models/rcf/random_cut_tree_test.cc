#include "models/rcf/random_cut_tree.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <vector>

#include <gtest/gtest.h>

#include "models/rcf/point_store.h"
#include "models/rcf/rng.h"

namespace osprey::models::rcf {
namespace {

// A tree plus its store, with the sample bookkeeping a forest would do.
struct Harness {
  Harness(int dims, int capacity, int cache_mass)
      : store(dims, 1), tree(dims, capacity, cache_mass), dims_(dims) {}
  uint16_t Insert(const std::vector<float>& p, Rng& rng) {
    if (store.NeedsCompaction(p.data(), seq)) {
      std::vector<uint32_t> table(store.table_size(), 0);
      tree.MarkPoints(&table, dims_);
      store.Compact(&table);
      tree.RemapPoints(table, dims_);
    }
    uint32_t idx = store.Add(p.data(), seq++);
    uint16_t leaf = tree.Insert(idx, store, rng);
    entries.push_back(leaf);
    return leaf;
  }
  void DeleteEntry(size_t k) {
    tree.Delete(entries[k], store);
    entries[k] = entries.back();
    entries.pop_back();
  }
  PointStore store;
  RandomCutTree tree;
  std::vector<uint16_t> entries;  // one per unit of mass, like a sampler
  int64_t seq = 0;
  int dims_;
};

class TreeInvariantTest : public ::testing::TestWithParam<std::tuple<int, bool>> {};

TEST_P(TreeInvariantTest, HoldAfterLongRandomInsertDeleteSequences) {
  const auto [cache_mass, grid] = GetParam();
  const int dims = 3, capacity = 64;
  Harness h(dims, capacity, cache_mass);
  Rng rng(301);
  for (int op = 0; op < 6000; ++op) {
    bool insert = h.entries.empty() ||
                  (static_cast<int>(h.entries.size()) < capacity && rng.NextDouble() < 0.55);
    if (insert) {
      std::vector<float> p(dims);
      for (float& v : p) {
        // Grid values make many exact duplicates; otherwise continuous values.
        v = grid ? static_cast<float>(rng.NextU64() % 4)
                 : static_cast<float>(rng.NextDouble() * 10 - 5);
      }
      h.Insert(p, rng);
    } else {
      h.DeleteEntry(rng.NextU64() % h.entries.size());
    }
    if (op % 20 == 0 || op > 5900) {
      Status s = h.tree.CheckInvariants(h.store);
      ASSERT_TRUE(s.ok()) << "op " << op << ": " << s.ToString();
      ASSERT_EQ(h.tree.mass(), static_cast<int>(h.entries.size()));
      // sample == leaves: every sampled unit maps to a leaf whose mass counts it.
      std::map<uint16_t, int> count;
      for (uint16_t leaf : h.entries) ++count[leaf];
      int leaves = 0;
      h.tree.ForEachLeaf([&](uint16_t leaf, uint32_t point, int mass) {
        ++leaves;
        EXPECT_EQ(count[leaf], mass);
        EXPECT_TRUE(h.store.IsValid(point));
      });
      ASSERT_EQ(leaves, static_cast<int>(count.size()));
    }
  }
  // Drain completely.
  while (!h.entries.empty()) h.DeleteEntry(h.entries.size() - 1);
  EXPECT_EQ(h.tree.mass(), 0);
  EXPECT_TRUE(h.tree.CheckInvariants(h.store).ok());
}

INSTANTIATE_TEST_SUITE_P(CacheAndData, TreeInvariantTest,
                         ::testing::Combine(::testing::Values(2, 8, 1000),
                                            ::testing::Values(false, true)));

// Points a=(0,0), b=(1,0), c=(0,3): a fresh tree cuts dimension y at the root with probability
// 3/4 (isolating c) and x with 1/4 (isolating b), whatever the insertion order, and still after
// an extra point is inserted and deleted.
TEST(RandomCutTreeTest, DistributedAsIfRebuiltFromTheSample) {
  const std::vector<std::vector<float>> pts = {{0, 0}, {1, 0}, {0, 3}};
  const std::vector<std::vector<int>> orders = {{0, 1, 2}, {2, 0, 1}, {1, 2, 0}};
  const int trials = 6000;
  for (int variant = 0; variant < 4; ++variant) {
    int c_isolated = 0;
    Rng rng(1000 + variant);
    for (int trial = 0; trial < trials; ++trial) {
      Harness h(2, 8, 2);
      if (variant < 3) {
        for (int k : orders[variant]) h.Insert(pts[k], rng);
      } else {
        h.Insert(pts[0], rng);
        h.Insert({5, 7}, rng);
        h.Insert(pts[2], rng);
        h.Insert(pts[1], rng);
        h.DeleteEntry(1);  // the (5, 7) point
      }
      if (h.tree.LeafDepth(pts[2].data()) == 1) ++c_isolated;
    }
    double frac = static_cast<double>(c_isolated) / trials;
    // SE = sqrt(0.75*0.25/6000) = 0.0056; tolerance 4 SE.
    EXPECT_NEAR(frac, 0.75, 0.023) << "variant " << variant;
  }
}

TEST(RandomCutTreeTest, IsolatedPointOutscoresInlierAndAttributionSums) {
  Harness h(2, 256, 8);
  Rng rng(42);
  for (int idx = 0; idx < 256; ++idx) {
    double u1 = rng.NextOpenDouble(), u2 = rng.NextDouble();
    double r = std::sqrt(-2 * std::log(u1));
    h.Insert({static_cast<float>(r * std::cos(6.283185307 * u2)),
              static_cast<float>(r * std::sin(6.283185307 * u2))},
             rng);
  }
  ASSERT_TRUE(h.tree.CheckInvariants(h.store).ok());
  const float inlier[2] = {0.1f, -0.2f};
  const float outlier[2] = {8.0f, 0.0f};
  double s_in = h.tree.Score(inlier, h.store);
  double s_out = h.tree.Score(outlier, h.store);
  EXPECT_GT(s_out, 2 * s_in);
  EXPECT_LE(s_out, std::log2(257.0) + 1e-9);
  for (const float* q : {inlier, outlier}) {
    std::vector<double> high(2, 0), low(2, 0);
    h.tree.AddAttribution(q, h.store, high.data(), low.data());
    EXPECT_NEAR(high[0] + high[1] + low[0] + low[1], h.tree.Score(q, h.store), 1e-9);
  }
  std::vector<double> high(2, 0), low(2, 0);
  h.tree.AddAttribution(outlier, h.store, high.data(), low.data());
  EXPECT_GT(high[0], 10 * (high[1] + low[0] + low[1]));  // x, upwards
}

// The lockstep batch scores equal the one-tree scores bit for bit, also when a tree is deeper
// than the batch's path buffer (values growing geometrically make a chain-like tree), in both
// builds of the hot paths.
TEST(RandomCutTreeTest, BatchScoresEqualSingleScoresIncludingDeepTrees) {
  PointStore store(1, 1);
  RandomCutTree deep(1, 400, 10), shallow(1, 400, 10);
  Rng rng(77);
  int64_t seq = 0;
  float grow = 1;
  for (int idx = 0; idx < 390; ++idx, grow *= 1.25f) {
    deep.Insert(store.Add(&grow, seq++), store, rng);
    const auto noise = static_cast<float>(rng.NextDouble());
    shallow.Insert(store.Add(&noise, seq++), store, rng);
  }
  ASSERT_GT(deep.Depth(), 64);
  ASSERT_LT(shallow.Depth(), 64);
  std::vector<bool> builds{false};
  if (RandomCutTree::WideKernelsSupported()) builds.push_back(true);
  for (bool wide : builds) {
    RandomCutTree::SetWideKernelsForTesting(wide);
    for (float x : {0.5f, 3.0f, 1e20f, 1e37f, -2.0f}) {
      const double want_shallow = shallow.RawScore(&x, store);
      const double want_deep = deep.RawScore(&x, store);
      EXPECT_GT(want_deep, 0);
      const RandomCutTree* trees[3] = {&shallow, &deep, &shallow};
      double out[3];
      RandomCutTree::RawScoreBatch(trees, 1, &x, store, out);  // lockstep path
      EXPECT_EQ(out[0], want_shallow) << x;
      RandomCutTree::RawScoreBatch(trees, 3, &x, store, out);  // one tree too deep
      EXPECT_EQ(out[0], want_shallow) << x;
      EXPECT_EQ(out[1], want_deep) << x;
      EXPECT_EQ(out[2], want_shallow) << x;
    }
  }
  RandomCutTree::SetWideKernelsForTesting(RandomCutTree::WideKernelsSupported());
}

}  // namespace
}  // namespace osprey::models::rcf
