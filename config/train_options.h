// TrainConfig: what `osprey train --config train.yaml` reads: the data source, the preparation,
// the algorithm and its hyperparameters (SageMaker's names, kept as strings with their
// positions: each algorithm validates its own, and problems point back at the file), and
// where to publish. Plain structs; LoadTrainConfigFile (train_loader.h) fills and validates
// the structure.
// Thread-compatible.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "config/feature_options.h"
#include "config/options.h"
#include "config/tuning_options.h"

namespace osprey::config {

enum class TrainDataFormat { kCsv, kJsonLines };
enum class TrainAlgorithm { kLinearLearner, kKMeans, kPca, kXGBoost };
enum class MissingValues { kKeep, kDrop, kMean, kMedian, kMostFrequent };

// `data.history`: the rows a daemon keeps for a pipeline (`pipelines.P.history`), read
// through the same code as `osprey history export` as CSV with a header:
// event_time_ms,topic,partition,offset,key,<fields>. The first five are metadata and become
// features only when listed in `features` (topic and key are strings: list them under
// `categorical` too); by default the features are the pipeline's history fields minus the label.
struct TrainHistorySource {
  bool enabled = false;
  // The daemon's configuration file (relative to this file). Required.
  std::string config;
  // The pipeline whose history is read. Required.
  std::string pipeline;
  // A store, checkpoint or savepoint directory instead of the configuration's live state.dir.
  std::string store;
};

struct TrainDataOptions {
  // csv | jsonl. Default: csv.
  TrainDataFormat format = TrainDataFormat::kCsv;
  // The data file; a relative path is relative to the YAML file's directory. Required unless
  // `history` is given.
  std::string path;
  // Train on a daemon's history instead of a file (csv with header; `label` and `features`
  // name columns). Exclusive with `path`.
  TrainHistorySource history;
  // csv: a header line names the columns. Default: false (SageMaker: label first, no header).
  bool header = false;
  // csv without header: 0-based label column, -1 = none. Default: 0.
  int label_index = 0;
  // csv with header / jsonl: the label's column name or key; empty = none.
  std::string label;
  // jsonl: feature keys in order; empty = the first record's keys. history: the feature
  // columns; empty = the history's fields minus the label.
  std::vector<std::string> features;
  // csv: field delimiter (one character). Default: ",".
  char delimiter = ',';
  // Columns holding categories / free text (strings); they need a `features` step (one_hot,
  // text) that turns them into numbers. Default: none.
  std::vector<std::string> categorical;
  std::vector<std::string> text;
};

struct TrainPreparationOptions {
  // keep | drop | mean | median | most_frequent. Default: mean.
  MissingValues missing = MissingValues::kMean;
  // Add "<column>_missing" 0/1 columns (they become model inputs). Default: false.
  bool missing_indicators = false;
  // Seed for shuffles, splits and folds. Default: 1.
  uint64_t seed = 1;
  // Split fractions; each in [0, 1], train > 0, summing to 1. Defaults: 0.7 / 0.1 / 0.2.
  double train_fraction = 0.7;
  double validation_fraction = 0.1;
  double test_fraction = 0.2;
  // Stratify the split (and folds) by class for classifiers. Default: true.
  bool stratify = true;
  // Cross-validation on train + validation before the final fit, for every algorithm: 0 = none,
  // k in [2, 1000] folds (at most the number of rows), -1 = leave-one-out. Default: 0.
  int cross_validation_folds = 0;
  // Where `preparation.cross_validation` was written (errors found once the rows are known).
  SourceLocation cross_validation_location;
};

struct Hyperparameter {
  std::string value;
  SourceLocation location;
};

struct TrainConfig {
  std::string file;  // the YAML file
  // Model name in the registry: [A-Za-z0-9][A-Za-z0-9._-]{0,127}. Required.
  std::string name;
  // The registry directory; may be given by --registry instead.
  std::string registry;
  TrainDataOptions data;
  TrainPreparationOptions preparation;
  // linear_learner | kmeans | pca | xgboost. Required.
  TrainAlgorithm algorithm = TrainAlgorithm::kLinearLearner;
  std::string algorithm_name;
  std::map<std::string, Hyperparameter> hyperparameters;
  SourceLocation hyperparameters_location;
  // Automatic model tuning (the `tuning:` section); off unless given.
  TuningOptions tuning;
  // The feature pipeline, fitted on the training split and saved with the model
  // (config/feature_options.h). Default: none.
  std::vector<FeatureStepOptions> features;
};

}  // namespace osprey::config
