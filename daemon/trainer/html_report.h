// The HTML report of one `osprey train` run: one self-contained file (inline CSS and SVG drawn
// here, no script, no network) with the run's summary, its metrics on the validation and test
// splits and the plots for its task: ROC and precision-recall curves (binary), a confusion
// matrix heat-map (classification), residuals and predicted-vs-actual (regression), the
// per-epoch learning curve (linear learner), the per-round eval metric curve (XGBoost),
// explained variance (PCA), cluster sizes and inertia, inertia per iteration (k-means), and the
// per-fold values of cross-validation when it ran. Every text from the data or the configuration
// is HTML-escaped.
// Thread-safe: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace osprey::daemon::trainer {

// A value per iteration (boosting round, k-means iteration) on the training rows and, when
// there is one, the validation split, with one iteration marked (e.g. the best round).
struct IterationCurve {
  std::string section;  // the section's id, e.g. "learning-curve"
  std::string heading;  // the section's heading
  std::string title, x_label, y_label;
  std::vector<double> train, validation;  // value i is iteration i + 1; validation may be empty
  int marked = 0;                         // 1-based iteration marked on the chart; 0 = none
  std::string marked_label;               // the marker's legend, e.g. "best round 12"
  std::string caption;                    // a line under the chart (may be empty)
};

struct ReportData {
  std::string title;                                             // "<name> version <v>"
  std::vector<std::pair<std::string, std::string>> summary;      // label, value rows
  std::vector<std::pair<std::string, std::string>> hyperparameters;
  std::vector<std::pair<std::string, double>> validation, test;  // metric name, value
  std::string tuning_trials;                                     // the trials table (text)
  // preparation.cross_validation (empty cv_values = none): the metric per fold in fold order,
  // their mean and sample standard deviation, and the summary line ("accuracy 0.9 ± 0.01 over
  // 5 folds (stratified)").
  std::string cv_metric, cv_scheme;
  std::vector<double> cv_values;
  double cv_mean = 0.0, cv_stddev = 0.0;
  // Binary classification on the test split: true 0/1 labels and positive-class scores.
  std::vector<int> binary_labels;
  std::vector<double> binary_scores;
  // Classification on the test split: counts[true][predicted], with the class names.
  std::vector<std::vector<int64_t>> confusion;
  std::vector<std::string> class_names;
  // Regression on the test split.
  std::vector<double> actual, predicted;
  // Per-epoch mean loss (linear learner); validation may be empty.
  std::vector<double> train_loss, validation_loss;
  // Per-iteration curves (XGBoost's eval metric per round; k-means' inertia per iteration).
  std::vector<IterationCurve> curves;
  // PCA: the ratio of the total variance each component explains.
  std::vector<double> explained_variance_ratio;
  // k-means on the training split: rows and inertia (sum of squared distances) per cluster.
  std::vector<int64_t> cluster_sizes;
  std::vector<double> cluster_inertia;
};

// Escapes & < > " ' for text and attribute values.
std::string HtmlEscape(std::string_view text);

// Formats a metric as the report shows it (the same digits as the summary table: 6
// significant digits).
std::string ReportNumber(double v);

std::string RenderHtmlReport(const ReportData& data);

}  // namespace osprey::daemon::trainer
