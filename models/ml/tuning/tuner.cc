#include "models/ml/tuning/tuner.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <limits>
#include <mutex>
#include <set>
#include <thread>

#include <Eigen/Core>

#include "models/ml/tuning/gaussian_process.h"
#include "models/ml/tuning/sobol.h"
#include "models/rcf/rng.h"

namespace osprey::models::ml {

namespace {

using config::TuningParameterRange;
using config::TuningParameterType;
using config::TuningScaling;
using config::TuningStrategy;

constexpr int kDefaultMaxJobs = 20;
constexpr int kCandidates = 512;

// A nonzero Sobol shift seed from any seed (0 would mean unshifted), distinct per seed.
uint64_t ShiftSeed(uint64_t seed) {
  uint64_t state = seed;
  const uint64_t s = rcf::SplitMix64Next(&state);
  return s != 0 ? s : 1;
}

bool LogScale(const TuningParameterRange& r) {
  if (r.scaling == TuningScaling::kLogarithmic) return true;
  return r.scaling == TuningScaling::kAuto && r.min_value > 0 && r.max_value / r.min_value >= 100;
}

double ContinuousValue(const TuningParameterRange& r, double u) {
  u = std::clamp(u, 0.0, 1.0);
  if (r.scaling == TuningScaling::kReverseLogarithmic) {
    const double a = std::log(1.0 - r.min_value), b = std::log(1.0 - r.max_value);
    return 1.0 - std::exp(a + u * (b - a));
  }
  if (LogScale(r)) {
    const double a = std::log(r.min_value), b = std::log(r.max_value);
    return std::exp(a + u * (b - a));
  }
  return r.min_value + u * (r.max_value - r.min_value);
}

// Integer ranges: each integer gets an equal share of [0, 1] on the range's scale.
int64_t IntegerValue(const TuningParameterRange& r, double u) {
  u = std::clamp(u, 0.0, 1.0);
  const double lo = r.min_value, hi = r.max_value;
  double v;
  if (LogScale(r) && lo >= 1) {
    const double a = std::log(lo - 0.5), b = std::log(hi + 0.5);
    v = std::floor(std::exp(a + u * (b - a)) + 0.5);
  } else {
    v = std::floor(lo + u * (hi - lo + 1));
  }
  return static_cast<int64_t>(std::clamp(v, lo, hi));
}

size_t CategoryIndex(const TuningParameterRange& r, double u) {
  const size_t k = r.values.size();
  const auto idx = static_cast<size_t>(std::clamp(u, 0.0, 1.0) * static_cast<double>(k));
  return std::min(idx, k - 1);
}

std::string FormatDouble(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

// The unit position of an integer on its range's scale (for the GP's inputs).
double IntegerPosition(const TuningParameterRange& r, int64_t v) {
  if (r.max_value <= r.min_value) return 0.5;
  if (LogScale(r) && r.min_value >= 1) {
    return (std::log(static_cast<double>(v)) - std::log(r.min_value)) /
           (std::log(r.max_value) - std::log(r.min_value));
  }
  return (static_cast<double>(v) - r.min_value) / (r.max_value - r.min_value);
}

int FeatureCount(const std::vector<TuningParameterRange>& ranges) {
  int n = 0;
  for (const auto& r : ranges) {
    n += r.type == TuningParameterType::kCategorical ? static_cast<int>(r.values.size()) : 1;
  }
  return n;
}

// The GP's inputs for a point: continuous coordinates as they are, integers at their value's
// position, categorical values one-hot (so no order is implied between categories).
Eigen::VectorXd Features(const std::vector<TuningParameterRange>& ranges,
                         const std::vector<double>& point) {
  Eigen::VectorXd f = Eigen::VectorXd::Zero(FeatureCount(ranges));
  Eigen::Index at = 0;
  for (size_t d = 0; d < ranges.size(); ++d) {
    const auto& r = ranges[d];
    switch (r.type) {
      case TuningParameterType::kContinuous:
        f[at++] = std::clamp(point[d], 0.0, 1.0);
        break;
      case TuningParameterType::kInteger:
        f[at++] = IntegerPosition(r, IntegerValue(r, point[d]));
        break;
      case TuningParameterType::kCategorical:
        f[at + static_cast<Eigen::Index>(CategoryIndex(r, point[d]))] = 1.0;
        at += static_cast<Eigen::Index>(r.values.size());
        break;
    }
  }
  return f;
}

Hyperparameters Decode(const std::vector<TuningParameterRange>& ranges,
                       const std::vector<double>& point) {
  Hyperparameters out;
  for (size_t d = 0; d < ranges.size(); ++d) {
    out[ranges[d].name] = DecodeRangeValue(ranges[d], point[d]);
  }
  return out;
}

std::string KeyOf(const Hyperparameters& values) {
  std::string key;
  for (const auto& [k, v] : values) key += k + "=" + v + ";";
  return key;
}

// Grid coordinates of one range.
std::vector<double> RangeGrid(const TuningParameterRange& r) {
  std::vector<double> out;
  switch (r.type) {
    case TuningParameterType::kCategorical:
      for (size_t i = 0; i < r.values.size(); ++i) {
        out.push_back((static_cast<double>(i) + 0.5) / static_cast<double>(r.values.size()));
      }
      break;
    case TuningParameterType::kInteger: {
      // Every integer on a linear scale; on a log scale at most grid_points distinct ones.
      const auto count = static_cast<int64_t>(r.max_value - r.min_value) + 1;
      if (!LogScale(r) || count <= r.grid_points) {
        for (int64_t i = 0; i < count; ++i) {
          out.push_back((static_cast<double>(i) + 0.5) / static_cast<double>(count));
          if (LogScale(r)) {
            // Re-centre on the integer's share of the log scale.
            const double v = r.min_value + static_cast<double>(i);
            const double a = std::log(r.min_value - 0.5), b = std::log(r.max_value + 0.5);
            out.back() = ((std::log(v - 0.5) + std::log(v + 0.5)) / 2 - a) / (b - a);
          }
        }
      } else {
        std::set<int64_t> seen;
        for (int i = 0; i < r.grid_points; ++i) {
          const double u = r.grid_points == 1 ? 0.5 : static_cast<double>(i) / (r.grid_points - 1);
          if (seen.insert(IntegerValue(r, u)).second) out.push_back(u);
        }
      }
      break;
    }
    case TuningParameterType::kContinuous:
      for (int i = 0; i < r.grid_points; ++i) {
        out.push_back(r.grid_points == 1 ? 0.5 : static_cast<double>(i) / (r.grid_points - 1));
      }
      break;
  }
  return out;
}

size_t GridSize(const config::TuningOptions& o) {
  size_t n = 1;
  for (const auto& r : o.ranges) {
    n *= RangeGrid(r).size();
    if (n > 1'000'000) return n;
  }
  return n;
}

// Proposes points for one tuning job; called on the coordinating thread only, in trial order.
class Proposer {
 public:
  explicit Proposer(const config::TuningOptions& o)
      : o_(o),
        dims_(static_cast<int>(o.ranges.size())),
        rng_(o.seed),
        sobol_(dims_, ShiftSeed(o.seed)) {
    if (o.strategy == TuningStrategy::kGrid) grid_ = GridPoints(o);
    initial_ = o.initial_jobs > 0 ? o.initial_jobs : std::max(5, 2 * dims_);
  }

  // `done`: finished trials usable for trial `id` (ids < id - parallel + 1); `pending`: the
  // points of the trials proposed after them.
  std::vector<double> Propose(int id, const std::vector<const Trial*>& done,
                              const std::vector<std::vector<double>>& pending) {
    std::vector<double> p;
    switch (o_.strategy) {
      case TuningStrategy::kGrid:
        p = grid_[static_cast<size_t>(id)];
        break;
      case TuningStrategy::kRandom:
        p = RandomPoint();
        break;
      case TuningStrategy::kSobol:
        p = sobol_.Next();
        break;
      case TuningStrategy::kBayesian:
        p = id < initial_ ? sobol_.Next() : Bayesian(id, done, pending);
        break;
    }
    seen_.insert(KeyOf(Decode(o_.ranges, p)));
    return p;
  }

 private:
  std::vector<double> RandomPoint() {
    std::vector<double> p(static_cast<size_t>(dims_));
    for (auto& v : p) v = rng_.NextDouble();
    return p;
  }

  std::vector<double> Bayesian(int id, const std::vector<const Trial*>& done,
                               const std::vector<std::vector<double>>& pending) {
    std::vector<const Trial*> ok;
    for (const Trial* t : done) {
      if (t->ok) ok.push_back(t);
    }
    if (ok.size() < 2) return sobol_.Next();
    const int nf = FeatureCount(o_.ranges);
    const auto n = static_cast<Eigen::Index>(ok.size());
    Eigen::MatrixXd x(n, nf);
    Eigen::VectorXd y(n);
    for (Eigen::Index i = 0; i < n; ++i) {
      x.row(i) = Features(o_.ranges, ok[static_cast<size_t>(i)]->point).transpose();
      const double v = ok[static_cast<size_t>(i)]->objective;
      y[i] = o_.minimize ? v : -v;
    }
    const double best = y.minCoeff();
    const uint64_t seed = o_.seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(id);
    auto fitted = GaussianProcess::Fit(x, y, seed);
    if (!fitted.ok()) return RandomPoint();
    GaussianProcess gp = std::move(*fitted);
    if (!pending.empty()) {
      // Kriging believer: the pending trials' outcomes are taken to be the posterior mean.
      const auto m = static_cast<Eigen::Index>(pending.size());
      Eigen::MatrixXd xa(n + m, nf);
      Eigen::VectorXd ya(n + m);
      xa.topRows(n) = x;
      ya.head(n) = y;
      for (Eigen::Index i = 0; i < m; ++i) {
        const Eigen::VectorXd f = Features(o_.ranges, pending[static_cast<size_t>(i)]);
        double mean = 0, sd = 0;
        gp.Predict(f, &mean, &sd);
        xa.row(n + i) = f.transpose();
        ya[n + i] = mean;
      }
      auto believer = GaussianProcess::FitWith(xa, ya, gp.hyperparameters());
      if (believer.ok()) gp = std::move(*believer);
    }
    const double spread = y.size() > 1 ? std::sqrt((y.array() - y.mean()).square().mean()) : 1.0;
    const double xi = 0.01 * spread;
    auto ei = [&](const std::vector<double>& p) {
      double mean = 0, sd = 0;
      gp.Predict(Features(o_.ranges, p), &mean, &sd);
      return ExpectedImprovement(mean, sd, best, xi);
    };
    // Candidates: a shifted Sobol set over the whole cube, and perturbations of the best points.
    rcf::Rng rng(seed);
    std::vector<std::vector<double>> cands;
    SobolSequence cover(dims_, ShiftSeed(seed));
    for (int i = 0; i < kCandidates; ++i) cands.push_back(cover.Next());
    std::vector<size_t> order(ok.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return y[static_cast<Eigen::Index>(a)] < y[static_cast<Eigen::Index>(b)];
    });
    for (size_t k = 0; k < std::min<size_t>(3, order.size()); ++k) {
      for (int j = 0; j < 32; ++j) cands.push_back(Perturb(ok[order[k]]->point, 0.1, rng));
    }
    std::vector<std::pair<double, size_t>> scored;
    for (size_t i = 0; i < cands.size(); ++i) scored.emplace_back(ei(cands[i]), i);
    std::sort(scored.begin(), scored.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    // Local refinement of the best few: a (1+1) evolution strategy with a shrinking step.
    std::vector<std::pair<double, std::vector<double>>> refined;
    for (size_t k = 0; k < std::min<size_t>(5, scored.size()); ++k) {
      std::vector<double> p = cands[scored[k].second];
      double v = scored[k].first;
      double step = 0.05;
      int failures = 0;
      for (int it = 0; it < 40 && step > 1e-4; ++it) {
        std::vector<double> q = Perturb(p, step, rng);
        const double w = ei(q);
        if (w > v) {
          p = std::move(q), v = w, failures = 0;
        } else if (++failures >= 6) {
          step *= 0.5, failures = 0;
        }
      }
      refined.emplace_back(v, std::move(p));
    }
    for (size_t k = 5; k < scored.size(); ++k) {
      refined.emplace_back(scored[k].first, cands[scored[k].second]);
    }
    std::stable_sort(refined.begin(), refined.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first; });
    // The best candidate whose values were not tried yet (discrete ranges collide).
    for (const auto& [v, p] : refined) {
      if (!seen_.count(KeyOf(Decode(o_.ranges, p)))) return p;
    }
    for (int tries = 0; tries < 100; ++tries) {
      std::vector<double> p = RandomPoint();
      if (!seen_.count(KeyOf(Decode(o_.ranges, p)))) return p;
    }
    return RandomPoint();
  }

  std::vector<double> Perturb(const std::vector<double>& p, double step, rcf::Rng& rng) {
    std::vector<double> q = p;
    for (auto& v : q) {
      // Box-Muller normal.
      const double g = std::sqrt(-2.0 * std::log(rng.NextOpenDouble())) *
                       std::cos(2.0 * 3.14159265358979323846 * rng.NextDouble());
      v = std::clamp(v + step * g, 0.0, 1.0 - 1e-12);
    }
    return q;
  }

  const config::TuningOptions& o_;
  const int dims_;
  rcf::Rng rng_;
  SobolSequence sobol_;
  std::vector<std::vector<double>> grid_;
  int initial_ = 0;
  std::set<std::string> seen_;
};

}  // namespace

std::string DecodeRangeValue(const TuningParameterRange& range, double u) {
  switch (range.type) {
    case TuningParameterType::kContinuous:
      return FormatDouble(ContinuousValue(range, u));
    case TuningParameterType::kInteger:
      return std::to_string(IntegerValue(range, u));
    case TuningParameterType::kCategorical:
      return range.values[CategoryIndex(range, u)];
  }
  return "";
}

std::vector<std::vector<double>> GridPoints(const config::TuningOptions& options) {
  std::vector<std::vector<double>> axes;
  for (const auto& r : options.ranges) axes.push_back(RangeGrid(r));
  std::vector<std::vector<double>> out;
  if (axes.empty()) return out;
  std::vector<size_t> at(axes.size(), 0);
  while (true) {
    std::vector<double> p(axes.size());
    for (size_t d = 0; d < axes.size(); ++d) p[d] = axes[d][at[d]];
    out.push_back(std::move(p));
    // Odometer: the last range turns fastest.
    size_t d = axes.size();
    while (d > 0) {
      --d;
      if (++at[d] < axes[d].size()) break;
      at[d] = 0;
      if (d == 0) return out;
    }
  }
}

Status ValidateTuningOptions(const config::TuningOptions& o) {
  auto bad = [](const std::string& what) { return Status::InvalidArgument("tuning: " + what); };
  if (o.ranges.empty()) return bad("no parameter_ranges");
  if (static_cast<int>(o.ranges.size()) > SobolSequence::kMaxDimensions) {
    return bad("at most " + std::to_string(SobolSequence::kMaxDimensions) + " parameter ranges");
  }
  if (o.max_jobs < 0 || o.max_parallel_jobs < 1) {
    return bad("max_jobs >= 0, max_parallel_jobs >= 1");
  }
  std::set<std::string> names;
  for (const auto& r : o.ranges) {
    const std::string at = "parameter_ranges." + r.name + ": ";
    if (r.name.empty() || !names.insert(r.name).second) return bad(at + "empty or repeated name");
    if (r.type == TuningParameterType::kCategorical) {
      if (r.values.empty()) return bad(at + "no values");
      if (std::set<std::string>(r.values.begin(), r.values.end()).size() != r.values.size()) {
        return bad(at + "repeated values");
      }
      continue;
    }
    if (!(r.min_value <= r.max_value) || !std::isfinite(r.min_value) ||
        !std::isfinite(r.max_value) ||
        (r.type == TuningParameterType::kContinuous && r.min_value == r.max_value)) {
      return bad(at + "needs min < max");
    }
    if (r.type == TuningParameterType::kInteger &&
        (r.min_value != std::floor(r.min_value) || r.max_value != std::floor(r.max_value))) {
      return bad(at + "integer bounds must be integers");
    }
    if (r.scaling == TuningScaling::kLogarithmic && r.min_value <= 0) {
      return bad(at + "logarithmic scaling needs min > 0");
    }
    if (r.scaling == TuningScaling::kReverseLogarithmic &&
        (r.type != TuningParameterType::kContinuous || r.min_value < 0 || r.max_value >= 1)) {
      return bad(at + "reverse logarithmic scaling needs a continuous range within [0, 1)");
    }
    if (r.grid_points < 1) return bad(at + "grid_points >= 1");
  }
  if (o.strategy == TuningStrategy::kGrid) {
    const size_t size = GridSize(o);
    if (size > 100'000) return bad("the grid has more than 100000 points");
    if (o.max_jobs > 0 && static_cast<size_t>(o.max_jobs) < size) {
      return bad("the grid has " + std::to_string(size) + " points but max_jobs is " +
                 std::to_string(o.max_jobs) + " (raise it, or leave it out to run the whole grid)");
    }
  }
  return Status::Ok();
}

int PlannedJobs(const config::TuningOptions& o) {
  if (o.strategy == TuningStrategy::kGrid) return static_cast<int>(GridSize(o));
  return o.max_jobs > 0 ? o.max_jobs : kDefaultMaxJobs;
}

Result<TuningResult> Tune(const config::TuningOptions& options, const TrialFunction& trial,
                          const TrialCallback& on_trial) {
  OSPREY_RETURN_IF_ERROR(ValidateTuningOptions(options));
  const int total = PlannedJobs(options);
  const int parallel = std::min(options.max_parallel_jobs, total);
  TuningResult result;
  result.trials.resize(static_cast<size_t>(total));
  Proposer proposer(options);

  std::mutex mu;
  std::condition_variable cv;
  std::deque<int> queue;                                          // guarded by mu
  std::vector<bool> finished(static_cast<size_t>(total), false);  // guarded by mu
  int finished_prefix = 0;  // trials 0 .. prefix-1 all finished; guarded by mu
  int finished_count = 0;   // guarded by mu
  bool shutdown = false;    // guarded by mu
  Status fatal;             // guarded by mu

  auto worker = [&] {
    std::unique_lock<std::mutex> lock(mu);
    while (true) {
      cv.wait(lock, [&] { return shutdown || !queue.empty(); });
      if (queue.empty()) return;
      const int id = queue.front();
      queue.pop_front();
      Trial& t = result.trials[static_cast<size_t>(id)];
      const Hyperparameters values = t.values;
      lock.unlock();
      const auto started = std::chrono::steady_clock::now();
      Result<TrialOutcome> outcome = trial(values, id);
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      lock.lock();
      t.seconds = seconds;
      if (outcome.ok() && std::isfinite(outcome->objective)) {
        t.ok = true;
        t.objective = outcome->objective;
        t.metrics = std::move(outcome->metrics);
      } else if (outcome.ok()) {
        t.error = "the objective is not finite";
        t.metrics = std::move(outcome->metrics);
      } else {
        t.error = outcome.status().message();
        if (outcome.status().code() == Status::Code::kInvalidArgument && fatal.ok()) {
          fatal = outcome.status();
        }
      }
      finished[static_cast<size_t>(id)] = true;
      ++finished_count;
      while (finished_prefix < total && finished[static_cast<size_t>(finished_prefix)]) {
        ++finished_prefix;
      }
      if (on_trial) on_trial(t, finished_count, total);
      cv.notify_all();
    }
  };
  std::vector<std::thread> pool;
  for (int i = 0; i < parallel; ++i) pool.emplace_back(worker);

  int dispatched = 0;
  {
    std::unique_lock<std::mutex> lock(mu);
    for (int id = 0; id < total; ++id) {
      const int usable = id - parallel + 1;  // trials 0 .. usable-1 must be finished
      cv.wait(lock, [&] { return !fatal.ok() || finished_prefix >= usable; });
      if (!fatal.ok()) break;
      std::vector<const Trial*> done;
      std::vector<std::vector<double>> pending;
      for (int j = 0; j < id; ++j) {
        if (j < usable) {
          done.push_back(&result.trials[static_cast<size_t>(j)]);
        } else {
          pending.push_back(result.trials[static_cast<size_t>(j)].point);
        }
      }
      // Finished trials are never written again and the points are copied: propose unlocked.
      lock.unlock();
      std::vector<double> point = proposer.Propose(id, done, pending);
      lock.lock();
      Trial& t = result.trials[static_cast<size_t>(id)];
      t.id = id;
      t.values = Decode(options.ranges, point);
      t.point = std::move(point);
      queue.push_back(id);
      ++dispatched;
      cv.notify_all();
    }
    cv.wait(lock, [&] { return finished_count == dispatched; });
    shutdown = true;
    cv.notify_all();
  }
  for (auto& th : pool) th.join();
  if (!fatal.ok()) return fatal;
  result.trials.resize(static_cast<size_t>(dispatched));
  for (const Trial& t : result.trials) {
    if (!t.ok) continue;
    const Trial* best =
        result.best >= 0 ? &result.trials[static_cast<size_t>(result.best)] : nullptr;
    if (best == nullptr ||
        (options.minimize ? t.objective < best->objective : t.objective > best->objective)) {
      result.best = t.id;
    }
  }
  if (result.best < 0) {
    return Status::Internal("tuning: all " + std::to_string(dispatched) +
                            " trials failed; the first: " + result.trials.front().error);
  }
  return result;
}

}  // namespace osprey::models::ml
