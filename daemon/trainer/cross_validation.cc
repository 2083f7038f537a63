#include "daemon/trainer/cross_validation.h"

#include <cstdint>
#include <limits>
#include <utility>

#include "config/base/check.h"

namespace osprey::daemon::trainer {

namespace {

namespace ml = models::ml;

ml::MissingPolicy Policy(config::MissingValues missing) {
  switch (missing) {
    case config::MissingValues::kKeep:
      return ml::MissingPolicy::kKeep;
    case config::MissingValues::kMean:
      return ml::MissingPolicy::kMean;
    case config::MissingValues::kMedian:
      return ml::MissingPolicy::kMedian;
    case config::MissingValues::kMostFrequent:
      return ml::MissingPolicy::kMostFrequent;
    case config::MissingValues::kDrop:
      break;
  }
  return ml::MissingPolicy::kDropRows;
}

// The rows left after preparation.missing (`storage` keeps them when rows are dropped) and
// their train / validation / test split.
struct RowSplit {
  const ml::Dataset* data = nullptr;
  ml::Split split;
};

RowSplit SplitRows(const config::TrainConfig& cfg, const ml::Dataset& all, bool classifier,
                   ml::Dataset* storage) {
  const auto& p = cfg.preparation;
  RowSplit out;
  out.data = &all;
  if (p.missing == config::MissingValues::kDrop) {
    *storage = ml::DropMissingRows(all);
    out.data = storage;
  }
  std::vector<int> classes;
  if (classifier && p.stratify && out.data->has_label) classes = ml::ClassesOf(*out.data);
  const ml::SplitFractions fr{p.train_fraction, p.validation_fraction, p.test_fraction};
  out.split = ml::TrainValidationTestSplit(out.data->rows(), fr, p.seed, classes);
  return out;
}

std::string Where(const config::TrainConfig& cfg) {
  const config::SourceLocation& at = cfg.preparation.cross_validation_location;
  return at.line > 0 ? at.ToString() : cfg.file;
}

}  // namespace

Result<Prepared> PrepareRows(const config::TrainConfig& cfg, ml::Dataset train,
                             ml::Dataset validation, ml::Dataset test) {
  Prepared out{std::move(train), std::move(validation), std::move(test), {}, {}};
  OSPREY_ASSIGN_OR_RETURN(out.features, ApplyFeatures(cfg, &out.train, &out.validation, &out.test));
  const auto& p = cfg.preparation;
  if (p.missing == config::MissingValues::kDrop) {
    out.fill.assign(out.train.cols(), std::numeric_limits<double>::quiet_NaN());
    return out;
  }
  ml::ImputerOptions io;
  io.add_indicators = p.missing_indicators;
  io.policy = Policy(p.missing);
  const ml::Imputer imp = ml::Imputer::Fit(out.train, io);
  imp.Apply(&out.train);
  imp.Apply(&out.validation);
  imp.Apply(&out.test);
  out.fill = imp.fill_values();
  // Indicator columns are never missing themselves.
  out.fill.resize(out.train.cols(), std::numeric_limits<double>::quiet_NaN());
  return out;
}

Result<Prepared> Prepare(const config::TrainConfig& cfg, const ml::Dataset& all, bool classifier,
                         ml::Dataset* owned, bool any_row_order) {
  ml::Dataset dropped;
  const RowSplit rows = SplitRows(cfg, all, classifier, &dropped);
  ml::Dataset validation = rows.data->Rows(rows.split.validation);
  ml::Dataset test = rows.data->Rows(rows.split.test);
  ml::Dataset train;
  const bool every_row = rows.split.train.size() == rows.data->rows();
  if (any_row_order && every_row) {
    if (owned == &all && rows.data == &all) {
      train = std::move(*owned);
    } else {
      train = *rows.data;
    }
  } else if (owned == &all && rows.data == &all && every_row) {
    train = std::move(*owned);
    ml::PermuteRows(rows.split.train, &train);
  } else {
    train = rows.data->Rows(rows.split.train);
  }
  return PrepareRows(cfg, std::move(train), std::move(validation), std::move(test));
}

Result<CvRun> CrossValidateRows(const config::TrainConfig& cfg, const ml::Dataset& all,
                                const CvTask& task,
                                const std::function<void(int done, int total)>& progress) {
  const int k = cfg.preparation.cross_validation_folds;
  OSPREY_CHECK(k != 0) << "cross-validation is off";
  ml::Dataset dropped;
  const RowSplit rows = SplitRows(cfg, all, task.classifier, &dropped);
  // Train + validation, raw: every fold fits its own preparation.
  std::vector<size_t> pool = rows.split.train;
  pool.insert(pool.end(), rows.split.validation.begin(), rows.split.validation.end());
  const ml::Dataset data = rows.data->Rows(pool);
  CvRun run;
  run.metric = task.metric;
  run.rows = data.rows();
  run.leave_one_out = k < 0;
  if (run.rows < 2 || (k > 0 && static_cast<size_t>(k) > run.rows)) {
    return Status::InvalidArgument(
        Where(cfg) + ": preparation.cross_validation: " + std::to_string(run.rows) +
        (run.rows == 1 ? " row (train + validation) is" : " rows (train + validation) are") +
        " too few for " + (k > 0 ? std::to_string(k) + " folds" : std::string("leave-one-out")) +
        (k > 0 ? " (at most one fold per row)" : ""));
  }
  std::vector<int> classes;
  if (task.classifier && cfg.preparation.stratify && data.has_label && !run.leave_one_out) {
    classes = ml::ClassesOf(data);
    run.stratified = true;
  }
  const std::vector<ml::Fold> folds = run.leave_one_out
                                          ? ml::LeaveOneOut(run.rows)
                                          : ml::KFold(run.rows, k, cfg.preparation.seed, classes);
  const int total = static_cast<int>(folds.size());
  int done = 0;
  auto summary = ml::CrossValidate(
      folds,
      [&](const std::vector<size_t>& train, const std::vector<size_t>& test) -> Result<double> {
        OSPREY_ASSIGN_OR_RETURN(Prepared fold,
                                PrepareRows(cfg, data.Rows(train), data.Rows({}), data.Rows(test)));
        OSPREY_ASSIGN_OR_RETURN(double value, task.fit_and_score(fold.train, fold.test));
        if (progress) progress(++done, total);
        return value;
      });
  if (!summary.ok()) {
    if (summary.status().code() != Status::Code::kInvalidArgument) return summary.status();
    return Status::InvalidArgument("cross-validation: " + summary.status().message());
  }
  run.summary = std::move(*summary);
  return run;
}

}  // namespace osprey::daemon::trainer
