#include "daemon/trainer/tuning_report.h"

#include <algorithm>
#include <cstdio>
#include <vector>

#include "config/base/json_writer.h"

namespace osprey::daemon::trainer {

namespace {

std::string Short(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

}  // namespace

std::string_view StrategyName(config::TuningStrategy strategy) {
  switch (strategy) {
    case config::TuningStrategy::kBayesian:
      return "bayesian";
    case config::TuningStrategy::kRandom:
      return "random";
    case config::TuningStrategy::kGrid:
      return "grid";
    case config::TuningStrategy::kSobol:
      return "sobol";
  }
  return "?";
}

void PrintTrials(std::ostream& out, const config::TuningOptions& options,
                 const models::ml::TuningResult& result) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> head{"trial"};
  for (const auto& r : options.ranges) head.push_back(r.name);
  head.insert(head.end(), {options.objective_metric, "seconds", "status"});
  rows.push_back(head);
  for (const auto& t : result.trials) {
    std::vector<std::string> row{std::to_string(t.id) + (t.id == result.best ? " *" : "")};
    for (const auto& r : options.ranges) {
      row.push_back(t.values.count(r.name) ? t.values.at(r.name) : "-");
    }
    row.push_back(t.ok ? Short(t.objective) : "-");
    row.push_back(Short(t.seconds));
    row.push_back(t.ok ? "completed" : "failed: " + t.error.substr(0, 60));
    rows.push_back(std::move(row));
  }
  std::vector<size_t> width(head.size(), 0);
  for (const auto& r : rows) {
    for (size_t c = 0; c < r.size(); ++c) width[c] = std::max(width[c], r[c].size());
  }
  size_t failed = 0;
  for (const auto& t : result.trials) failed += t.ok ? 0 : 1;
  out << "tuning: " << StrategyName(options.strategy) << ", " << result.trials.size() << " trials ("
      << failed << " failed), " << options.max_parallel_jobs << " at a time; objective "
      << options.objective_metric << " (" << (options.minimize ? "minimize" : "maximize")
      << "); * = best, published\n";
  for (const auto& r : rows) {
    std::string line;
    for (size_t c = 0; c < r.size(); ++c) {
      line += r[c];
      if (c + 1 < r.size()) line += std::string(width[c] - r[c].size() + 2, ' ');
    }
    out << line << "\n";
  }
}

std::string TuningJson(const config::TuningOptions& options,
                       const models::ml::TuningResult& result) {
  std::string out;
  JsonWriter j(&out);
  j.BeginObject();
  j.Key("strategy").String(StrategyName(options.strategy));
  j.Key("objective").BeginObject().Key("metric").String(options.objective_metric);
  j.Key("type").String(options.minimize ? "minimize" : "maximize").EndObject();
  j.Key("max_jobs").Int(static_cast<int64_t>(result.trials.size()));
  j.Key("max_parallel_jobs").Int(options.max_parallel_jobs);
  j.Key("seed").Int(static_cast<int64_t>(options.seed));
  j.Key("best_trial").Int(result.best);
  j.Key("trials").BeginArray();
  for (const auto& t : result.trials) {
    j.BeginObject().Key("id").Int(t.id);
    j.Key("hyperparameters").BeginObject();
    for (const auto& [k, v] : t.values) j.Key(k).String(v);
    j.EndObject();
    j.Key("status").String(t.ok ? "completed" : "failed");
    if (t.ok) j.Key("objective").Double(t.objective);
    if (!t.ok) j.Key("error").String(t.error);
    j.Key("metrics").BeginObject();
    for (const auto& [k, v] : t.metrics) j.Key(k).Double(v);
    j.EndObject();
    j.Key("seconds").Double(t.seconds);
    j.EndObject();
  }
  j.EndArray();
  j.EndObject();
  return out;
}

}  // namespace osprey::daemon::trainer
