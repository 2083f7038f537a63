// Data preparation: missing-value handling (drop rows, impute mean / median / most frequent,
// missing-indicator columns), seeded shuffles, train/validation/test splits (stratified for
// classification) and cross-validation folds (k-fold, stratified k-fold, leave-one-out).
// Imputers are fitted on the training rows only and then applied to every split, so nothing of
// the validation or test rows leaks into training.
// Thread-compatible: const methods may be called concurrently; mutation needs external sync.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "config/base/status.h"
#include "models/ml/dataset.h"

namespace osprey::models::ml {

enum class MissingPolicy {
  kKeep,          // leave NaN in place (the algorithm must accept it or fail)
  kDropRows,      // drop every row with a missing feature
  kMean,          // replace by the column's mean on the training rows
  kMedian,        // ... median
  kMostFrequent,  // ... most frequent value (smallest on ties); categorical columns too
};

struct ImputerOptions {
  MissingPolicy policy = MissingPolicy::kMean;
  // Add a 0/1 column "<name>_missing" for each column that had a missing value in training.
  bool add_indicators = false;
};

// A fitted missing-value policy. Apply() adds the indicator columns (if any) first, then fills.
class Imputer {
 public:
  // REQUIRES: options.policy != kDropRows (rows are dropped by DropMissingRows).
  static Imputer Fit(const Dataset& train, const ImputerOptions& options);

  // Fills missing cells in place (and appends indicator columns).
  void Apply(Dataset* data) const;
  // Value used per input column (NaN = left as is: kKeep, or a column with no value at all,
  // which is filled with 0).
  const std::vector<double>& fill_values() const { return fill_; }
  // Input columns that get an indicator column, in order.
  const std::vector<size_t>& indicator_columns() const { return indicators_; }
  const ImputerOptions& options() const { return options_; }

 private:
  ImputerOptions options_;
  std::vector<double> fill_;
  std::vector<size_t> indicators_;
};

// The rows without a missing feature.
Dataset DropMissingRows(const Dataset& data);

// 0..n-1 shuffled (Fisher-Yates on the RCF xoshiro generator: the same on every platform).
std::vector<size_t> ShuffledIndices(size_t n, uint64_t seed);

// Reorders the rows of `data` in place: row r becomes the former row order[r], as
// data->Rows(order) would, without a second matrix (no fresh memory to fault in; following
// the permutation's cycles, prefetching along them). O(rows) time, rows / 8 bytes extra.
// REQUIRES: order is a permutation of [0, data->rows()).
void PermuteRows(const std::vector<size_t>& order, Dataset* data);

struct SplitFractions {
  double train = 0.7;
  double validation = 0.1;
  double test = 0.2;
  // Each in [0, 1], train > 0, summing to 1 (within 1e-9).
  Status Validate() const;
};

struct Split {
  std::vector<size_t> train;
  std::vector<size_t> validation;
  std::vector<size_t> test;
};

// Shuffled split of n rows (each part lists its rows in random order). With `classes` (one
// integer class per row), each class is split in the given proportions (stratified), so every
// split keeps the class balance.
// REQUIRES: fractions.Validate().ok(); classes empty or of size n.
Split TrainValidationTestSplit(size_t n, const SplitFractions& fractions, uint64_t seed,
                               const std::vector<int>& classes = {});

struct Fold {
  std::vector<size_t> train;
  std::vector<size_t> test;
};

// k folds over n rows: every row is in exactly one fold's test set. With `classes`, folds are
// stratified (each class dealt round-robin over the folds). k == n is leave-one-out.
// REQUIRES: 2 <= k <= n.
std::vector<Fold> KFold(size_t n, int k, uint64_t seed, const std::vector<int>& classes = {});
std::vector<Fold> LeaveOneOut(size_t n);

// Mean and spread of a metric over folds.
struct CvSummary {
  std::vector<double> values;
  double mean = 0.0;
  double stddev = 0.0;  // sample standard deviation (n - 1); 0 for one value
};
CvSummary Summarize(std::vector<double> values);

// Runs `fit_and_score(train_rows, test_rows)` per fold and summarises the scores.
Result<CvSummary> CrossValidate(
    const std::vector<Fold>& folds,
    const std::function<Result<double>(const std::vector<size_t>&, const std::vector<size_t>&)>&
        fit_and_score);

// Class index per row for stratification: y rounded to int. REQUIRES: data.has_label.
std::vector<int> ClassesOf(const Dataset& data);

}  // namespace osprey::models::ml
