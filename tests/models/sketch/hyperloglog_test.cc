#include "models/sketch/hyperloglog.h"

#include <cmath>
#include <random>

#include <gtest/gtest.h>

namespace osprey::models {
namespace {

TEST(HyperLogLogTest, EmptyIsZero) {
  HyperLogLog hll(12);
  EXPECT_EQ(hll.Estimate(), 0.0);
  EXPECT_TRUE(hll.is_sparse());
}

TEST(HyperLogLogTest, SmallCardinalitiesAreNearlyExact) {
  for (int n : {1, 2, 5, 10, 50, 100, 500}) {
    HyperLogLog hll(12);
    for (int rep = 0; rep < 3; ++rep) {
      for (int v = 0; v < n; ++v) hll.AddDouble(v * 1.5);
    }
    EXPECT_NEAR(hll.Estimate(), n, std::max(1.0, 0.02 * n)) << "n=" << n;
  }
}

TEST(HyperLogLogTest, ErrorWithinBoundOn1e5Distinct) {
  for (int p = 12; p <= 14; ++p) {
    const uint64_t seed = 301 + p;
    std::mt19937_64 rng(seed);
    HyperLogLog hll(p);
    const int n = 100'000;
    for (int idx = 0; idx < n; ++idx) {
      double v = static_cast<double>(rng());
      hll.AddDouble(v);
      if (idx % 3 == 0) hll.AddDouble(v);  // duplicates do not count
    }
    double rel = std::abs(hll.Estimate() - n) / n;
    // Three standard errors.
    EXPECT_LE(rel, 3 * hll.relative_standard_error()) << "p=" << p << " seed=" << seed;
    EXPECT_FALSE(hll.is_sparse());
  }
}

TEST(HyperLogLogTest, MergeEqualsUnion) {
  HyperLogLog a(12), b(12), all(12);
  for (int v = 0; v < 3000; ++v) {
    a.AddDouble(v);
    all.AddDouble(v);
  }
  for (int v = 2000; v < 2100; ++v) {  // b stays sparse
    b.AddDouble(v * 7.0);
    all.AddDouble(v * 7.0);
  }
  EXPECT_TRUE(b.is_sparse());
  HyperLogLog sparse_first = b;
  ASSERT_TRUE(a.Merge(b).ok());
  ASSERT_TRUE(sparse_first.Merge(a).ok());
  EXPECT_EQ(a.Estimate(), all.Estimate());
  EXPECT_EQ(sparse_first.Estimate(), all.Estimate());
  HyperLogLog other(13);
  EXPECT_EQ(a.Merge(other).code(), Status::Code::kInvalidArgument);
}

TEST(HyperLogLogTest, SaveLoadRoundTrip) {
  for (int n : {20, 5000}) {
    HyperLogLog hll(13);
    for (int v = 0; v < n; ++v) hll.AddDouble(v);
    std::string blob;
    ByteWriter w(&blob);
    hll.Save(w);
    ByteReader r(blob);
    auto loaded = HyperLogLog::Load(r);
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    EXPECT_EQ(loaded->Estimate(), hll.Estimate());
    EXPECT_EQ(loaded->is_sparse(), hll.is_sparse());
    ByteReader truncated(std::string_view(blob).substr(0, blob.size() - 1));
    EXPECT_EQ(HyperLogLog::Load(truncated).status().code(), Status::Code::kCorruption);
  }
}

TEST(HyperLogLogTest, NegativeZeroEqualsZero) {
  HyperLogLog hll(12);
  hll.AddDouble(0.0);
  hll.AddDouble(-0.0);
  EXPECT_NEAR(hll.Estimate(), 1.0, 0.01);
}

}  // namespace
}  // namespace osprey::models
