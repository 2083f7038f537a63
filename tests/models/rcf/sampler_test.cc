#include "models/rcf/sampler.h"

#include <cmath>
#include <vector>

#include <gtest/gtest.h>

#include "models/rcf/rng.h"

namespace osprey::models::rcf {
namespace {

TEST(SamplerTest, AcceptsEverythingBelowInitialFraction) {
  Sampler s(64, 0.01, 0.25);
  Rng rng(5);
  for (int seq = 0; seq < 16; ++seq) {
    Sampler::Decision d = s.Offer(seq, rng);
    ASSERT_TRUE(d.accepted);
    ASSERT_FALSE(d.evicts);
    s.Commit(static_cast<uint16_t>(seq));
  }
  EXPECT_EQ(s.size(), 16);
}

// Steady state: a point of age a is in the sample with probability
// pi(a) = 1 - exp(-tau * exp(-lambda * a)), with tau fixed by sum_a pi(a) = capacity (the keys
// below the sample's threshold). Compare the mean age and the fraction younger than 1/lambda with
// that law. Fixed seeds; 4 samplers x 96 snapshots; tolerances ~4 standard errors.
TEST(SamplerTest, AgeDistributionMatchesTheory) {
  const int n = 32;
  const double lambda = 1.0 / 320;
  auto inclusion_sum = [&](double tau) {
    double sum = 0;
    for (int a = 0; a < 40 / lambda; ++a) sum += 1 - std::exp(-tau * std::exp(-lambda * a));
    return sum;
  };
  double lo = 1e-6, hi = 100;
  for (int it = 0; it < 100; ++it) {
    double mid = std::sqrt(lo * hi);
    (inclusion_sum(mid) < n ? lo : hi) = mid;
  }
  const double tau = lo;
  double mean_age = 0, young = 0;
  for (int a = 0; a < 40 / lambda; ++a) {
    double pi = 1 - std::exp(-tau * std::exp(-lambda * a));
    mean_age += a * pi / n;
    if (a < 1 / lambda) young += pi / n;
  }

  double age_sum = 0, young_count = 0, samples = 0;
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    Sampler s(n, lambda, 0.125);
    Rng rng(seed);
    std::vector<int64_t> seq_of(n, -1);  // leaf id -> arrival
    for (int64_t seq = 0; seq < 56000; ++seq) {
      Sampler::Decision d = s.Offer(seq, rng);
      if (d.accepted) {
        uint16_t id = d.evicts ? d.evicted_leaf : static_cast<uint16_t>(s.size());
        seq_of[id] = seq;
        s.Commit(id);
      }
      if (seq >= 8000 && seq % 500 == 0) {
        ASSERT_TRUE(s.full());
        for (uint16_t id : s.leaves()) {
          double age = static_cast<double>(seq - seq_of[id]);
          age_sum += age;
          young_count += age < 1 / lambda ? 1 : 0;
          samples += 1;
        }
      }
    }
  }
  EXPECT_NEAR(age_sum / samples, mean_age, 0.05 * mean_age);
  EXPECT_NEAR(young_count / samples, young, 0.03);
}

TEST(SamplerTest, SaveLoadRejectsNonHeap) {
  Sampler s(8, 0.1, 1.0);
  Rng rng(3);
  for (int seq = 0; seq < 8; ++seq) {
    ASSERT_TRUE(s.Offer(seq, rng).accepted);
    s.Commit(static_cast<uint16_t>(seq));
  }
  std::string snap;
  ByteWriter w(&snap);
  s.Save(w);
  Sampler copy(8, 0.1, 1.0);
  ByteReader r(snap);
  ASSERT_TRUE(copy.Load(r).ok());
  EXPECT_EQ(copy.keys(), s.keys());
  // Swap the first two keys: no longer a max-heap.
  std::string bad = snap;
  // Layout: base (8), next (8), scheduled (1), length (1), keys.
  std::swap_ranges(bad.begin() + 18, bad.begin() + 22, bad.begin() + 22);
  Sampler other(8, 0.1, 1.0);
  ByteReader r2(bad);
  EXPECT_EQ(other.Load(r2).code(), Status::Code::kCorruption);
}

}  // namespace
}  // namespace osprey::models::rcf
