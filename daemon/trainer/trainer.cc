#include "daemon/trainer/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <unistd.h>

#include "config/base/json_writer.h"
#include "config/train_loader.h"
#include "daemon/history_export.h"
#include "daemon/trainer/cross_validation.h"
#include "daemon/trainer/feature_stage.h"
#include "daemon/trainer/html_report.h"
#include "daemon/trainer/registry_files.h"
#include "daemon/trainer/tuning_report.h"
#include "models/serving/builtin_kinds.h"
#include "models/ml/dataset.h"
#include "models/ml/kmeans.h"
#include "models/ml/linear_learner.h"
#include "models/ml/metrics.h"
#include "models/ml/pca.h"
#include "models/ml/prepare.h"
#include "models/ml/served.h"
#include "models/ml/tuning/tuner.h"
#include "models/ml/xgboost.h"

namespace osprey::daemon::trainer {

namespace {

namespace ml = models::ml;
using Eigen::Index;
using MetricSet = std::vector<std::pair<std::string, double>>;

constexpr size_t kSilhouetteSample = 2000;

// A one-line progress bar on stderr, redrawn in place; silent when stderr is not a terminal.
class ProgressBar {
 public:
  ProgressBar(std::ostream& err, std::string what)
      : err_(err), what_(std::move(what)), tty_(::isatty(STDERR_FILENO) == 1) {}
  ~ProgressBar() { Finish(); }
  void Update(int done, int total, double loss) {
    if (!tty_) return;
    constexpr int kWidth = 30;
    const int filled = total > 0 ? kWidth * std::min(done, total) / total : kWidth;
    std::ostringstream line;
    line << "\r" << what_ << " [" << std::string(static_cast<size_t>(filled), '=')
         << std::string(static_cast<size_t>(kWidth - filled), ' ') << "] " << done << "/" << total;
    if (std::isfinite(loss)) line << "  loss " << std::setprecision(5) << loss;
    err_ << line.str() << std::flush;
    drawn_ = true;
  }
  void Finish() {
    if (drawn_) err_ << "\n" << std::flush;
    drawn_ = false;
  }

 private:
  std::ostream& err_;
  std::string what_;
  bool tty_;
  bool drawn_ = false;
};

std::vector<double> ToStd(const ml::Vector& v) { return {v.data(), v.data() + v.size()}; }

std::vector<int> ToClasses(const ml::Vector& y) {
  std::vector<int> out(static_cast<size_t>(y.size()));
  for (Index r = 0; r < y.size(); ++r)
    out[static_cast<size_t>(r)] = static_cast<int>(std::lround(y[r]));
  return out;
}

MetricSet ScoreMetrics(models::ModelTask task, const ml::Matrix& scores, const ml::Dataset& data);

MetricSet LinearMetrics(const ml::LinearModel& model, const ml::Dataset& data) {
  if (data.rows() == 0) return {};
  return ScoreMetrics(model.task, model.Predict(data.x), data);
}

// `labels`/`dist`: the model's assignment of x's rows (KMeansModel::Assign).
MetricSet KMeansMetrics(const ml::Matrix& x, const std::vector<int>& labels,
                        const std::vector<double>& dist) {
  MetricSet m;
  if (x.rows() == 0) return m;
  double inertia = 0, sum = 0;
  for (double d : dist) {
    inertia += d * d;
    sum += d;
  }
  m.emplace_back("inertia", inertia);
  m.emplace_back("mean_distance", sum / static_cast<double>(dist.size()));
  const size_t n = std::min<size_t>(kSilhouetteSample, labels.size());
  std::vector<int> sample_labels(labels.begin(), labels.begin() + static_cast<std::ptrdiff_t>(n));
  if (std::set<int>(sample_labels.begin(), sample_labels.end()).size() >= 2) {
    m.emplace_back("silhouette", ml::Silhouette(x.topRows(static_cast<Index>(n)), sample_labels));
  }
  return m;
}

MetricSet KMeansMetrics(const ml::KMeansModel& model, const ml::Matrix& x) {
  if (x.rows() == 0) return {};
  std::vector<int> labels;
  std::vector<double> dist;
  model.Assign(x, &labels, &dist);
  return KMeansMetrics(x, labels, dist);
}

// On a split: the share of its squared deviation from the model's mean that the components
// capture, and the reconstruction error.
MetricSet PcaMetrics(const ml::PcaModel& model, const ml::Matrix& x) {
  MetricSet m;
  if (x.rows() == 0) return m;
  const ml::Matrix p = model.Project(x);
  const double total = (x.rowwise() - model.mean).squaredNorm();
  m.emplace_back("explained_variance_ratio", total > 0 ? p.squaredNorm() / total : 0.0);
  const ml::Matrix back = (p * model.components).rowwise() + model.mean;
  m.emplace_back("reconstruction_rmse",
                 std::sqrt((back - x).squaredNorm() / static_cast<double>(x.size())));
  return m;
}

void WriteMetrics(JsonWriter& j, const MetricSet& m) {
  j.BeginObject();
  for (const auto& [k, v] : m) j.Key(k).Double(v);
  j.EndObject();
}

std::string NowRfc3339() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Maps algorithm problems back to where the hyperparameters were written.
Status HyperparameterStatus(const config::TrainConfig& cfg,
                            const std::vector<ml::HyperparameterProblem>& problems,
                            const Status& fallback) {
  if (problems.empty()) return fallback;
  std::string text;
  for (const auto& p : problems) {
    auto it = cfg.hyperparameters.find(p.key);
    const config::SourceLocation& where =
        it != cfg.hyperparameters.end() ? it->second.location : cfg.hyperparameters_location;
    if (!text.empty()) text += "\n";
    text += (where.line > 0 ? where.ToString() : cfg.file) + ": hyperparameters." + p.key + ": " +
            p.message;
  }
  return Status::InvalidArgument(text);
}

// Parses the data file's `bytes` (read from `path`, named in errors).
Result<ml::Dataset> LoadData(const config::TrainConfig& cfg, const std::string& path,
                             const std::string& bytes) {
  Result<ml::Dataset> ds = Status::Internal("unset");
  if (cfg.data.format == config::TrainDataFormat::kCsv) {
    ml::CsvOptions o;
    o.header = cfg.data.header;
    o.label_index = cfg.data.label_index;
    o.label_column = cfg.data.label;
    o.delimiter = cfg.data.delimiter;
    o.categorical_columns = cfg.data.categorical;
    o.text_columns = cfg.data.text;
    ds = ml::ParseCsv(bytes, o);
  } else {
    ml::JsonLinesOptions o;
    o.label = cfg.data.label;
    o.features = cfg.data.features;
    o.categorical_columns = cfg.data.categorical;
    o.text_columns = cfg.data.text;
    ds = ml::ParseJsonLines(bytes, o);
  }
  if (!ds.ok()) return Status::InvalidArgument(path + ": " + ds.status().message());
  return ds;
}


// CSV records of `text` (RFC 4180 quoting, as `osprey history export` writes it), cells unquoted.
std::vector<std::vector<std::string>> CsvRecords(std::string_view text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string cell;
  bool quoted = false, any = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        cell.push_back('"');
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        cell.push_back(c);
      }
    } else if (c == '"') {
      quoted = any = true;
    } else if (c == ',') {
      row.push_back(std::move(cell));
      cell.clear();
      any = true;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      if (any || !cell.empty()) {
        row.push_back(std::move(cell));
        rows.push_back(std::move(row));
      }
      row.clear();
      cell.clear();
      any = false;
    } else {
      cell.push_back(c);
      any = true;
    }
  }
  if (any || !cell.empty()) {
    row.push_back(std::move(cell));
    rows.push_back(std::move(row));
  }
  return rows;
}

void AppendCell(std::string& out, const std::string& cell) {
  if (cell.find_first_of(",\"\r\n") == std::string::npos) {
    out += cell;
    return;
  }
  out.push_back('"');
  for (char c : cell) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
}

// data.history: the pipeline's history read in memory through ExportHistory, kept to the label
// and feature columns (by name), as CSV with a header.
Result<std::string> LoadHistory(const config::TrainConfig& cfg) {
  const auto& h = cfg.data.history;
  const std::filesystem::path base = std::filesystem::path(cfg.file).parent_path();
  auto resolve = [&](const std::string& p) {
    std::filesystem::path q = p;
    return (q.is_relative() ? base / q : q).string();
  };
  HistoryExportOptions o;
  o.config_path = resolve(h.config);
  o.pipeline = h.pipeline;
  o.format = "csv";
  if (!h.store.empty()) o.store_dir = resolve(h.store);
  std::ostringstream sink;
  o.sink = &sink;
  auto rows = ExportHistory(o);
  if (!rows.ok()) {
    return Status::InvalidArgument(cfg.file + ": data.history: " + rows.status().message());
  }
  const auto records = CsvRecords(sink.str());
  if (records.empty()) return Status::InvalidArgument(cfg.file + ": data.history: no header");
  const std::vector<std::string>& header = records[0];
  static const std::set<std::string> kMetadata{"event_time_ms", "topic", "partition", "offset",
                                               "key"};
  std::vector<std::string> wanted = cfg.data.features;
  if (wanted.empty()) {
    for (const auto& name : header) {
      if (!kMetadata.count(name) && name != cfg.data.label) wanted.push_back(name);
    }
  }
  if (!cfg.data.label.empty()) wanted.insert(wanted.begin(), cfg.data.label);
  std::vector<size_t> index;
  for (const auto& name : wanted) {
    auto it = std::find(header.begin(), header.end(), name);
    if (it == header.end()) {
      std::string known;
      for (const auto& n : header) known += (known.empty() ? "" : ", ") + n;
      return Status::InvalidArgument(cfg.file + ": data.history: pipeline '" + h.pipeline +
                                     "' has no column '" + name + "' (it has: " + known + ")");
    }
    index.push_back(static_cast<size_t>(it - header.begin()));
  }
  std::string out;
  for (const auto& r : records) {
    for (size_t i = 0; i < index.size(); ++i) {
      if (i) out.push_back(',');
      if (index[i] < r.size()) AppendCell(out, r[index[i]]);
    }
    out.push_back('\n');
  }
  return out;
}

std::vector<models::FeatureSpec> Inputs(const ml::Dataset& d) {
  std::vector<models::FeatureSpec> out;
  for (const auto& c : d.columns) out.push_back({c.name, models::FeatureType::kNumeric});
  return out;
}

std::string Fmt(double v) {
  std::ostringstream s;
  s << std::setprecision(6) << v;
  return s.str();
}

// The summary table's cross-validation line.
std::string CvLine(const CvRun& cv) {
  std::string line = cv.metric + " " + Fmt(cv.summary.mean) + " ± " + Fmt(cv.summary.stddev) +
                     " over " + std::to_string(cv.summary.values.size()) + " folds";
  if (cv.leave_one_out) {
    line += " (leave-one-out)";
  } else if (cv.stratified) {
    line += " (stratified)";
  }
  return line;
}

void PrintTable(std::ostream& out, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& r : rows) {
    width.resize(std::max(width.size(), r.size()), 0);
    for (size_t c = 0; c < r.size(); ++c) width[c] = std::max(width[c], r[c].size());
  }
  for (const auto& r : rows) {
    std::string line;
    for (size_t c = 0; c < r.size(); ++c) {
      line += r[c];
      if (c + 1 < r.size()) line += std::string(width[c] - r[c].size() + 2, ' ');
    }
    out << line << "\n";
  }
}

void PrintMetrics(std::ostream& out, const MetricSet& validation, const MetricSet& test) {
  std::vector<std::vector<std::string>> rows{{"metric", "validation", "test"}};
  const MetricSet& keys = test.empty() ? validation : test;
  for (const auto& [name, v] : keys) {
    std::string val = "-", tst = "-";
    for (const auto& [n, x] : validation) {
      if (n == name) val = Fmt(x);
    }
    for (const auto& [n, x] : test) {
      if (n == name) tst = Fmt(x);
    }
    rows.push_back({name, val, tst});
  }
  PrintTable(out, rows);
}

// Writes the test rows and the trainer's own predictions as CSV (full precision).
Status WritePredictions(const std::string& path, const ml::Dataset& test, const ml::Matrix& pred,
                        const std::vector<std::string>& pred_names) {
  std::ofstream f(path);
  if (!f) return Status::IOError(path + ": cannot write");
  f << std::setprecision(17);
  for (size_t c = 0; c < test.cols(); ++c) f << test.columns[c].name << ",";
  for (size_t c = 0; c < pred_names.size(); ++c)
    f << pred_names[c] << (c + 1 < pred_names.size() ? "," : "\n");
  const bool strings = std::any_of(test.columns.begin(), test.columns.end(), [](const auto& c) {
    return c.type != ml::ColumnType::kNumeric;
  });
  const std::vector<std::vector<std::string>> cells = strings ? RawCells(test)
                                                              : std::vector<std::vector<std::string>>{};
  for (Index r = 0; r < test.x.rows(); ++r) {
    for (Index c = 0; c < test.x.cols(); ++c) {
      if (strings) {
        f << cells[static_cast<size_t>(r)][static_cast<size_t>(c)] << ",";
      } else {
        f << test.x(r, c) << ",";
      }
    }
    for (Index c = 0; c < pred.cols(); ++c) f << pred(r, c) << (c + 1 < pred.cols() ? "," : "\n");
  }
  return f.good() ? Status::Ok() : Status::IOError(path + ": write failed");
}

struct Trained {
  std::string kind;
  models::ModelTask task = models::ModelTask::kRegression;
  std::string model_file;
  std::map<std::string, std::string> files;
  MetricSet validation, test;
  std::optional<CvRun> cv;  // preparation.cross_validation
  std::vector<std::string> classes;
  std::vector<std::vector<std::string>> summary;  // extra rows for the table
  Prepared prep;
  ml::Matrix test_predictions;
  std::vector<std::string> prediction_names;
  // Extra metadata members, each `"key":value`, e.g. PCA's explained variance.
  std::vector<std::string> extra_json;
  ReportData report;  // the plots' data; RunTrain adds the summary and metrics
};

// The report's task plots from the test split's scores (the metrics' layout).
void AddScorePlots(Trained& t, const ml::Matrix& scores, const ml::Dataset& test) {
  if (test.rows() == 0 || !test.has_label) return;
  ReportData& r = t.report;
  if (t.task == models::ModelTask::kRegression) {
    r.actual = ToStd(test.y);
    r.predicted.assign(scores.data(), scores.data() + scores.rows());
    return;
  }
  ml::LinearModel shape;
  shape.task = t.task;
  const std::vector<int> y = ToClasses(test.y);
  const std::vector<int> pred = shape.PredictClasses(scores);
  const int k = t.task == models::ModelTask::kBinary ? 2 : static_cast<int>(scores.cols());
  r.confusion = ml::ConfusionMatrix(y, pred, k);
  r.class_names = t.classes;
  if (t.task == models::ModelTask::kBinary) {
    r.binary_labels = y;
    r.binary_scores.assign(scores.data(), scores.data() + scores.rows());
  }
}

void AddRows(Trained& t) {
  t.summary.insert(t.summary.begin(),
                   {"rows", "train " + std::to_string(t.prep.train.rows()) + ", validation " +
                                std::to_string(t.prep.validation.rows()) + ", test " +
                                std::to_string(t.prep.test.rows())});
}

// metadata.json's "learning_curve" member: the metric per iteration (`x`: epoch, round,
// iteration) on the training rows and the validation split, and the best iteration (1-based).
std::string LearningCurveJson(std::string_view metric, std::string_view x,
                              const std::vector<double>& train,
                              const std::vector<double>& validation, int best_round) {
  std::string out;
  JsonWriter j(&out);
  j.BeginObject().Key("metric").String(metric).Key("x").String(x).Key("train").BeginArray();
  for (double v : train) j.Double(v);
  j.EndArray().Key("validation").BeginArray();
  for (double v : validation) j.Double(v);
  j.EndArray().Key("best_round").Int(best_round).EndObject();
  return "\"learning_curve\":" + out;
}

// XGBoost's per-round eval metric: the report's learning-curve section and metadata.json.
void AddXGBoostCurve(Trained& t, const ml::XGBoostFitReport& fit) {
  if (fit.train_metric.empty()) return;
  const bool has_validation = !fit.validation_metric.empty();
  IterationCurve c;
  c.section = "learning-curve";
  c.heading = "Learning curve";
  c.title = "Learning curve (" + fit.metric + " per round)";
  c.x_label = "boosting round";
  c.y_label = fit.metric;
  c.train = fit.train_metric;
  c.validation = fit.validation_metric;
  const auto train_rows = static_cast<int64_t>(t.prep.train.rows());
  c.caption = "XGBoost's eval metric " + fit.metric + " after each round on the " +
              (fit.train_metric_rows < train_rows
                   ? "training rows (an even sample of " + std::to_string(fit.train_metric_rows) +
                         " of " + std::to_string(train_rows) + ")"
                   : std::to_string(train_rows) + " training rows") +
              (has_validation ? " and the validation split" : "") + ".";
  if (has_validation) {
    c.marked = fit.best_round;
    c.marked_label = "best round " + std::to_string(fit.best_round);
    c.caption += fit.early_stopped
                     ? " Early stopping kept rounds 1-" + std::to_string(fit.best_round) + " of " +
                           std::to_string(fit.rounds_run) + "."
                     : " The model keeps all " + std::to_string(fit.rounds_run) +
                           " rounds; the best validation round is marked.";
  }
  t.report.curves.push_back(std::move(c));
  t.extra_json.push_back(LearningCurveJson(fit.metric, "round", fit.train_metric,
                                           fit.validation_metric,
                                           has_validation ? fit.best_round : fit.rounds_run));
}

// k-means' inertia per Lloyd iteration: the report's inertia-curve section and metadata.json.
void AddKMeansCurve(Trained& t, const std::vector<double>& inertia) {
  if (inertia.empty()) return;
  IterationCurve c;
  c.section = "inertia-curve";
  c.heading = "Inertia per iteration";
  c.title = "Inertia per Lloyd iteration (training)";
  c.x_label = "iteration";
  c.y_label = "sum of squared distances";
  c.train = inertia;
  c.caption =
      "The training rows' inertia (sum of squared distances to the closest centroid) at "
      "each iteration's assignment step, " +
      std::to_string(inertia.size()) + " iterations.";
  t.report.curves.push_back(std::move(c));
  t.extra_json.push_back(
      LearningCurveJson("inertia", "iteration", inertia, {}, static_cast<int>(inertia.size())));
}

// `owned`: see Prepare.
Result<Trained> TrainLinear(const config::TrainConfig& cfg, const ml::Hyperparameters& hp,
                            const ml::Dataset& all, std::ostream& err,
                            ml::Dataset* owned = nullptr) {
  std::vector<ml::HyperparameterProblem> problems;
  auto options = ml::LinearLearnerOptions::FromHyperparameters(hp, &problems);
  if (!options.ok()) return HyperparameterStatus(cfg, problems, options.status());
  if (!all.has_label) return Status::InvalidArgument("linear_learner needs a label column");
  const bool classifier = options->predictor_type != ml::PredictorType::kRegressor;
  Trained t;
  OSPREY_ASSIGN_OR_RETURN(t.prep, Prepare(cfg, all, classifier, owned));
  const Prepared& prep = t.prep;
  ml::LinearFitReport report;
  ProgressBar bar(err, "epochs");
  // The split shuffles the training rows (ml::TrainValidationTestSplit): large data trains in
  // place, without the learner's shuffled copy.
  ml::LinearLearnerOptions final_options = *options;
  final_options.rows_in_random_order = true;
  auto model =
      ml::FitLinearLearner(prep.train, &prep.validation, final_options, &report,
                           [&](int d, int total, double loss) { bar.Update(d, total, loss); });
  bar.Finish();
  if (!model.ok()) return model.status();
  t.kind = "linear";
  t.task = model->task;
  t.model_file = ml::kLinearModelFile;
  t.files[t.model_file] = model->ToJson();
  t.validation = LinearMetrics(*model, prep.validation);
  t.test = LinearMetrics(*model, prep.test);
  t.classes = model->classes;
  t.summary.push_back({"epochs", std::to_string(report.epochs_run) + " (best " +
                                     std::to_string(report.best_epoch) +
                                     (report.early_stopped ? ", stopped early)" : ")")});
  t.test_predictions = model->Predict(prep.test.x);
  AddScorePlots(t, t.test_predictions, prep.test);
  t.report.train_loss = report.train_loss;
  t.report.validation_loss = report.validation_loss;
  t.extra_json.push_back(LearningCurveJson("loss", "epoch", report.train_loss,
                                           report.validation_loss, report.best_epoch));
  if (model->task == models::ModelTask::kMulticlass) {
    for (Index c = 0; c < t.test_predictions.cols(); ++c) {
      t.prediction_names.push_back("probability_" + std::to_string(c));
    }
  } else {
    t.prediction_names = {"score"};
  }
  // The linear serving format has no imputation: the fitted fill values are recorded here.
  std::string pre;
  JsonWriter j(&pre);
  j.BeginObject();
  if (!prep.features.pipeline_json.empty()) j.Key("file").String(ml::features::kPipelineFile);
  j.Key("impute").BeginArray();
  for (double v : prep.fill) j.Double(v);
  j.EndArray().EndObject();
  t.extra_json.push_back("\"preprocessing\":" + pre);
  return t;
}

// `owned`: see Prepare.
Result<Trained> TrainKMeans(const config::TrainConfig& cfg, const ml::Hyperparameters& hp,
                            const ml::Dataset& all, std::ostream& err,
                            ml::Dataset* owned = nullptr) {
  std::vector<ml::HyperparameterProblem> problems;
  auto options = ml::KMeansOptions::FromHyperparameters(hp, &problems);
  if (!options.ok()) return HyperparameterStatus(cfg, problems, options.status());
  Trained t;
  // k-means' model depends on the row order only through its seeded sampling: a training
  // split of every row keeps the data's order (no shuffle of the whole matrix).
  OSPREY_ASSIGN_OR_RETURN(t.prep, Prepare(cfg, all, false, owned, /*any_row_order=*/true));
  ProgressBar bar(err, options->mini_batch_size > 0 ? "epochs" : "iterations");
  // Lloyd's iterations report the exact inertia of each assignment step (Elkan's an upper
  // bound, mini-batch none): the report's inertia curve.
  const bool lloyd = options->mini_batch_size == 0 &&
                     (options->algorithm == ml::KMeansAlgorithm::kLloyd || options->k == 1);
  std::vector<double> inertia_curve;
  // The fit's own assignment of the training rows gives the report's per-cluster figures.
  ml::KMeansAssignment train_assignment;
  auto model = ml::FitKMeans(
      t.prep.train.x, *options,
      [&](int d, int total, double loss) {
        bar.Update(d, total, loss);
        if (lloyd) inertia_curve.push_back(loss);
      },
      &train_assignment);
  bar.Finish();
  if (!model.ok()) return model.status();
  AddKMeansCurve(t, inertia_curve);
  t.kind = "kmeans";
  t.task = models::ModelTask::kClustering;
  t.model_file = ml::kBinaryModelFile;
  t.files[t.model_file] = ml::SaveKMeans(*model, Inputs(t.prep.train), t.prep.fill);
  t.validation = KMeansMetrics(*model, t.prep.validation.x);
  t.summary.push_back({"iterations", std::to_string(model->iterations)});
  std::vector<int> labels;
  std::vector<double> dist;
  model->Assign(t.prep.test.x, &labels, &dist);
  t.test = KMeansMetrics(t.prep.test.x, labels, dist);
  t.test_predictions.resize(static_cast<Index>(labels.size()), 2);
  for (size_t r = 0; r < labels.size(); ++r) {
    t.test_predictions(static_cast<Index>(r), 0) = labels[r];
    t.test_predictions(static_cast<Index>(r), 1) = dist[r];
  }
  t.prediction_names = {"closest_cluster", "distance_to_cluster"};
  t.report.cluster_sizes.assign(static_cast<size_t>(model->centroids.rows()), 0);
  t.report.cluster_inertia.assign(t.report.cluster_sizes.size(), 0.0);
  for (size_t r = 0; r < train_assignment.labels.size(); ++r) {
    const auto c = static_cast<size_t>(train_assignment.labels[r]);
    if (c >= t.report.cluster_sizes.size()) continue;
    ++t.report.cluster_sizes[c];
    t.report.cluster_inertia[c] += train_assignment.squared_distances[r];
  }
  return t;
}

Result<Trained> TrainPca(const config::TrainConfig& cfg, const ml::Hyperparameters& hp,
                         const ml::Dataset& all, std::ostream& err) {
  std::vector<ml::HyperparameterProblem> problems;
  auto options = ml::PcaOptions::FromHyperparameters(hp, &problems);
  if (!options.ok()) return HyperparameterStatus(cfg, problems, options.status());
  Trained t;
  OSPREY_ASSIGN_OR_RETURN(t.prep, Prepare(cfg, all, false));
  ProgressBar bar(err, "pca");
  bar.Update(0, 1, std::nan(""));
  auto model = ml::FitPca(t.prep.train.x, *options);
  bar.Update(1, 1, std::nan(""));
  bar.Finish();
  if (!model.ok()) return model.status();
  t.kind = "pca";
  t.task = models::ModelTask::kProjection;
  t.model_file = ml::kBinaryModelFile;
  t.files[t.model_file] = ml::SavePca(*model, Inputs(t.prep.train), t.prep.fill);
  t.validation = PcaMetrics(*model, t.prep.validation.x);
  t.test = PcaMetrics(*model, t.prep.test.x);
  std::string ev;
  JsonWriter j(&ev);
  j.BeginObject().Key("explained_variance").BeginArray();
  for (Index c = 0; c < model->explained_variance.size(); ++c)
    j.Double(model->explained_variance[c]);
  j.EndArray().Key("explained_variance_ratio").BeginArray();
  for (Index c = 0; c < model->explained_variance_ratio.size(); ++c) {
    j.Double(model->explained_variance_ratio[c]);
  }
  j.EndArray().EndObject();
  t.extra_json.push_back("\"pca\":" + ev);
  std::string ratios;
  for (Index c = 0; c < model->explained_variance_ratio.size(); ++c) {
    ratios += (c ? " " : "") + Fmt(model->explained_variance_ratio[c]);
  }
  t.summary.push_back({"variance ratio", ratios});
  t.report.explained_variance_ratio = ToStd(model->explained_variance_ratio);
  t.test_predictions = model->Project(t.prep.test.x);
  for (Index c = 0; c < t.test_predictions.cols(); ++c) {
    t.prediction_names.push_back("projection_" + std::to_string(c));
  }
  return t;
}

MetricSet ScoreMetrics(models::ModelTask task, const ml::Matrix& scores, const ml::Dataset& data) {
  // The linear metrics work on any scores matrix with the same layout.
  ml::LinearModel shape;
  shape.task = task;
  MetricSet m;
  if (data.rows() == 0) return m;
  const std::vector<double> truth = ToStd(data.y);
  if (task == models::ModelTask::kRegression) {
    const std::vector<double> pred(scores.data(), scores.data() + scores.rows());
    return {{"rmse", ml::Rmse(truth, pred)},
            {"mae", ml::Mae(truth, pred)},
            {"mape", ml::Mape(truth, pred)},
            {"r2", ml::R2(truth, pred)}};
  }
  const std::vector<int> y = ToClasses(data.y);
  const std::vector<int> pred = shape.PredictClasses(scores);
  const int k = task == models::ModelTask::kBinary ? 2 : static_cast<int>(scores.cols());
  const auto cm = ml::ConfusionMatrix(y, pred, k);
  m.emplace_back("accuracy", ml::Accuracy(y, pred));
  if (task == models::ModelTask::kBinary) {
    const ml::ClassScores s = ml::ScoresForClass(cm, 1);
    m.insert(m.end(), {{"precision", s.precision}, {"recall", s.recall}, {"f1", s.f1}});
    const std::vector<double> p(scores.data(), scores.data() + scores.rows());
    if (std::count(y.begin(), y.end(), 1) > 0 && std::count(y.begin(), y.end(), 0) > 0) {
      m.emplace_back("roc_auc", ml::RocAuc(y, p));
      m.emplace_back("average_precision", ml::AveragePrecision(y, p));
    }
  } else {
    const ml::ClassScores s = ml::MacroScores(cm);
    m.insert(m.end(),
             {{"precision_macro", s.precision}, {"recall_macro", s.recall}, {"f1_macro", s.f1}});
  }
  return m;
}

Result<Trained> TrainXGBoost(const config::TrainConfig& cfg, const ml::Hyperparameters& hp,
                             const ml::Dataset& all, std::ostream& err) {
  std::vector<ml::HyperparameterProblem> problems;
  auto options = ml::XGBoostOptions::FromHyperparameters(hp, &problems);
  if (!options.ok()) return HyperparameterStatus(cfg, problems, options.status());
  if (!all.has_label) return Status::InvalidArgument("xgboost needs a label column");
  Trained t;
  // XGBoost handles missing values itself: `missing: keep` is the natural choice, but the
  // configured policy is honoured.
  OSPREY_ASSIGN_OR_RETURN(t.prep, Prepare(cfg, all, options->task() != models::ModelTask::kRegression));
  ml::XGBoostFitReport fit;
  ProgressBar bar(err, "rounds");
  auto model = ml::FitXGBoost(t.prep.train, &t.prep.validation, *options, &fit,
                              [&](int d, int total, double loss) { bar.Update(d, total, loss); });
  bar.Finish();
  if (!model.ok()) return model.status();
  t.kind = "xgboost";
  t.task = options->task();
  t.model_file = "model.json";
  OSPREY_ASSIGN_OR_RETURN(t.files[t.model_file], (*model)->SaveJson());
  OSPREY_ASSIGN_OR_RETURN(ml::Matrix val_scores, (*model)->Predict(t.prep.validation.x));
  OSPREY_ASSIGN_OR_RETURN(t.test_predictions, (*model)->Predict(t.prep.test.x));
  t.validation = ScoreMetrics(t.task, val_scores, t.prep.validation);
  t.test = ScoreMetrics(t.task, t.test_predictions, t.prep.test);
  t.summary.push_back({"rounds", std::to_string((*model)->rounds()) + " (best " +
                                     std::to_string(fit.best_round) + ")"});
  if (t.task == models::ModelTask::kMulticlass) {
    for (Index c = 0; c < t.test_predictions.cols(); ++c) {
      t.prediction_names.push_back("probability_" + std::to_string(c));
    }
  } else {
    t.prediction_names = {"score"};
  }
  if (t.task != models::ModelTask::kRegression) {
    if (!all.label_classes.empty()) {
      t.classes = all.label_classes;
    } else {
      for (Index c = 0; c < std::max<Index>(2, t.test_predictions.cols()); ++c) {
        t.classes.push_back(std::to_string(c));
      }
    }
  }
  AddScorePlots(t, t.test_predictions, t.prep.test);
  AddXGBoostCurve(t, fit);
  return t;
}

// The classes a classifier's scores predict: one column is the positive class's probability
// (or, with XGBoost's multi:softmax, the class index itself); several are per-class scores.
std::vector<int> PredictedClasses(models::ModelTask task, const ml::Matrix& scores) {
  if (task == models::ModelTask::kMulticlass && scores.cols() == 1) {
    std::vector<int> out(static_cast<size_t>(scores.rows()));
    for (Index r = 0; r < scores.rows(); ++r) {
      out[static_cast<size_t>(r)] = static_cast<int>(std::lround(scores(r, 0)));
    }
    return out;
  }
  ml::LinearModel shape;
  shape.task = task;
  return shape.PredictClasses(scores);
}

// A supervised model's fold score: accuracy for a classifier, RMSE for regression.
double SupervisedScore(models::ModelTask task, const ml::Matrix& scores, const ml::Dataset& test) {
  if (task == models::ModelTask::kRegression) {
    return ml::Rmse(ToStd(test.y), std::vector<double>(scores.data(), scores.data() + scores.rows()));
  }
  return ml::Accuracy(ToClasses(test.y), PredictedClasses(task, scores));
}

// The algorithm's part of cross-validation (cross_validation.h): what one fold fits and how
// its held-out rows are scored, as scikit-learn's cross_val_score would with the estimator's
// natural metric:
//   linear_learner, xgboost: accuracy (classifiers; stratified folds) or RMSE (regression);
//     XGBoost fits num_round rounds per fold (no early stopping: a fold has no validation set);
//   kmeans: inertia_per_row, the mean squared distance of a held-out row to its closest
//     centroid (sklearn's -KMeans.score / rows, so folds of different sizes compare; lower is
//     better);
//   pca: explained_variance_ratio, the share of the held-out rows' squared deviation from the
//     fold model's mean that its components capture (higher is better).
Result<CvTask> CvTaskFor(const config::TrainConfig& cfg, const ml::Hyperparameters& hp,
                         const ml::Dataset& all) {
  std::vector<ml::HyperparameterProblem> problems;
  CvTask task;
  switch (cfg.algorithm) {
    case config::TrainAlgorithm::kLinearLearner: {
      auto options = ml::LinearLearnerOptions::FromHyperparameters(hp, &problems);
      if (!options.ok()) return HyperparameterStatus(cfg, problems, options.status());
      if (!all.has_label) return Status::InvalidArgument("linear_learner needs a label column");
      task.classifier = options->predictor_type != ml::PredictorType::kRegressor;
      task.metric = task.classifier ? "accuracy" : "rmse";
      task.fit_and_score = [o = *options](const ml::Dataset& train,
                                          const ml::Dataset& test) -> Result<double> {
        OSPREY_ASSIGN_OR_RETURN(ml::LinearModel m, ml::FitLinearLearner(train, nullptr, o));
        return SupervisedScore(m.task, m.Predict(test.x), test);
      };
      return task;
    }
    case config::TrainAlgorithm::kXGBoost: {
      auto options = ml::XGBoostOptions::FromHyperparameters(hp, &problems);
      if (!options.ok()) return HyperparameterStatus(cfg, problems, options.status());
      if (!all.has_label) return Status::InvalidArgument("xgboost needs a label column");
      task.classifier = options->task() != models::ModelTask::kRegression;
      task.metric = task.classifier ? "accuracy" : "rmse";
      task.fit_and_score = [o = *options](const ml::Dataset& train,
                                          const ml::Dataset& test) -> Result<double> {
        OSPREY_ASSIGN_OR_RETURN(auto model, ml::FitXGBoost(train, nullptr, o, nullptr));
        OSPREY_ASSIGN_OR_RETURN(ml::Matrix scores, model->Predict(test.x));
        return SupervisedScore(o.task(), scores, test);
      };
      return task;
    }
    case config::TrainAlgorithm::kKMeans: {
      auto options = ml::KMeansOptions::FromHyperparameters(hp, &problems);
      if (!options.ok()) return HyperparameterStatus(cfg, problems, options.status());
      task.metric = "inertia_per_row";
      task.fit_and_score = [o = *options](const ml::Dataset& train,
                                          const ml::Dataset& test) -> Result<double> {
        OSPREY_ASSIGN_OR_RETURN(ml::KMeansModel m, ml::FitKMeans(train.x, o));
        std::vector<int> labels;
        std::vector<double> dist;
        m.Assign(test.x, &labels, &dist);
        double sum = 0;
        for (double d : dist) sum += d * d;
        return dist.empty() ? 0.0 : sum / static_cast<double>(dist.size());
      };
      return task;
    }
    case config::TrainAlgorithm::kPca: {
      auto options = ml::PcaOptions::FromHyperparameters(hp, &problems);
      if (!options.ok()) return HyperparameterStatus(cfg, problems, options.status());
      task.metric = "explained_variance_ratio";
      task.fit_and_score = [o = *options](const ml::Dataset& train,
                                          const ml::Dataset& test) -> Result<double> {
        OSPREY_ASSIGN_OR_RETURN(ml::PcaModel m, ml::FitPca(train.x, o));
        for (const auto& [name, value] : PcaMetrics(m, test.x)) {
          if (name == "explained_variance_ratio") return value;
        }
        return Status::Internal("pca: no explained variance ratio");
      };
      return task;
    }
  }
  return Status::Internal("unknown algorithm");
}

// preparation.cross_validation for any algorithm, with a progress bar over the folds.
Result<CvRun> RunCrossValidation(const config::TrainConfig& cfg, const ml::Hyperparameters& hp,
                                 const ml::Dataset& all, std::ostream& err) {
  OSPREY_ASSIGN_OR_RETURN(CvTask task, CvTaskFor(cfg, hp, all));
  ProgressBar bar(err, "cross-validation");
  return CrossValidateRows(cfg, all, task, [&](int done, int total) {
    bar.Update(done, total, std::nan(""));
  });
}

std::string Metadata(const config::TrainConfig& cfg, const Trained& t, const std::string& version,
                     const std::string& data_sha256, size_t data_rows) {
  std::string out;
  JsonWriter j(&out);
  j.BeginObject();
  j.Key("format_version").Int(1);
  j.Key("name").String(cfg.name);
  j.Key("version").String(version);
  j.Key("kind").String(t.kind);
  j.Key("task").String(models::TaskName(t.task));
  j.Key("algorithm").String(cfg.algorithm_name);
  j.Key("created").String(NowRfc3339());
  j.Key("model_file").String(t.model_file);
  j.Key("inputs").BeginArray();
  if (!t.prep.features.pipeline_json.empty()) {  // the raw columns the pipeline reads
    for (const auto& in : t.prep.features.inputs) {
      j.BeginObject().Key("name").String(in.name).Key("type").String(InputTypeName(in.type));
      j.EndObject();
    }
  } else {
    for (const auto& c : t.prep.train.columns) {
      j.BeginObject().Key("name").String(c.name).Key("type").String("numeric").EndObject();
    }
  }
  j.EndArray();
  if (t.prep.train.has_label && t.task != models::ModelTask::kClustering &&
      t.task != models::ModelTask::kProjection) {
    j.Key("label").BeginObject().Key("name").String(t.prep.train.label_name);
    if (!t.classes.empty()) {
      j.Key("classes").BeginArray();
      for (const auto& c : t.classes) j.String(c);
      j.EndArray();
    }
    j.EndObject();
  }
  j.Key("metrics").BeginObject();
  if (!t.validation.empty()) {
    j.Key("validation");
    WriteMetrics(j, t.validation);
  }
  if (!t.test.empty()) {
    j.Key("test");
    WriteMetrics(j, t.test);
  }
  if (t.cv) {
    const ml::CvSummary& cv = t.cv->summary;
    j.Key("cross_validation").BeginObject().Key("metric").String(t.cv->metric);
    j.Key("folds").Int(static_cast<int64_t>(cv.values.size()));
    j.Key("mean").Double(cv.mean).Key("stddev").Double(cv.stddev);
    j.Key("values").BeginArray();
    for (double v : cv.values) j.Double(v);
    j.EndArray();
    j.Key("rows").Int(static_cast<int64_t>(t.cv->rows));
    j.Key("stratified").Bool(t.cv->stratified);
    j.Key("leave_one_out").Bool(t.cv->leave_one_out);
    j.EndObject();
  }
  j.EndObject();
  j.Key("hyperparameters").BeginObject();
  for (const auto& [k, v] : cfg.hyperparameters) j.Key(k).String(v.value);
  j.EndObject();
  j.Key("source").BeginObject();
  if (cfg.data.history.enabled) {
    j.Key("history").BeginObject().Key("config").String(cfg.data.history.config);
    j.Key("pipeline").String(cfg.data.history.pipeline);
    if (!cfg.data.history.store.empty()) j.Key("store").String(cfg.data.history.store);
    j.EndObject();
  } else {
    j.Key("data").String(cfg.data.path);
  }
  j.Key("format").String(cfg.data.format == config::TrainDataFormat::kCsv ? "csv" : "jsonl");
  j.Key("rows").Int(static_cast<int64_t>(data_rows));
  j.Key("sha256").String(data_sha256);
  j.Key("split").BeginObject();
  j.Key("seed").Int(static_cast<int64_t>(cfg.preparation.seed));
  j.Key("train").Int(static_cast<int64_t>(t.prep.train.rows()));
  j.Key("validation").Int(static_cast<int64_t>(t.prep.validation.rows()));
  j.Key("test").Int(static_cast<int64_t>(t.prep.test.rows()));
  j.EndObject();
  j.EndObject();
  // Content hash: SHA-256 over each model file's name and bytes, in name order.
  std::string all;
  for (const auto& [name, bytes] : t.files) {
    all += name;
    all.push_back('\0');
    all += bytes;
  }
  j.Key("content_hash").String("sha256:" + Sha256Hex(all));
  j.EndObject();
  out.pop_back();  // the closing brace: add the extra members
  for (const auto& e : t.extra_json) out += "," + e;
  out += "}\n";
  return out;
}

// Checks the hyperparameters before any data is read: a typo fails fast.
Status CheckHyperparameters(const config::TrainConfig& cfg, const ml::Hyperparameters& hp) {
  std::vector<ml::HyperparameterProblem> problems;
  Status st;
  switch (cfg.algorithm) {
    case config::TrainAlgorithm::kLinearLearner:
      st = ml::LinearLearnerOptions::FromHyperparameters(hp, &problems).status();
      break;
    case config::TrainAlgorithm::kKMeans:
      st = ml::KMeansOptions::FromHyperparameters(hp, &problems).status();
      break;
    case config::TrainAlgorithm::kPca:
      st = ml::PcaOptions::FromHyperparameters(hp, &problems).status();
      break;
    case config::TrainAlgorithm::kXGBoost:
      st = ml::XGBoostOptions::FromHyperparameters(hp, &problems).status();
      break;
  }
  return st.ok() ? st : HyperparameterStatus(cfg, problems, st);
}

// `hp` plus, for each tuned hyperparameter, its range's first value (the low end, or the first
// category): a required hyperparameter that is tuned (k-means' k) is then present when the
// static ones are checked. REQUIRES: ml::ValidateTuningOptions(cfg.tuning) is ok, if enabled.
ml::Hyperparameters WithTunedValues(const config::TrainConfig& cfg, ml::Hyperparameters hp) {
  if (!cfg.tuning.enabled) return hp;
  for (const auto& r : cfg.tuning.ranges) {
    if (r.type != config::TuningParameterType::kCategorical) {
      hp.emplace(r.name, ml::DecodeRangeValue(r, 0.0));
    } else if (!r.values.empty()) {
      hp.emplace(r.name, r.values.front());
    }
  }
  return hp;
}

// tuning: every value a range can take must pass the algorithm's checks (the ends of numeric
// ranges, each categorical value), before any data is read.
Status CheckTuning(const config::TrainConfig& cfg, const ml::Hyperparameters& hp) {
  if (!cfg.tuning.enabled) return Status::Ok();
  if (Status st = ml::ValidateTuningOptions(cfg.tuning); !st.ok()) {
    return Status::InvalidArgument(cfg.tuning.location.ToString() + ": " + st.message());
  }
  for (const auto& r : cfg.tuning.ranges) {
    std::vector<std::string> values;
    if (r.type == config::TuningParameterType::kCategorical) {
      values = r.values;
    } else {
      values = {ml::DecodeRangeValue(r, 0.0), ml::DecodeRangeValue(r, 1.0)};
    }
    for (const auto& v : values) {
      ml::Hyperparameters trial = WithTunedValues(cfg, hp);
      trial[r.name] = v;
      if (Status st = CheckHyperparameters(cfg, trial); !st.ok()) {
        // A tuned hyperparameter's problem is reported at its range (with the value tried);
        // a fixed one's stays where it was written.
        const std::string& message = st.message();
        for (const auto& q : cfg.tuning.ranges) {
          const std::string key = "hyperparameters." + q.name + ": ";
          if (auto at = message.find(key); at != std::string::npos) {
            return Status::InvalidArgument(q.location.ToString() + ": tuning.parameter_ranges." +
                                           q.name + ": value " + trial[q.name] + ": " +
                                           message.substr(at + key.size()));
          }
        }
        return st;
      }
    }
  }
  return Status::Ok();
}

// Runs the tuning job: each trial trains with the static hyperparameters plus the trial's values
// (quietly) and is scored on the objective; the best trial's model is kept and returned.
Result<Trained> TuneAndTrain(
    const config::TrainConfig& cfg, const ml::Hyperparameters& hp,
    const std::function<Result<Trained>(const ml::Hyperparameters&, std::ostream&)>& train_once,
    std::ostream& err, std::optional<ml::TuningResult>* tuning) {
  const std::string& objective = cfg.tuning.objective_metric;
  const size_t colon = objective.find(':');
  const std::string split = objective.substr(0, colon), metric = objective.substr(colon + 1);
  const bool minimize = cfg.tuning.minimize;
  std::mutex mu;
  std::optional<Trained> best;  // guarded by mu
  int best_id = -1;             // guarded by mu
  double best_value = 0;        // guarded by mu
  // Parallel XGBoost trials share the cores instead of each taking all of them (OpenMP).
  const int parallel = std::max(1, cfg.tuning.max_parallel_jobs);
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const bool share_threads = cfg.algorithm == config::TrainAlgorithm::kXGBoost && parallel > 1 &&
                             hp.find("nthread") == hp.end();
  auto trial = [&](const ml::Hyperparameters& values, int id) -> Result<ml::TrialOutcome> {
    ml::Hyperparameters h = hp;
    for (const auto& [k, v] : values) h[k] = v;
    if (share_threads && h.find("nthread") == h.end()) {
      h["nthread"] = std::to_string(std::max(1, cores / parallel));
    }
    std::ostringstream quiet;
    Result<Trained> t = train_once(h, quiet);
    // A fit that fails with these values fails this trial only.
    if (!t.ok()) return Status::Internal(t.status().message());
    ml::TrialOutcome outcome;
    std::optional<double> value;
    for (const auto& [k, v] : t->validation) {
      outcome.metrics.emplace_back("validation:" + k, v);
      if (split == "validation" && k == metric) value = v;
    }
    if (t->cv) {
      outcome.metrics.emplace_back("cross_validation:" + t->cv->metric, t->cv->summary.mean);
      if (split == "cross_validation" && t->cv->metric == metric) value = t->cv->summary.mean;
    }
    if (!value) {
      std::string known;
      for (const auto& [k, v] : outcome.metrics) known += (known.empty() ? "" : ", ") + k;
      return Status::InvalidArgument(cfg.tuning.location.ToString() +
                                     ": tuning.objective.metric: " + cfg.algorithm_name +
                                     " does not report '" + objective +
                                     "' here; it reports: " + (known.empty() ? "nothing" : known));
    }
    outcome.objective = *value;
    std::lock_guard<std::mutex> lock(mu);
    const bool better = minimize ? *value < best_value : *value > best_value;
    if (std::isfinite(*value) &&
        (best_id < 0 || better || (*value == best_value && id < best_id))) {
      best = std::move(*t);
      best_id = id;
      best_value = *value;
    }
    return outcome;
  };
  ProgressBar bar(err, "tuning");
  auto result = ml::Tune(cfg.tuning, trial, [&](const ml::Trial&, int done, int total) {
    std::lock_guard<std::mutex> lock(mu);
    bar.Update(done, total, best_id >= 0 ? best_value : std::nan(""));
  });
  bar.Finish();
  if (!result.ok()) return result.status();
  if (!best || best_id != result->best) {
    return Status::Internal("tuning: the best trial's model was lost");
  }
  *tuning = std::move(*result);
  return std::move(*best);
}

}  // namespace

int RunTrain(const TrainCommand& command, std::ostream& out, std::ostream& err) {
  auto cfg = config::LoadTrainConfigFile(command.config_path);
  if (!cfg.ok()) {
    err << cfg.status().message() << "\n";
    return 1;
  }
  const std::string registry = command.registry.empty() ? cfg->registry : command.registry;
  if (registry.empty()) {
    err << cfg->file << ": no registry: set 'registry' or pass --registry\n";
    return 1;
  }
  ml::Hyperparameters hp;
  for (const auto& [k, v] : cfg->hyperparameters) hp.emplace(k, v.value);
  // The ranges first: a tuned hyperparameter may be one the algorithm requires (k-means' k).
  if (Status st = CheckTuning(*cfg, hp); !st.ok()) {
    err << st.message() << "\n";
    return 1;
  }
  if (Status st = CheckHyperparameters(*cfg, WithTunedValues(*cfg, hp)); !st.ok()) {
    err << st.message() << "\n";
    return 1;
  }
  std::filesystem::path data_path = cfg->data.path;
  if (cfg->data.history.enabled) {
    data_path = "history of pipeline '" + cfg->data.history.pipeline + "'";
  } else if (data_path.is_relative()) {
    data_path = std::filesystem::path(cfg->file).parent_path() / data_path;
  }
  auto bytes = cfg->data.history.enabled ? LoadHistory(*cfg) : ReadFileBytes(data_path.string());
  if (!bytes.ok()) {
    err << bytes.status().message() << "\n";
    return 1;
  }
  const auto started = std::chrono::steady_clock::now();
  const std::clock_t cpu_started = std::clock();
  // The data's hash (metadata.json's source) is computed beside the parse.
  std::string data_sha256;
  std::jthread hasher([&] { data_sha256 = Sha256Hex(*bytes); });  // joined even if LoadData throws
  auto data = LoadData(*cfg, data_path.string(), *bytes);
  hasher.join();
  const auto loaded = std::chrono::steady_clock::now();
  const std::clock_t cpu_loaded = std::clock();
  if (!data.ok()) {
    err << data.status().message() << "\n";
    return 1;
  }
  // `owned` (a single run, not tuning): the loaded rows may be consumed by the training split.
  const size_t data_rows = data->rows();
  auto fit = [&](const ml::Hyperparameters& h, std::ostream& e,
                 ml::Dataset* owned) -> Result<Trained> {
    switch (cfg->algorithm) {
      case config::TrainAlgorithm::kLinearLearner:
        return TrainLinear(*cfg, h, *data, e, owned);
      case config::TrainAlgorithm::kKMeans:
        return TrainKMeans(*cfg, h, *data, e, owned);
      case config::TrainAlgorithm::kPca:
        return TrainPca(*cfg, h, *data, e);
      case config::TrainAlgorithm::kXGBoost:
        return TrainXGBoost(*cfg, h, *data, e);
    }
    return Status::Internal("unknown algorithm");
  };
  // Cross-validation first (one code path for every algorithm; it reads the loaded rows before
  // the final fit may consume them), then the final fit.
  auto train_once = [&](const ml::Hyperparameters& h, std::ostream& e,
                        ml::Dataset* owned = nullptr) -> Result<Trained> {
    std::optional<CvRun> cv;
    if (cfg->preparation.cross_validation_folds != 0) {
      OSPREY_ASSIGN_OR_RETURN(cv, RunCrossValidation(*cfg, h, *data, e));
    }
    OSPREY_ASSIGN_OR_RETURN(Trained t, fit(h, e, owned));
    t.cv = std::move(cv);
    return t;
  };
  // tuning: the best trial's model is the one published (its values join the hyperparameters).
  std::optional<ml::TuningResult> tuning;
  Result<Trained> trained = cfg->tuning.enabled ? TuneAndTrain(*cfg, hp, train_once, err, &tuning)
                                                : train_once(hp, err, &*data);
  if (!trained.ok()) {
    err << cfg->file << ": " << cfg->algorithm_name << ": " << trained.status().message() << "\n";
    return 1;
  }
  AddRows(*trained);
  if (!trained->prep.features.pipeline_json.empty()) {
    trained->files[ml::features::kPipelineFile] = trained->prep.features.pipeline_json;
    bool recorded = false;  // the linear learner records it beside its imputation
    for (const auto& e : trained->extra_json) recorded |= e.rfind("\"preprocessing\":", 0) == 0;
    if (!recorded) {  // with the imputer's fill per pipeline output, applied when serving
      std::string pre;
      JsonWriter j(&pre);
      j.BeginObject().Key("file").String(ml::features::kPipelineFile).Key("impute").BeginArray();
      for (double v : trained->prep.fill) j.Double(v);
      j.EndArray().EndObject();
      trained->extra_json.push_back("\"preprocessing\":" + pre);
    }
  }
  const double load_seconds = std::chrono::duration<double>(loaded - started).count();
  const double train_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - loaded).count();
  // CPU seconds of the whole process (all threads): steadier than wall time on a busy machine.
  const double load_cpu = static_cast<double>(cpu_loaded - cpu_started) / CLOCKS_PER_SEC;
  const double train_cpu = static_cast<double>(std::clock() - cpu_loaded) / CLOCKS_PER_SEC;
  if (tuning) {
    const ml::Trial& best = tuning->trials[static_cast<size_t>(tuning->best)];
    for (const auto& r : cfg->tuning.ranges) {
      cfg->hyperparameters[r.name] = config::Hyperparameter{best.values.at(r.name), r.location};
    }
    trained->extra_json.push_back("\"tuning\":" + TuningJson(cfg->tuning, *tuning));
    trained->summary.push_back({"tuning", std::string(StrategyName(cfg->tuning.strategy)) + ", " +
                                              std::to_string(tuning->trials.size()) +
                                              " trials, best " + std::to_string(best.id) + ": " +
                                              cfg->tuning.objective_metric + " " +
                                              Fmt(best.objective)});
  }
  auto version = PublishModel(registry, cfg->name, trained->files, [&](const std::string& v) {
    return Metadata(*cfg, *trained, v, data_sha256, data_rows);
  });
  if (!version.ok()) {
    err << "publish: " << version.status().message() << "\n";
    return 1;
  }
  if (!command.predictions_out.empty()) {
    // With a feature pipeline, the raw test rows (what a client sends).
    const ml::Dataset& rows = trained->prep.features.pipeline_json.empty()
                                  ? trained->prep.test
                                  : trained->prep.features.raw_test;
    Status st = WritePredictions(command.predictions_out, rows,
                                 trained->test_predictions, trained->prediction_names);
    if (!st.ok()) {
      err << st.message() << "\n";
      return 1;
    }
  }
  const std::string where = (std::filesystem::path(registry) / cfg->name / *version).string();
  std::vector<std::vector<std::string>> head{
      {"model", cfg->name + " version " + *version + "  (" + where + ")"},
      {"algorithm",
       cfg->algorithm_name + " (" + std::string(models::TaskName(trained->task)) + ")"},
      {"inputs", std::to_string(trained->prep.train.cols())}};
  for (auto& row : trained->summary) head.push_back(row);
  if (trained->cv) {
    head.push_back({"cross-validation", CvLine(*trained->cv)});
  }
  head.push_back({"time", "load " + Fmt(load_seconds) + " s, train " + Fmt(train_seconds) +
                              " s (prepare, fit, evaluate)"});
  head.push_back({"cpu time", "load " + Fmt(load_cpu) + " s, train " + Fmt(train_cpu) + " s"});
  {
    ReportData& r = trained->report;
    r.title = cfg->name + " version " + *version;
    r.summary.push_back({"data", cfg->data.history.enabled
                                     ? "history of pipeline '" + cfg->data.history.pipeline +
                                           "' (" + cfg->data.history.config + ")"
                                     : cfg->data.path});
    r.summary.push_back({"data rows", std::to_string(data_rows)});
    for (const auto& row : head) r.summary.push_back({row[0], row.size() > 1 ? row[1] : ""});
    for (const auto& [k, v] : cfg->hyperparameters) r.hyperparameters.push_back({k, v.value});
    r.validation = trained->validation;
    r.test = trained->test;
    if (trained->cv) {
      r.cv_metric = trained->cv->metric;
      r.cv_scheme = CvLine(*trained->cv);
      r.cv_values = trained->cv->summary.values;
      r.cv_mean = trained->cv->summary.mean;
      r.cv_stddev = trained->cv->summary.stddev;
    }
    if (tuning) {
      std::ostringstream trials;
      PrintTrials(trials, cfg->tuning, *tuning);
      r.tuning_trials = trials.str();
    }
    const std::string report_path =
        command.report_path.empty() ? (std::filesystem::path(where) / "report.html").string()
                                    : command.report_path;
    std::ofstream f(report_path, std::ios::binary | std::ios::trunc);
    f << RenderHtmlReport(r);
    f.close();
    if (!f) {
      err << "published " << where << ", but " << report_path << ": cannot write the report\n";
      return 1;
    }
    head.push_back({"report", report_path});
  }
  PrintTable(out, head);
  out << "\n";
  PrintMetrics(out, trained->validation, trained->test);
  if (tuning) {
    out << "\n";
    PrintTrials(out, cfg->tuning, *tuning);
  }
  return 0;
}

int RunEvaluate(const EvaluateCommand& command, std::ostream& out, std::ostream& err) {
  auto artifact = ReadArtifact(command.registry, command.model, command.version);
  if (!artifact.ok()) {
    err << artifact.status().message() << "\n";
    return 1;
  }
  models::ModelKindRegistry kinds;
  models::RegisterBuiltinKinds(kinds);
  const models::ModelLoader* loader = kinds.Find(artifact->kind);
  if (loader == nullptr) {
    err << "model kind '" << artifact->kind << "' cannot be evaluated here\n";
    return 1;
  }
  auto model = (*loader)(*artifact);
  if (!model.ok()) {
    err << model.status().message() << "\n";
    return 1;
  }
  auto bytes = ReadFileBytes(command.data);
  if (!bytes.ok()) {
    err << bytes.status().message() << "\n";
    return 1;
  }
  const std::string ext = std::filesystem::path(command.data).extension().string();
  Result<ml::Dataset> data = Status::Internal("unset");
  if (ext == ".jsonl" || ext == ".json") {
    ml::JsonLinesOptions o;
    o.label = command.label;
    for (const auto& in : (*model)->inputs()) o.features.push_back(in.name);
    StringColumns((*model)->inputs(), &o.categorical_columns, &o.text_columns, false);
    data = ml::ParseJsonLines(*bytes, o);
  } else {
    ml::CsvOptions o;
    o.header = command.header;
    o.label_index = command.label_index;
    o.label_column = command.label;
    StringColumns((*model)->inputs(), &o.categorical_columns, &o.text_columns, !o.header);
    data = ml::ParseCsv(*bytes, o);
  }
  if (!data.ok()) {
    err << command.data << ": " << data.status().message() << "\n";
    return 1;
  }
  const auto& inputs = (*model)->inputs();
  if (data->cols() != inputs.size()) {
    err << command.data << ": " << data->cols() << " feature columns, the model takes "
        << inputs.size() << "\n";
    return 1;
  }
  std::vector<models::FeatureRow> rows(data->rows());
  for (size_t r = 0; r < rows.size(); ++r) {
    rows[r].resize(inputs.size());
    for (size_t c = 0; c < inputs.size(); ++c) {
      const double v = data->x(static_cast<Index>(r), static_cast<Index>(c));
      if (std::isnan(v)) continue;
      if (data->columns[c].type == ml::ColumnType::kNumeric) {
        rows[r][c] = v;
      } else {
        rows[r][c] = data->columns[c].categories[static_cast<size_t>(v)];
      }
    }
  }
  auto preds = (*model)->Predict(rows);
  if (!preds.ok()) {
    err << command.data << ": " << preds.status().message() << "\n";
    return 1;
  }
  MetricSet m;
  const models::ModelTask task = (*model)->task();
  if (data->has_label && (task == models::ModelTask::kRegression)) {
    std::vector<double> p;
    for (const auto& pr : *preds) p.push_back(pr.score);
    const auto y = ToStd(data->y);
    m = {{"rmse", ml::Rmse(y, p)},
         {"mae", ml::Mae(y, p)},
         {"mape", ml::Mape(y, p)},
         {"r2", ml::R2(y, p)}};
  } else if (data->has_label &&
             (task == models::ModelTask::kBinary || task == models::ModelTask::kMulticlass)) {
    const auto y = ToClasses(data->y);
    std::vector<int> p;
    std::vector<double> s;
    int k = 2;
    for (const auto& pr : *preds) {
      p.push_back(pr.predicted_label.value_or(0));
      s.push_back(pr.score);
      k = std::max<int>(k, static_cast<int>(pr.probabilities.size()));
    }
    for (int v : y) k = std::max(k, v + 1);
    for (int v : p) k = std::max(k, v + 1);
    const auto cm = ml::ConfusionMatrix(y, p, k);
    m.emplace_back("accuracy", ml::Accuracy(y, p));
    const ml::ClassScores cs =
        task == models::ModelTask::kBinary ? ml::ScoresForClass(cm, 1) : ml::MacroScores(cm);
    m.insert(m.end(), {{"precision", cs.precision}, {"recall", cs.recall}, {"f1", cs.f1}});
    if (task == models::ModelTask::kBinary && std::count(y.begin(), y.end(), 1) > 0 &&
        std::count(y.begin(), y.end(), 0) > 0) {
      m.emplace_back("roc_auc", ml::RocAuc(y, s));
      m.emplace_back("average_precision", ml::AveragePrecision(y, s));
    }
  } else if (task == models::ModelTask::kClustering) {
    double inertia = 0, sum = 0;
    for (const auto& pr : *preds) {
      inertia += pr.score * pr.score;
      sum += pr.score;
    }
    m = {{"inertia", inertia}, {"mean_distance", sum / static_cast<double>(preds->size())}};
  }
  std::vector<std::vector<std::string>> head{
      {"model", artifact->name + " version " + artifact->version + " (" + artifact->kind + ", " +
                    std::string(models::TaskName(task)) + ")"},
      {"rows", std::to_string(rows.size())}};
  PrintTable(out, head);
  out << "\n";
  std::vector<std::vector<std::string>> table{{"metric", "value"}};
  for (const auto& [k, v] : m) table.push_back({k, Fmt(v)});
  PrintTable(out, table);
  return 0;
}

}  // namespace osprey::daemon::trainer
