#include "models/rcf/point_store.h"

#include <deque>
#include <map>
#include <vector>

#include <gtest/gtest.h>

#include "models/rcf/rng.h"

namespace osprey::models::rcf {
namespace {

// Shingles of a counter stream share their overlap; compaction keeps every live point intact
// and reports where it moved.
TEST(PointStoreTest, ShinglesShareValuesAndSurviveCompaction) {
  const int in = 2, shingle = 4, dims = in * shingle;
  PointStore store(in, shingle);
  Rng rng(7);
  std::vector<float> sh(dims, 0.0f);
  std::map<uint32_t, std::vector<float>> live;
  int compactions = 0;
  for (int seq = 0; seq < 20000; ++seq) {
    for (int d = 0; d + in < dims; ++d) sh[d] = sh[d + in];
    for (int c = 0; c < in; ++c) sh[dims - in + c] = static_cast<float>(seq * 10 + c);
    if (rng.NextDouble() < 0.9) {
      if (store.NeedsCompaction(sh.data(), seq)) {
        std::vector<uint32_t> table(store.table_size(), 0);
        for (const auto& entry : live) table[entry.first / in] = 1;
        store.Compact(&table);
        std::map<uint32_t, std::vector<float>> next;
        for (const auto& [loc, values] : live) next[table[loc / in]] = values;
        live = std::move(next);
        ++compactions;
      }
      uint32_t loc = store.Add(sh.data(), seq);
      ASSERT_TRUE(store.IsValid(loc));
      live[loc] = sh;
    }
    // Drop random points, keeping a few old ones alive for a long time.
    while (live.size() > 300) {
      auto it = live.begin();
      std::advance(it, rng.NextU64() % live.size());
      live.erase(it);
    }
  }
  EXPECT_GT(compactions, 10);
  for (const auto& [loc, values] : live) {
    const float* p = store.Point(loc);
    for (int d = 0; d < dims; ++d) ASSERT_EQ(p[d], values[d]) << "point " << loc << " dim " << d;
  }
  // Shared shingles: far fewer than dims floats per live point; capacity follows the live data.
  EXPECT_LT(store.used_values(), live.size() * dims);
  EXPECT_LT(store.capacity_values(), 2 * live.size() * dims);
}

TEST(PointStoreTest, SaveLoadRoundTrip) {
  PointStore store(1, 3);
  float p[3] = {1, 2, 3};
  uint32_t a = store.Add(p, 0);
  float q[3] = {2, 3, 4};
  uint32_t b = store.Add(q, 1);
  EXPECT_EQ(b, a + 1);  // shared overlap
  std::string snap;
  ByteWriter w(&snap);
  store.Save(w);
  PointStore copy(1, 3);
  ByteReader r(snap);
  ASSERT_TRUE(copy.Load(r).ok());
  EXPECT_EQ(copy.Point(a)[0], 1.0f);
  EXPECT_EQ(copy.Point(b)[2], 4.0f);
  EXPECT_EQ(copy.used_values(), store.used_values());
  EXPECT_EQ(copy.capacity_values(), store.capacity_values());
  PointStore wrong(2, 3);
  ByteReader r2(snap);
  EXPECT_EQ(wrong.Load(r2).code(), Status::Code::kCorruption);
}

}  // namespace
}  // namespace osprey::models::rcf
