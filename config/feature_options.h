// FeatureStepOptions: one step of a trainer's feature pipeline as the `features:` list of a
// train file declares it (config/train_loader.cc reads it; models/ml/features/pipeline.h fits
// and applies it). Plain structs; each kind reads only its own fields.
// Thread-compatible.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "config/options.h"

namespace osprey::config {

enum class FeatureStepKind {
  kStandardize,  // numeric -> (x - mean) / stddev, in place
  kLog,          // numeric -> ln(x + offset), in place; x + offset <= 0 becomes missing
  kPower,        // numeric -> x^exponent, in place
  kPolynomial,   // numeric -> adds "a^2" .. "a^degree"
  kBin,          // numeric -> categorical bin "0", "1", ... (fixed edges or quantiles), in place
  kCross,        // two numeric columns -> "a*b"; two categorical -> "a&b" (values "u&v")
  kQuadratic,    // numeric columns -> every "a*b" (a before b) and "a^2"
  kOneHot,       // categorical -> "a=v" 0/1 per training category; unknown / missing -> all 0
  kText,         // text -> TF-IDF "a:term" per kept term
  kTreeLeaves,   // numeric columns -> one categorical "leaf_t<k>" per tree of a fitted XGBoost
  kDrop,         // removes columns
};

struct FeatureStepOptions {
  FeatureStepKind kind = FeatureStepKind::kStandardize;
  // Where the step was written (for error messages).
  SourceLocation location;
  // The columns the step reads. Empty = every column of the step's input type at that point
  // (numeric, or categorical for one_hot); text and cross need them named.
  std::vector<std::string> columns;

  // log: ln(x + offset). Default: 1.
  double offset = 1.0;
  // power: the exponent. Default: 2.
  double exponent = 2.0;
  // polynomial: highest power added (>= 2). Default: 2.
  int degree = 2;
  // bin: strictly increasing edges; bins are (-inf, e0), [e0, e1), ..., [e_last, inf).
  std::vector<double> edges;
  // bin: equal-frequency bins from the training quantiles when edges are not given (>= 2).
  int quantiles = 0;

  // text: the tokenizer and TF-IDF (see models/ml/features/text.h for the meaning).
  bool lowercase = true;
  bool strip_punctuation = true;
  bool stop_words = true;
  bool stem = true;
  int ngram_max = 1;
  bool sublinear_tf = true;
  bool smooth_idf = true;
  bool l2_normalize = true;
  // Terms kept: document frequency (share of training rows) in [min_df, max_df]. Defaults 0, 1.
  double min_df = 0.0;
  double max_df = 1.0;
  // At most this many terms (the most frequent); 0 = no limit. Default: 0.
  int max_terms = 0;

  // tree_leaves: XGBoost hyperparameters (SageMaker names), fitted on the label. Defaults:
  // num_round 10, max_depth 3, objective reg:squarederror.
  std::map<std::string, std::string> hyperparameters;
};

}  // namespace osprey::config
