// Automatic model tuning: the Sobol sequence, the grid, the Gaussian process and its expected
// improvement, and the tuner's strategies on known functions.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <numbers>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "models/ml/tuning/gaussian_process.h"
#include "models/ml/tuning/sobol.h"
#include "models/ml/tuning/tuner.h"

namespace osprey::models::ml {
namespace {

using config::TuningOptions;
using config::TuningParameterRange;
using config::TuningParameterType;
using config::TuningScaling;
using config::TuningStrategy;

TuningParameterRange Continuous(std::string name, double lo, double hi,
                                TuningScaling scaling = TuningScaling::kLinear) {
  TuningParameterRange r;
  r.name = std::move(name);
  r.min_value = lo;
  r.max_value = hi;
  r.scaling = scaling;
  return r;
}

TEST(SobolTest, FirstPointsMatchThePublishedSequence) {
  // The unscrambled Sobol sequence in Gray-code order (as in Joe & Kuo's and SciPy's).
  const double expected[8][3] = {{0, 0, 0},
                                 {0.5, 0.5, 0.5},
                                 {0.75, 0.25, 0.25},
                                 {0.25, 0.75, 0.75},
                                 {0.375, 0.375, 0.625},
                                 {0.875, 0.875, 0.125},
                                 {0.625, 0.125, 0.875},
                                 {0.125, 0.625, 0.375}};
  SobolSequence s(3);
  for (const auto& row : expected) {
    const std::vector<double> p = s.Next();
    ASSERT_EQ(p.size(), 3u);
    for (size_t d = 0; d < 3; ++d) EXPECT_DOUBLE_EQ(p[d], row[d]) << "point " << s.index() - 1;
  }
}

TEST(SobolTest, EveryDimensionIsStratifiedShiftedOrNot) {
  // The first 2^m points put exactly one point in each interval [k/2^m, (k+1)/2^m) of every
  // coordinate; a digital shift keeps that.
  for (uint64_t seed : {0u, 7u}) {
    SobolSequence s(SobolSequence::kMaxDimensions, seed);
    constexpr int kPoints = 64;
    std::vector<std::set<int>> cells(SobolSequence::kMaxDimensions);
    std::set<std::vector<double>> distinct;
    for (int i = 0; i < kPoints; ++i) {
      const auto p = s.Next();
      distinct.insert(p);
      for (size_t d = 0; d < p.size(); ++d) {
        ASSERT_GE(p[d], 0.0);
        ASSERT_LT(p[d], 1.0);
        cells[d].insert(static_cast<int>(p[d] * kPoints));
      }
    }
    for (size_t d = 0; d < cells.size(); ++d) {
      EXPECT_EQ(cells[d].size(), 64u) << "dimension " << d << " seed " << seed;
    }
    EXPECT_EQ(distinct.size(), 64u);
  }
}

TEST(TuningGridTest, EnumeratesTheProductFirstRangeSlowest) {
  TuningOptions o;
  o.strategy = TuningStrategy::kGrid;
  o.max_jobs = 0;
  TuningParameterRange cat;
  cat.name = "optimizer";
  cat.type = TuningParameterType::kCategorical;
  cat.values = {"sgd", "adam", "rmsprop"};
  TuningParameterRange depth;
  depth.name = "max_depth";
  depth.type = TuningParameterType::kInteger;
  depth.min_value = 2;
  depth.max_value = 5;
  TuningParameterRange lr = Continuous("eta", 0.1, 0.3);
  lr.grid_points = 3;
  o.ranges = {cat, depth, lr};
  ASSERT_EQ(PlannedJobs(o), 36);
  std::vector<std::string> seen;
  auto result = Tune(o, [](const Hyperparameters& v, int) -> Result<TrialOutcome> {
    return TrialOutcome{std::stod(v.at("eta")), {}};
  });
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  std::set<std::string> distinct;
  for (const Trial& t : result->trials) {
    distinct.insert(t.values.at("optimizer") + "/" + t.values.at("max_depth") + "/" +
                    t.values.at("eta"));
  }
  EXPECT_EQ(result->trials.size(), 36u);
  EXPECT_EQ(distinct.size(), 36u);
  for (const std::string& c : cat.values) {
    for (const std::string& d : {"2", "3", "4", "5"}) {
      for (const std::string& e : {"0.1", "0.2", "0.3"}) {
        EXPECT_TRUE(distinct.count(c + "/" + d + "/" + e)) << c << "/" << d << "/" << e;
      }
    }
  }
  // Odometer order: the last range turns fastest.
  EXPECT_EQ(result->trials[0].values.at("eta"), "0.1");
  EXPECT_EQ(result->trials[1].values.at("eta"), "0.2");
  EXPECT_EQ(result->trials[3].values.at("max_depth"), "3");
  EXPECT_EQ(result->trials[12].values.at("optimizer"), "adam");
  // The objective is maximised by default (minimize = false): eta 0.3.
  EXPECT_EQ(result->trials[static_cast<size_t>(result->best)].values.at("eta"), "0.3");

  o.max_jobs = 10;
  EXPECT_FALSE(ValidateTuningOptions(o).ok());
}

TEST(GaussianProcessTest, PosteriorInterpolatesTheTrainingPoints) {
  SobolSequence s(2, 3);
  Eigen::MatrixXd x(14, 2);
  Eigen::VectorXd y(14);
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    const auto p = s.Next();
    x(i, 0) = p[0];
    x(i, 1) = p[1];
    y[i] = std::sin(6 * p[0]) + 3 * p[1] * p[1];
  }
  auto gp = GaussianProcess::Fit(x, y, 1);
  ASSERT_TRUE(gp.ok()) << gp.status().ToString();
  const double range = y.maxCoeff() - y.minCoeff();
  double max_sd_at_data = 0;
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    double mean = 0, sd = 0;
    gp->Predict(x.row(i).transpose(), &mean, &sd);
    EXPECT_NEAR(mean, y[i], 1e-3 * range) << "point " << i;
    max_sd_at_data = std::max(max_sd_at_data, sd);
  }
  EXPECT_LT(max_sd_at_data, 1e-2 * range);
  // Between the points the posterior is still close to a smooth function, but less certain.
  double mean = 0, sd = 0;
  Eigen::VectorXd mid(2);
  mid << 0.4, 0.6;
  gp->Predict(mid, &mean, &sd);
  EXPECT_NEAR(mean, std::sin(2.4) + 3 * 0.36, 0.15 * range);
  EXPECT_GT(sd, max_sd_at_data);
  // Fitting the hyperparameters beats the starting guess on the marginal likelihood.
  GpHyperparameters guess;
  guess.length_scales = Eigen::VectorXd::Constant(2, 0.3);
  auto fixed = GaussianProcess::FitWith(x, y, guess);
  ASSERT_TRUE(fixed.ok());
  EXPECT_GT(gp->log_marginal_likelihood(), fixed->log_marginal_likelihood());
}

TEST(GaussianProcessTest, ExpectedImprovementIsHighestInTheUnexploredGoodRegion) {
  // f(x) = (x - 0.85)^2 sampled on [0, 0.5] only: the trend points right, where nothing was tried.
  Eigen::MatrixXd x(6, 1);
  Eigen::VectorXd y(6);
  for (Eigen::Index i = 0; i < 6; ++i) {
    x(i, 0) = 0.1 * static_cast<double>(i);
    y[i] = (x(i, 0) - 0.85) * (x(i, 0) - 0.85);
  }
  auto gp = GaussianProcess::Fit(x, y, 2);
  ASSERT_TRUE(gp.ok());
  const double best = y.minCoeff();
  auto ei = [&](double at) {
    double mean = 0, sd = 0;
    gp->Predict(Eigen::VectorXd::Constant(1, at), &mean, &sd);
    return ExpectedImprovement(mean, sd, best);
  };
  EXPECT_GT(ei(0.75), 10 * ei(0.05));
  EXPECT_GT(ei(0.75), ei(0.5));  // the best point so far has (almost) nothing more to give
  EXPECT_LT(ei(0.5), 1e-3);
  // The closed form: zero spread gives the plain improvement; more spread gives more.
  EXPECT_DOUBLE_EQ(ExpectedImprovement(1.0, 0.0, 2.0), 1.0);
  EXPECT_DOUBLE_EQ(ExpectedImprovement(3.0, 0.0, 2.0), 0.0);
  EXPECT_GT(ExpectedImprovement(3.0, 1.0, 2.0), ExpectedImprovement(3.0, 0.5, 2.0));
}

double Branin(double x1, double x2) {
  const double pi = std::numbers::pi;
  const double a = x2 - 5.1 / (4 * pi * pi) * x1 * x1 + 5 / pi * x1 - 6;
  return a * a + 10 * (1 - 1 / (8 * pi)) * std::cos(x1) + 10;
}

TuningOptions BraninOptions(TuningStrategy strategy, uint64_t seed, int jobs) {
  TuningOptions o;
  o.strategy = strategy;
  o.minimize = true;
  o.max_jobs = jobs;
  o.seed = seed;
  o.ranges = {Continuous("x1", -5, 10), Continuous("x2", 0, 15)};
  return o;
}

Result<TrialOutcome> BraninTrial(const Hyperparameters& v, int) {
  return TrialOutcome{Branin(std::stod(v.at("x1")), std::stod(v.at("x2"))), {}};
}

double BestOf(const TuningOptions& o) {
  auto r = Tune(o, BraninTrial);
  EXPECT_TRUE(r.ok());
  return r.ok() ? r->trials[static_cast<size_t>(r->best)].objective : 1e9;
}

TEST(TunerTest, BayesianFindsABetterBraninOptimumThanRandomOnTheSameBudget) {
  // Branin's minimum is 0.397887. 25 trials each, over 4 seeds.
  constexpr int kJobs = 25;
  double bayes = 0, random = 0, sobol = 0;
  const std::vector<uint64_t> seeds = {1, 2, 3, 4};
  for (uint64_t seed : seeds) {
    const double b = BestOf(BraninOptions(TuningStrategy::kBayesian, seed, kJobs));
    const double r = BestOf(BraninOptions(TuningStrategy::kRandom, seed, kJobs));
    sobol += BestOf(BraninOptions(TuningStrategy::kSobol, seed, kJobs));
    EXPECT_GE(b, 0.397);
    bayes += b;
    random += r;
  }
  const double n = static_cast<double>(seeds.size());
  bayes /= n, random /= n, sobol /= n;
  // Regret (best - optimum), averaged: the GP gets far closer than random search.
  const double optimum = 0.397887;
  std::printf(
      "Branin, %d trials, mean best over %zu seeds: bayesian %.4f, sobol %.4f, random %.4f\n",
      kJobs, seeds.size(), bayes, sobol, random);
  EXPECT_LT(bayes - optimum, 0.5 * (random - optimum)) << "bayes " << bayes << " random " << random;
  EXPECT_LT(bayes - optimum, 0.5 * (sobol - optimum)) << "bayes " << bayes << " sobol " << sobol;
  EXPECT_LT(bayes, 0.6);
}

TEST(TunerTest, ParallelTrialsAreDeterministic) {
  // Trials take uneven times, so they finish out of order; the proposals must not depend on it.
  std::atomic<int> running{0}, most{0};
  auto run = [&]() {
    TuningOptions o = BraninOptions(TuningStrategy::kBayesian, 5, 14);
    o.max_parallel_jobs = 3;
    auto r = Tune(o, [&](const Hyperparameters& v, int id) {
      const int now = ++running;
      int seen = most.load();
      while (now > seen && !most.compare_exchange_weak(seen, now)) {
      }
      std::this_thread::sleep_for(std::chrono::milliseconds((id * 7) % 5 * 3));
      --running;
      return BraninTrial(v, id);
    });
    EXPECT_TRUE(r.ok());
    std::vector<std::string> values;
    for (const Trial& t : r->trials) values.push_back(t.values.at("x1") + "," + t.values.at("x2"));
    return values;
  };
  const auto first = run();
  const auto second = run();
  EXPECT_EQ(first, second);
  EXPECT_EQ(first.size(), 14u);
  EXPECT_GE(most.load(), 2);
  EXPECT_LE(most.load(), 3);
}

TEST(TunerTest, ScalesIntegersAndCategories) {
  TuningOptions o;
  o.strategy = TuningStrategy::kRandom;
  o.max_jobs = 400;
  o.seed = 9;
  TuningParameterRange lr = Continuous("learning_rate", 1e-4, 1.0, TuningScaling::kLogarithmic);
  TuningParameterRange momentum =
      Continuous("momentum", 0.5, 0.999, TuningScaling::kReverseLogarithmic);
  TuningParameterRange depth;
  depth.name = "max_depth";
  depth.type = TuningParameterType::kInteger;
  depth.min_value = 1;
  depth.max_value = 3;
  TuningParameterRange loss;
  loss.name = "loss";
  loss.type = TuningParameterType::kCategorical;
  loss.values = {"logistic", "hinge_loss"};
  o.ranges = {lr, momentum, depth, loss};
  auto r =
      Tune(o, [](const Hyperparameters&, int) -> Result<TrialOutcome> { return TrialOutcome{}; });
  ASSERT_TRUE(r.ok());
  int below_geometric_mean = 0, momentum_above_099 = 0;
  std::map<std::string, int> depths, losses;
  for (const Trial& t : r->trials) {
    const double v = std::stod(t.values.at("learning_rate"));
    ASSERT_GE(v, 1e-4);
    ASSERT_LE(v, 1.0);
    below_geometric_mean += v < 1e-2;
    const double m = std::stod(t.values.at("momentum"));
    ASSERT_GE(m, 0.5);
    ASSERT_LE(m, 0.999);
    momentum_above_099 += m > 0.99;
    ++depths[t.values.at("max_depth")];
    ++losses[t.values.at("loss")];
  }
  // Log scale: half the draws below the geometric mean (a linear scale would put 1% there).
  EXPECT_GT(below_geometric_mean, 150);
  EXPECT_LT(below_geometric_mean, 250);
  // Reverse log: 1 - m is log-uniform in [0.001, 0.5], so m > 0.99 about 37% of the time.
  EXPECT_GT(momentum_above_099, 100);
  EXPECT_EQ(depths.size(), 3u);
  for (const auto& [k, n] : depths) EXPECT_GT(n, 90) << k;
  EXPECT_EQ(losses.size(), 2u);
  for (const auto& [k, n] : losses) EXPECT_GT(n, 150) << k;
}

TEST(TunerTest, FailedTrialsAreSkippedAndInvalidArgumentStopsTheJob) {
  TuningOptions o = BraninOptions(TuningStrategy::kSobol, 1, 8);
  auto r = Tune(o, [](const Hyperparameters& v, int id) -> Result<TrialOutcome> {
    if (id % 2 == 0) return Status::Internal("diverged");
    if (id == 3) return TrialOutcome{std::nan(""), {}};
    return BraninTrial(v, id);
  });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->trials.size(), 8u);
  EXPECT_FALSE(r->trials[0].ok);
  EXPECT_EQ(r->trials[0].error, "diverged");
  EXPECT_FALSE(r->trials[3].ok);
  EXPECT_EQ(r->best % 2, 1);
  EXPECT_NE(r->best, 3);

  auto stopped = Tune(o, [](const Hyperparameters&, int) -> Result<TrialOutcome> {
    return Status::InvalidArgument("no metric 'auc'");
  });
  ASSERT_FALSE(stopped.ok());
  EXPECT_EQ(stopped.status().message(), "no metric 'auc'");

  auto all_failed = Tune(o, [](const Hyperparameters&, int) -> Result<TrialOutcome> {
    return Status::Internal("out of memory");
  });
  ASSERT_FALSE(all_failed.ok());
  EXPECT_NE(all_failed.status().message().find("all 8 trials failed"), std::string::npos);
}

TEST(TunerTest, EachSeedGivesItsOwnDesignAndTheSameSeedTheSame) {
  auto values = [](TuningStrategy strategy, uint64_t seed) {
    auto r = Tune(BraninOptions(strategy, seed, 6), BraninTrial);
    EXPECT_TRUE(r.ok());
    std::vector<Hyperparameters> out;
    for (const Trial& t : r->trials) out.push_back(t.values);
    return out;
  };
  for (TuningStrategy strategy :
       {TuningStrategy::kSobol, TuningStrategy::kRandom, TuningStrategy::kBayesian}) {
    EXPECT_EQ(values(strategy, 2), values(strategy, 2));
    EXPECT_NE(values(strategy, 2), values(strategy, 3));
  }
}

TEST(TunerTest, RejectsBadRanges) {
  TuningOptions o = BraninOptions(TuningStrategy::kRandom, 1, 5);
  o.ranges[0].min_value = 20;
  EXPECT_FALSE(ValidateTuningOptions(o).ok());
  o = BraninOptions(TuningStrategy::kRandom, 1, 5);
  o.ranges[0].scaling = TuningScaling::kLogarithmic;  // min -5
  EXPECT_FALSE(ValidateTuningOptions(o).ok());
  o = BraninOptions(TuningStrategy::kRandom, 1, 5);
  o.ranges[1].name = "x1";
  EXPECT_FALSE(ValidateTuningOptions(o).ok());
  o.ranges.clear();
  EXPECT_FALSE(ValidateTuningOptions(o).ok());
}

}  // namespace
}  // namespace osprey::models::ml
