#include "models/rcf/point_store.h"

#include <deque>
#include <map>
#include <vector>

#include <gtest/gtest.h>

#include "models/rcf/rng.h"

namespace osprey::models::rcf {
namespace {

// Shingles of a counter stream share their overlap; compaction keeps every live point intact.
TEST(PointStoreTest, ShinglesShareValuesAndSurviveCompaction) {
  const int in = 2, shingle = 4, dims = in * shingle;
  PointStore store(in, shingle);
  Rng rng(7);  // seed printed by gtest on failure through the test name; fixed here
  std::vector<float> sh(dims, 0.0f);
  std::map<uint32_t, std::vector<float>> live;
  for (int seq = 0; seq < 20000; ++seq) {
    for (int d = 0; d + in < dims; ++d) sh[d] = sh[d + in];
    for (int c = 0; c < in; ++c) sh[dims - in + c] = static_cast<float>(seq * 10 + c);
    if (rng.NextDouble() < 0.9) {
      uint32_t idx = store.Add(sh.data(), seq);
      live[idx] = sh;
    }
    // Drop random points, keeping a few old ones alive for a long time.
    while (live.size() > 300) {
      auto it = live.begin();
      std::advance(it, rng.NextU64() % live.size());
      store.Release(it->first);
      live.erase(it);
    }
  }
  EXPECT_EQ(store.live_points(), live.size());
  for (const auto& [idx, values] : live) {
    const float* p = store.Point(idx);
    for (int d = 0; d < dims; ++d) ASSERT_EQ(p[d], values[d]) << "point " << idx << " dim " << d;
  }
  // Shared shingles: far fewer than dims floats per live point.
  EXPECT_LT(store.used_values(), live.size() * dims);
}

TEST(PointStoreTest, SaveLoadRoundTrip) {
  PointStore store(1, 3);
  float p[3] = {1, 2, 3};
  uint32_t a = store.Add(p, 0);
  float q[3] = {2, 3, 4};
  uint32_t b = store.Add(q, 1);
  store.AddRef(b);
  std::string snap;
  ByteWriter w(&snap);
  store.Save(w);
  PointStore copy(1, 3);
  ByteReader r(snap);
  ASSERT_TRUE(copy.Load(r).ok());
  EXPECT_EQ(copy.Point(a)[0], 1.0f);
  EXPECT_EQ(copy.Point(b)[2], 4.0f);
  EXPECT_EQ(copy.refs(b), 2u);
  PointStore wrong(2, 3);
  ByteReader r2(snap);
  EXPECT_EQ(wrong.Load(r2).code(), Status::Code::kCorruption);
}

}  // namespace
}  // namespace osprey::models::rcf
