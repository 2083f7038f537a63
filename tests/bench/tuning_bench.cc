// Tuning strategies on known test functions (Branin 2-D, Hartmann 6-D): the best value found
// within a budget of trials, averaged over seeds, and the time per tuning run (the trials
// themselves cost nothing here, so this is the strategy's own overhead: GP fits and the
// acquisition search). Prints a table; `--tsv` prints rows for tests/bench/optuna_compare.sh.
//   osprey_tuning_bench [--trials 30] [--seeds 10] [--tsv]
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <functional>
#include <numbers>
#include <string>
#include <vector>

#include "models/ml/tuning/tuner.h"

namespace {

using osprey::config::TuningOptions;
using osprey::config::TuningParameterRange;
using osprey::config::TuningStrategy;
namespace ml = osprey::models::ml;

double Branin(const std::vector<double>& x) {
  const double pi = std::numbers::pi;
  const double a = x[1] - 5.1 / (4 * pi * pi) * x[0] * x[0] + 5 / pi * x[0] - 6;
  return a * a + 10 * (1 - 1 / (8 * pi)) * std::cos(x[0]) + 10;
}

// Hartmann 6-D on [0, 1]^6; minimum -3.32237.
double Hartmann6(const std::vector<double>& x) {
  static const double kAlpha[4] = {1.0, 1.2, 3.0, 3.2};
  static const double kA[4][6] = {{10, 3, 17, 3.5, 1.7, 8},
                                  {0.05, 10, 17, 0.1, 8, 14},
                                  {3, 3.5, 1.7, 10, 17, 8},
                                  {17, 8, 0.05, 10, 0.1, 14}};
  static const double kP[4][6] = {{1312, 1696, 5569, 124, 8283, 5886},
                                  {2329, 4135, 8307, 3736, 1004, 9991},
                                  {2348, 1451, 3522, 2883, 3047, 6650},
                                  {4047, 8828, 8732, 5743, 1091, 381}};
  double sum = 0;
  for (int i = 0; i < 4; ++i) {
    double inner = 0;
    for (int j = 0; j < 6; ++j) {
      inner += kA[i][j] * std::pow(x[static_cast<size_t>(j)] - 1e-4 * kP[i][j], 2);
    }
    sum += kAlpha[i] * std::exp(-inner);
  }
  return -sum;
}

struct Problem {
  const char* name;
  std::vector<std::pair<double, double>> box;
  std::function<double(const std::vector<double>&)> f;
  double optimum;
};

}  // namespace

int main(int argc, char** argv) {
  int trials = 30, seeds = 10;
  bool tsv = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--trials") && i + 1 < argc) {
      trials = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--seeds") && i + 1 < argc) {
      seeds = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--tsv")) {
      tsv = true;
    }
  }
  const std::vector<Problem> problems = {
      {"branin", {{-5, 10}, {0, 15}}, Branin, 0.397887},
      {"hartmann6", std::vector<std::pair<double, double>>(6, {0.0, 1.0}), Hartmann6, -3.32237}};
  const std::pair<const char*, TuningStrategy> strategies[] = {
      {"bayesian", TuningStrategy::kBayesian},
      {"sobol", TuningStrategy::kSobol},
      {"random", TuningStrategy::kRandom}};
  if (!tsv) {
    std::printf("%d trials, %d seeds; regret = best found - optimum (lower is better)\n", trials,
                seeds);
    std::printf("%-10s %-9s %12s %12s %12s %14s\n", "function", "strategy", "mean best",
                "mean regret", "worst regret", "cpu s per run");
  }
  for (const Problem& p : problems) {
    for (const auto& [name, strategy] : strategies) {
      double sum = 0, worst = -1e300;
      const std::clock_t cpu0 = std::clock();
      for (int s = 1; s <= seeds; ++s) {
        TuningOptions o;
        o.strategy = strategy;
        o.minimize = true;
        o.max_jobs = trials;
        o.seed = static_cast<uint64_t>(s);
        for (size_t d = 0; d < p.box.size(); ++d) {
          TuningParameterRange r;
          r.name = "x" + std::to_string(d);
          r.min_value = p.box[d].first;
          r.max_value = p.box[d].second;
          r.scaling = osprey::config::TuningScaling::kLinear;
          o.ranges.push_back(r);
        }
        auto result =
            ml::Tune(o, [&](const ml::Hyperparameters& v, int) -> osprey::Result<ml::TrialOutcome> {
              std::vector<double> x;
              for (size_t d = 0; d < p.box.size(); ++d) {
                x.push_back(std::stod(v.at("x" + std::to_string(d))));
              }
              return ml::TrialOutcome{p.f(x), {}};
            });
        if (!result.ok()) {
          std::fprintf(stderr, "%s\n", result.status().ToString().c_str());
          return 1;
        }
        const double best = result->trials[static_cast<size_t>(result->best)].objective;
        sum += best;
        worst = std::max(worst, best);
      }
      const double cpu = static_cast<double>(std::clock() - cpu0) / CLOCKS_PER_SEC / seeds;
      const double mean = sum / seeds;
      if (tsv) {
        std::printf("osprey\t%s\t%s\t%.6g\t%.6g\t%.6g\t%.4g\n", p.name, name, mean,
                    mean - p.optimum, worst - p.optimum, cpu);
      } else {
        std::printf("%-10s %-9s %12.5g %12.5g %12.5g %14.4g\n", p.name, name, mean,
                    mean - p.optimum, worst - p.optimum, cpu);
      }
    }
  }
  return 0;
}
