#include "models/rcf/forest.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "models/rcf/random_cut_tree.h"
#include "models/rcf/rng.h"

namespace osprey::models::rcf {
namespace {

double Gaussian(Rng& rng) {
  return std::sqrt(-2 * std::log(rng.NextOpenDouble())) *
         std::cos(6.283185307179586 * rng.NextDouble());
}

RcfOptions SmallOptions(int input_dim, int shingle) {
  RcfOptions o;
  o.input_dim = input_dim;
  o.shingle_size = shingle;
  o.number_of_trees = 20;
  o.sample_size = 64;
  o.random_seed = 17;
  return o;
}

std::unique_ptr<RandomCutForest> MakeForest(const RcfOptions& o) {
  auto r = RandomCutForest::Create(o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return std::move(r).value();
}

// A random walk with small noise, the REFERENCE.md workload shape.
struct Walk {
  explicit Walk(uint64_t seed) : rng(seed) {}
  double Next() {
    level += 0.1 * Gaussian(rng);
    return level + 0.01 * Gaussian(rng);
  }
  Rng rng;
  double level = 0;
};

TEST(RcfOptionsTest, ValidateNamesTheField) {
  RcfOptions o;
  EXPECT_TRUE(o.Validate().ok());
  o.number_of_trees = 0;
  Status s = o.Validate();
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("number_of_trees"), std::string::npos) << s.message();
  o = RcfOptions();
  o.sample_size = 40000;
  EXPECT_NE(o.Validate().message().find("sample_size"), std::string::npos);
  o = RcfOptions();
  o.time_decay = -0.5;
  EXPECT_NE(o.Validate().message().find("time_decay"), std::string::npos);
  o = RcfOptions();
  o.initial_accept_fraction = 0;
  EXPECT_NE(o.Validate().message().find("initial_accept_fraction"), std::string::npos);
  o = RcfOptions();
  o.input_dim = 200;
  o.shingle_size = 100;
  EXPECT_FALSE(o.Validate().ok());
  EXPECT_FALSE(RandomCutForest::Create(o).ok());
  EXPECT_DOUBLE_EQ(RcfOptions().EffectiveTimeDecay(), 1.0 / 2560);
  EXPECT_EQ(RcfOptions().EffectiveOutputAfter(), 64);
}

TEST(RandomCutForestTest, RejectsBadInputWithoutChangingState) {
  auto f = MakeForest(SmallOptions(2, 1));
  std::vector<double> one{1.0};
  EXPECT_EQ(f->Update(one).code(), Status::Code::kInvalidArgument);
  std::vector<double> nan{1.0, std::nan("")};
  EXPECT_EQ(f->Update(nan).code(), Status::Code::kInvalidArgument);
  std::vector<double> huge{1.0, 1e300};
  EXPECT_EQ(f->Update(huge).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(f->inputs_seen(), 0);
}

TEST(RandomCutForestTest, InvariantsAfterLongShingledStream) {
  RcfOptions o = SmallOptions(2, 4);
  o.sample_size = 32;
  o.time_decay = 0.01;
  auto f = MakeForest(o);
  Walk a(1), b(2);
  for (int idx = 0; idx < 4000; ++idx) {
    std::vector<double> in{a.Next(), idx % 50 == 0 ? 3.0 : b.Next()};
    ASSERT_TRUE(f->Update(in).ok());
    if (idx % 500 == 0) {
      ASSERT_TRUE(f->CheckInvariants().ok()) << f->CheckInvariants().ToString();
    }
  }
  Status s = f->CheckInvariants();
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(f->updates(), 4000 - 3);
  for (int t = 0; t < f->num_trees(); ++t) EXPECT_EQ(f->tree(t).mass(), 32);
}

TEST(RandomCutForestTest, IsolatedPointsOutscoreInliers) {
  auto f = MakeForest(SmallOptions(2, 1));
  Rng rng(9);
  EXPECT_EQ(f->Score(std::vector<double>{0, 0}), 0.0);  // not ready yet
  for (int idx = 0; idx < 1000; ++idx) {
    std::vector<double> p{Gaussian(rng), Gaussian(rng)};
    ASSERT_TRUE(f->Update(p).ok());
  }
  ASSERT_TRUE(f->output_ready());
  double inlier = f->Score(std::vector<double>{0.1, -0.1});
  double outlier = f->Score(std::vector<double>{6, 6});
  EXPECT_LT(inlier, 1.3);
  EXPECT_GT(outlier, 2.0);
  EXPECT_LE(outlier, std::log2(65.0) + 1e-9);
  // Attribution sums to the score and points at the right dimensions and directions.
  DiVector attr = f->Attribution(std::vector<double>{0.0, -7.0});
  EXPECT_NEAR(attr.Total(), f->Score(std::vector<double>{0.0, -7.0}), 1e-9);
  EXPECT_GT(attr.low[1], 5 * (attr.high[0] + attr.low[0] + attr.high[1]));
  DiVector in_attr = f->Attribution(std::vector<double>{0.1, -0.1});
  EXPECT_NEAR(in_attr.Total(), inlier, 1e-9);
}

TEST(RandomCutForestTest, ImputationRecoversLinearRelation) {
  RcfOptions o = SmallOptions(3, 1);
  o.number_of_trees = 30;
  o.sample_size = 128;
  auto f = MakeForest(o);
  Rng rng(11);
  for (int idx = 0; idx < 2000; ++idx) {
    double x = rng.NextDouble() * 10, y = rng.NextDouble() * 10;
    std::vector<double> p{x, y, 2 * x - y + 0.05 * Gaussian(rng)};
    ASSERT_TRUE(f->Update(p).ok());
  }
  double err = 0;
  for (int k = 0; k < 20; ++k) {
    double x = 1 + rng.NextDouble() * 8, y = 1 + rng.NextDouble() * 8;
    std::vector<double> p{x, y, std::nan("")};
    std::vector<int> missing{2};
    auto r = f->Impute(p, missing);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ((*r)[0], x);
    err += std::abs((*r)[2] - (2 * x - y));
  }
  // The relation spans [-10, 20]; neighbours in a 128-sample tree are ~1 apart.
  EXPECT_LT(err / 20, 1.0);
  std::vector<int> bad{3};
  EXPECT_EQ(f->Impute(std::vector<double>{1, 2, 3}, bad).status().code(),
            Status::Code::kInvalidArgument);
}

TEST(RandomCutForestTest, ForecastFollowsPeriodicSignal) {
  RcfOptions o = SmallOptions(1, 8);
  o.number_of_trees = 30;
  o.sample_size = 128;
  auto f = MakeForest(o);
  EXPECT_EQ(f->Forecast(4).status().code(), Status::Code::kUnavailable);
  const double kPeriod = 16;
  int idx = 0;
  for (; idx < 2000; ++idx) {
    ASSERT_TRUE(f->Update(std::vector<double>{std::sin(6.283185307 * idx / kPeriod)}).ok());
  }
  auto r = f->Forecast(8);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->values.size(), 8u);
  for (int step = 0; step < 8; ++step) {
    double truth = std::sin(6.283185307 * (idx + step) / kPeriod);
    EXPECT_NEAR(r->values[step], truth, 0.15) << "step " << step;
    EXPECT_LE(r->lower[step], r->values[step]);
    EXPECT_GE(r->upper[step], r->values[step]);
  }
  RcfOptions one = SmallOptions(1, 1);
  EXPECT_EQ(MakeForest(one)->Forecast(3).status().code(), Status::Code::kInvalidArgument);
}

TEST(RandomCutForestTest, SameSeedSameInputBitIdentical) {
  RcfOptions o = SmallOptions(1, 4);
  auto a = MakeForest(o);
  auto b = MakeForest(o);
  Walk wa(5), wb(5);
  for (int idx = 0; idx < 1500; ++idx) {
    std::vector<double> pa{wa.Next()}, pb{wb.Next()};
    double sa = a->Score(pa), sb = b->Score(pb);
    ASSERT_EQ(std::memcmp(&sa, &sb, sizeof(double)), 0) << "at " << idx;
    ASSERT_TRUE(a->Update(pa).ok());
    ASSERT_TRUE(b->Update(pb).ok());
  }
  EXPECT_TRUE(a->Save() == b->Save());
  o.random_seed = 18;
  auto c = MakeForest(o);
  Walk wc(5);
  for (int idx = 0; idx < 1500; ++idx) ASSERT_TRUE(c->Update(std::vector<double>{wc.Next()}).ok());
  EXPECT_TRUE(a->Save() != c->Save());
}

// The AVX2 build of the hot paths agrees bit for bit with the baseline build on every shape of
// dimension count the box kernels handle (scalar lanes, a group of 4, blocks of 8, their tails),
// with repeated points and signed zeros in the input.
TEST(RandomCutForestTest, WideAndBaselineKernelsAgreeBitForBit) {
  if (!RandomCutTree::WideKernelsSupported()) GTEST_SKIP() << "CPU without AVX2: one build only";
  struct Run {
    std::vector<double> scores;
    std::string snapshot;
  };
  auto run = [](int input_dim, bool wide) {
    RandomCutTree::SetWideKernelsForTesting(wide);
    RcfOptions o = SmallOptions(input_dim, 1);
    o.number_of_trees = 8;
    auto forest = MakeForest(o);
    Rng rng(40 + input_dim);
    std::vector<double> level(input_dim, 0.0), p(input_dim, 0.0);
    Run r;
    for (int idx = 0; idx < 800; ++idx) {
      if (rng.NextDouble() >= 0.05) {  // else the previous point again
        for (int d = 0; d < input_dim; ++d) {
          level[d] += 0.1 * Gaussian(rng);
          double u = rng.NextDouble();
          p[d] = u < 0.03 ? 0.0 : u < 0.06 ? -0.0 : level[d] + (idx % 97 == 0 ? 8.0 : 0.0);
        }
      }
      r.scores.push_back(forest->Score(p));
      EXPECT_TRUE(forest->Update(p).ok());
    }
    r.snapshot = forest->Save();
    return r;
  };
  for (int dims : {1, 2, 3, 4, 6, 8, 12, 16, 21}) {
    Run base = run(dims, false);
    Run wide = run(dims, true);
    ASSERT_EQ(base.scores.size(), wide.scores.size());
    EXPECT_EQ(
        std::memcmp(base.scores.data(), wide.scores.data(), base.scores.size() * sizeof(double)), 0)
        << dims << " dimensions";
    EXPECT_TRUE(base.snapshot == wide.snapshot) << dims << " dimensions";
  }
  RandomCutTree::SetWideKernelsForTesting(true);  // the default on this CPU
}

TEST(RandomCutForestTest, SaveRestoreContinuesBitIdentical) {
  RcfOptions o = SmallOptions(2, 3);
  auto a = MakeForest(o);
  Walk w1(21), w2(22);
  for (int idx = 0; idx < 1200; ++idx) {
    ASSERT_TRUE(a->Update(std::vector<double>{w1.Next(), w2.Next()}).ok());
  }
  std::string snap = a->Save();
  auto loaded = RandomCutForest::Load(snap);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  auto& b = *loaded;
  EXPECT_TRUE(b->Save() == snap);
  for (int idx = 0; idx < 1500; ++idx) {
    std::vector<double> p{w1.Next(), idx % 97 == 0 ? 50.0 : w2.Next()};
    double sa = a->Score(p), sb = b->Score(p);
    ASSERT_EQ(std::memcmp(&sa, &sb, sizeof(double)), 0) << "at " << idx;
    ASSERT_TRUE(a->Update(p).ok());
    ASSERT_TRUE(b->Update(p).ok());
  }
  EXPECT_TRUE(a->Save() == b->Save());
  DiVector da = a->Attribution(std::vector<double>{1, 2}),
           db = b->Attribution(std::vector<double>{1, 2});
  EXPECT_EQ(da.high, db.high);
  EXPECT_EQ(da.low, db.low);
}

TEST(RandomCutForestTest, CorruptSnapshotsAreRejected) {
  auto a = MakeForest(SmallOptions(1, 2));
  Walk w(3);
  for (int idx = 0; idx < 300; ++idx) ASSERT_TRUE(a->Update(std::vector<double>{w.Next()}).ok());
  std::string snap = a->Save();
  EXPECT_EQ(RandomCutForest::Load("").status().code(), Status::Code::kCorruption);
  EXPECT_EQ(RandomCutForest::Load(snap.substr(0, snap.size() / 2)).status().code(),
            Status::Code::kCorruption);
  for (size_t pos : {size_t{4}, size_t{10}, snap.size() / 3, snap.size() - 12}) {
    std::string bad = snap;
    bad[pos] = static_cast<char>(bad[pos] ^ 0x5A);
    EXPECT_EQ(RandomCutForest::Load(bad).status().code(), Status::Code::kCorruption) << pos;
  }
  EXPECT_EQ(RandomCutForest::Load(snap + "x").status().code(), Status::Code::kCorruption);
}

TEST(RandomCutForestTest, ConstantAndDuplicateStreams) {
  auto f = MakeForest(SmallOptions(2, 1));
  for (int idx = 0; idx < 500; ++idx) ASSERT_TRUE(f->Update(std::vector<double>{3.0, -1.0}).ok());
  ASSERT_TRUE(f->CheckInvariants().ok());
  // Every tree is one leaf of mass 64 that shares one stored point.
  for (int t = 0; t < f->num_trees(); ++t) EXPECT_EQ(f->tree(t).Depth(), 0);
  EXPECT_EQ(f->live_points(), 1u);
  double seen = f->Score(std::vector<double>{3.0, -1.0});
  EXPECT_NEAR(seen, 0.5, 1e-9);  // damp(64,64) * 1/log2(65) * log2(65)
  EXPECT_GT(f->Score(std::vector<double>{3.5, -1.0}), 6.0);
  auto imputed = f->Impute(std::vector<double>{0, -1.0}, std::vector<int>{0});
  ASSERT_TRUE(imputed.ok());
  EXPECT_EQ((*imputed)[0], 3.0);

  // A stream cycling through a few exact duplicates keeps them as shared leaves and scores
  // them as inliers.
  auto g = MakeForest(SmallOptions(1, 2));
  const double cycle[] = {1, 5, 2, 8};
  for (int idx = 0; idx < 800; ++idx)
    ASSERT_TRUE(g->Update(std::vector<double>{cycle[idx % 4]}).ok());
  ASSERT_TRUE(g->CheckInvariants().ok());
  EXPECT_LE(g->live_points(), 4u);
  EXPECT_LT(g->Score(std::vector<double>{cycle[800 % 4]}), 1.0);
  EXPECT_GT(g->Score(std::vector<double>{cycle[801 % 4]}), 2.0);  // out of phase
}

TEST(RandomCutForestTest, MemoryBytesIsReportedAndBounded) {
  RcfOptions o;
  o.shingle_size = 8;
  auto f = MakeForest(o);
  size_t empty = f->MemoryBytes();
  Walk w(4);
  for (int idx = 0; idx < 2000; ++idx) ASSERT_TRUE(f->Update(std::vector<double>{w.Next()}).ok());
  EXPECT_GT(f->MemoryBytes(), empty);
  EXPECT_LT(f->MemoryBytes(), 600u * 1024);
}

// A long-running forest stays within the budget: the point store is compacted to the live points
// (and shrinks), freed box slots are given back.
TEST(RandomCutForestTest, MemoryStaysBoundedOnLongStreams) {
  RcfOptions o;
  o.shingle_size = 8;
  o.time_decay = 0.1 / 256;
  o.initial_accept_fraction = 0.125;
  auto f = MakeForest(o);
  Walk w(6);
  size_t peak = 0;
  for (int idx = 0; idx < 60000; ++idx) {
    ASSERT_TRUE(f->Update(std::vector<double>{w.Next()}).ok());
    if (idx % 5000 == 4999) peak = std::max(peak, f->MemoryBytes());
  }
  EXPECT_LE(peak, 600u * 1000);
  // Stored floats stay within a small multiple of the live points (shingles share values).
  EXPECT_LT(f->point_store().capacity_values(), 4 * f->live_points() + 64);
  EXPECT_TRUE(f->CheckInvariants().ok());
}

TEST(RandomCutForestTest, UnknownSnapshotVersionIsRejectedClearly) {
  auto a = MakeForest(SmallOptions(1, 2));
  std::string snap = a->Save();
  ASSERT_EQ(static_cast<uint8_t>(snap[4]), RandomCutForest::kFormatVersion);
  snap[4] = 9;
  auto loaded = RandomCutForest::Load(snap);
  ASSERT_EQ(loaded.status().code(), Status::Code::kCorruption);
  EXPECT_NE(loaded.status().message().find("format version 9"), std::string::npos);
}

}  // namespace
}  // namespace osprey::models::rcf
