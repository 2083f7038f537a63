// The rows of one `osprey train` run, and the cross-validation every algorithm shares.
// Prepare drops rows (preparation.missing: drop), splits train / validation / test (stratified
// for classifiers) and prepares the splits with PrepareRows, which fits the `features` pipeline
// and then the imputer on the training rows only and applies both to the other rows.
// CrossValidateRows runs k-fold (stratified for classifiers) or leave-one-out cross-validation
// over train + validation (the test split is never touched): each fold is prepared by
// PrepareRows from its own training rows, so nothing of a held-out fold leaks into the pipeline,
// the imputer or the model it is scored by. The algorithm only supplies a CvTask.
// Thread-compatible: each call runs on the caller's thread (the callbacks too).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "config/base/status.h"
#include "config/train_options.h"
#include "daemon/trainer/feature_stage.h"
#include "models/ml/dataset.h"
#include "models/ml/prepare.h"

namespace osprey::daemon::trainer {

// Prepared rows: the pipeline's (and the imputer's) output, ready for an algorithm.
struct Prepared {
  models::ml::Dataset train, validation, test;
  std::vector<double> fill;  // imputer value per input column of the prepared data (NaN = none)
  FeatureStage features;     // the fitted `features` pipeline, if any
};

// Fits the preparation (features, then the imputer; or nothing but the pipeline with
// missing: drop, whose rows were dropped before) on `train` and applies it to all three.
Result<Prepared> PrepareRows(const config::TrainConfig& cfg, models::ml::Dataset train,
                             models::ml::Dataset validation, models::ml::Dataset test);

// The run's train / validation / test split of `all`, prepared. `classifier`: stratify the
// split by the label's class (when preparation.stratify). `owned`, when not null, is `all`
// itself, which may be consumed: a training split of every row (no validation or test rows,
// none dropped) is then `all` reordered in place instead of a copy. `any_row_order`: the
// algorithm's model does not depend on the order of its training rows beyond its own seeded
// sampling (k-means); a training split of every row then keeps the data's order (no
// permutation: the same rows, owned or copied).
Result<Prepared> Prepare(const config::TrainConfig& cfg, const models::ml::Dataset& all,
                         bool classifier, models::ml::Dataset* owned = nullptr,
                         bool any_row_order = false);

// What cross-validation needs from an algorithm.
struct CvTask {
  // The metric's name (summary table, metadata.json, tuning's "cross_validation:<metric>").
  std::string metric;
  // A classifier: the split and the folds are stratified by the label's class (when
  // preparation.stratify). Must match what the algorithm passes to Prepare, so that the rows
  // cross-validated are exactly the final fit's train + validation rows.
  bool classifier = false;
  // Fits on a fold's prepared training rows and scores its prepared held-out rows.
  std::function<Result<double>(const models::ml::Dataset& train, const models::ml::Dataset& test)>
      fit_and_score;
};

struct CvRun {
  std::string metric;
  models::ml::CvSummary summary;  // one value per fold, in fold order
  size_t rows = 0;                // train + validation rows that were folded
  bool stratified = false;
  bool leave_one_out = false;
};

// Cross-validation as preparation.cross_validation says, over Prepare's train + validation
// rows. `progress(done, total)` is called after each fold. Too few rows for the folds is an
// InvalidArgument naming preparation.cross_validation's file:line; a fold's failure names the
// fold. REQUIRES: cfg.preparation.cross_validation_folds != 0.
Result<CvRun> CrossValidateRows(const config::TrainConfig& cfg, const models::ml::Dataset& all,
                                const CvTask& task,
                                const std::function<void(int done, int total)>& progress = {});

}  // namespace osprey::daemon::trainer
