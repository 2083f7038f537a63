// The schema of `osprey train` files, on the strict readers of config/internal/yaml_reader.h.
#include "config/train_loader.h"

#include <cmath>
#include <exception>
#include <fstream>
#include <limits>
#include <regex>
#include <set>
#include <sstream>
#include <utility>

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include "config/internal/yaml_reader.h"

namespace osprey::config {

namespace {

using internal::Context;
using internal::EnumName;
using internal::ForEachElement;
using internal::MapReader;
using internal::Need;
using internal::Range;
using internal::Section;
using internal::Value;

constexpr EnumName<TrainDataFormat> kFormats[] = {{"csv", TrainDataFormat::kCsv},
                                                  {"jsonl", TrainDataFormat::kJsonLines}};
constexpr EnumName<TrainAlgorithm> kAlgorithms[] = {
    {"linear_learner", TrainAlgorithm::kLinearLearner},
    {"kmeans", TrainAlgorithm::kKMeans},
    {"pca", TrainAlgorithm::kPca},
    {"xgboost", TrainAlgorithm::kXGBoost}};
constexpr EnumName<MissingValues> kMissing[] = {{"keep", MissingValues::kKeep},
                                                {"drop", MissingValues::kDrop},
                                                {"mean", MissingValues::kMean},
                                                {"median", MissingValues::kMedian},
                                                {"most_frequent", MissingValues::kMostFrequent}};

constexpr EnumName<FeatureStepKind> kFeatureSteps[] = {
    {"standardize", FeatureStepKind::kStandardize}, {"log", FeatureStepKind::kLog},
    {"power", FeatureStepKind::kPower},             {"polynomial", FeatureStepKind::kPolynomial},
    {"bin", FeatureStepKind::kBin},                 {"cross", FeatureStepKind::kCross},
    {"quadratic", FeatureStepKind::kQuadratic},     {"one_hot", FeatureStepKind::kOneHot},
    {"text", FeatureStepKind::kText},               {"tree_leaves", FeatureStepKind::kTreeLeaves},
    {"drop", FeatureStepKind::kDrop}};

// One `features` element: {step: kind, columns: [...], <the kind's own keys>}. Keys of other
// kinds are unknown keys (reported by Finish).
void ReadFeatureStep(Context& ctx, const Value& v, FeatureStepOptions* s) {
  MapReader m(ctx, Value{v.node, v.mark, v.path, v.key_mark});
  if (!m.ok()) return;
  s->location = ctx.Location(v.mark);
  if (!m.Enum("step", &s->kind, kFeatureSteps, Need::kRequired)) {
    m.Finish(/*check_unknown=*/false);
    return;
  }
  m.StringList("columns", &s->columns, Need::kNonEmpty);
  switch (s->kind) {
    case FeatureStepKind::kLog:
      m.Double("offset", &s->offset, Range{-1e300, 1e300});
      break;
    case FeatureStepKind::kPower:
      m.Double("exponent", &s->exponent, Range{-1e6, 1e6});
      break;
    case FeatureStepKind::kPolynomial:
      m.Int("degree", &s->degree, 2, 10);
      break;
    case FeatureStepKind::kBin: {
      if (auto e = m.Get("edges")) {
        std::vector<double> edges;
        bool ok = true;
        ForEachElement(ctx, *e, [&](const Value& element) {
          auto d = internal::ReadDouble(ctx, element, Range{-1e300, 1e300});
          if (!d) {
            ok = false;
          } else if (!edges.empty() && !(*d > edges.back())) {
            ctx.Error(element.mark, element.path, "edges must be strictly increasing");
            ok = false;
          } else {
            edges.push_back(*d);
          }
        });
        if (ok && edges.empty()) ctx.Error(e->mark, e->path, "must not be empty");
        s->edges = std::move(edges);
      }
      m.Int("quantiles", &s->quantiles, 2, 1000);
      if (m.Get("edges").has_value() == m.Get("quantiles").has_value()) {
        ctx.Error(v.mark, v.path, "bin: give either edges or quantiles");
      }
      break;
    }
    case FeatureStepKind::kCross:
      if (s->columns.size() != 2) ctx.Error(v.mark, m.ChildPath("columns"), "cross takes two columns");
      break;
    case FeatureStepKind::kText: {
      if (s->columns.empty()) ctx.Error(v.mark, m.ChildPath("columns"), "name the text columns");
      m.Bool("lowercase", &s->lowercase);
      m.Bool("strip_punctuation", &s->strip_punctuation);
      m.Bool("stop_words", &s->stop_words);
      m.Bool("stem", &s->stem);
      m.Int("ngram_max", &s->ngram_max, 1, 16);
      m.Bool("sublinear_tf", &s->sublinear_tf);
      m.Bool("smooth_idf", &s->smooth_idf);
      m.Bool("l2_normalize", &s->l2_normalize);
      m.Double("min_df", &s->min_df, Range{0.0, 1.0});
      m.Double("max_df", &s->max_df, Range{0.0, 1.0});
      m.Int("max_terms", &s->max_terms, 0, 1 << 24);
      if (s->min_df > s->max_df) {
        ctx.Error(v.mark, m.ChildPath("min_df"), "must not exceed max_df");
      }
      break;
    }
    case FeatureStepKind::kTreeLeaves:
      m.Properties("hyperparameters", &s->hyperparameters);
      break;
    case FeatureStepKind::kDrop:
      if (s->columns.empty()) ctx.Error(v.mark, m.ChildPath("columns"), "name the columns to drop");
      break;
    case FeatureStepKind::kStandardize:
    case FeatureStepKind::kQuadratic:
    case FeatureStepKind::kOneHot:
      break;
  }
  m.Finish();
}

void ReadFeatures(MapReader& top, std::vector<FeatureStepOptions>* features) {
  auto v = top.Get("features");
  if (!v) return;
  ForEachElement(top.ctx(), *v, [&](const Value& element) {
    ReadFeatureStep(top.ctx(), element, &features->emplace_back());
  });
}

void ReadData(MapReader& top, TrainDataOptions* data) {
  auto v = top.Require("data");
  if (!v) return;
  MapReader d(top.ctx(), *v);
  if (!d.ok()) return;
  d.Enum("format", &data->format, kFormats);
  if (auto h = d.Get("history")) {
    MapReader hm(d.ctx(), *h);
    if (hm.ok()) {
      data->history.enabled = true;
      hm.String("config", &data->history.config, Need::kRequired);
      hm.String("pipeline", &data->history.pipeline, Need::kRequired);
      hm.String("store", &data->history.store, Need::kNonEmpty);
      hm.Finish();
    }
    if (d.Get("path")) {
      d.ctx().Error(d.Get("path")->mark, d.ChildPath("path"), "give either path or history");
    }
    for (const char* key : {"format", "header", "label_index", "delimiter"}) {
      if (d.Get(key)) {
        d.ctx().Error(d.Get(key)->mark, d.ChildPath(key),
                      "not with history (csv with a header; name the label with 'label')");
      }
    }
    data->format = TrainDataFormat::kCsv;
    data->header = true;
  } else {
    d.String("path", &data->path, Need::kRequired);
  }
  d.Bool("header", &data->header);
  d.Int("label_index", &data->label_index, -1, 1 << 20);
  d.String("label", &data->label);
  d.StringList("features", &data->features, Need::kNonEmpty);
  d.StringList("categorical", &data->categorical, Need::kNonEmpty);
  d.StringList("text", &data->text, Need::kNonEmpty);
  std::string delimiter = ",";
  if (d.String("delimiter", &delimiter) && delimiter.size() != 1) {
    d.ctx().Error(d.Get("delimiter")->mark, d.ChildPath("delimiter"), "must be one character");
  } else if (delimiter.size() == 1) {
    data->delimiter = delimiter[0];
  }
  if (data->history.enabled) {
    // checked above
  } else if (data->format == TrainDataFormat::kCsv && data->header && d.Get("label_index")) {
    d.ctx().Error(d.Get("label_index")->mark, d.ChildPath("label_index"),
                  "with header: true, name the label column with 'label'");
  }
  if (!data->history.enabled && data->format == TrainDataFormat::kCsv && !data->header &&
      d.Get("label")) {
    d.ctx().Error(d.Get("label")->mark, d.ChildPath("label"),
                  "without a header, give the label's column number with 'label_index'");
  }
  if (data->format == TrainDataFormat::kJsonLines && d.Get("header")) {
    d.ctx().Error(d.Get("header")->mark, d.ChildPath("header"), "only for csv");
  }
  d.Finish();
}

void ReadPreparation(MapReader& top, TrainPreparationOptions* p) {
  Section(top, "preparation", [&](MapReader& m) {
    m.Enum("missing", &p->missing, kMissing);
    m.Bool("missing_indicators", &p->missing_indicators);
    m.Int<uint64_t>("seed", &p->seed, 0, std::numeric_limits<uint64_t>::max());
    m.Bool("stratify", &p->stratify);
    Section(m, "split", [&](MapReader& s) {
      const Range unit{0.0, 1.0};
      s.Double("train", &p->train_fraction, unit);
      s.Double("validation", &p->validation_fraction, unit);
      s.Double("test", &p->test_fraction, unit);
      const double sum = p->train_fraction + p->validation_fraction + p->test_fraction;
      if (std::abs(sum - 1.0) > 1e-9 || p->train_fraction <= 0) {
        s.ctx().Error(
            s.value().mark, s.value().path,
            "train + validation + test must be 1 (and train > 0), got " + std::to_string(sum));
      }
    });
    Section(m, "cross_validation", [&](MapReader& cv) {
      p->cross_validation_location = cv.ctx().Location(cv.value().key_mark);
      bool loo = false;
      cv.Int("folds", &p->cross_validation_folds, 2, 1000);
      if (cv.Bool("leave_one_out", &loo) && loo) {
        if (cv.Get("folds")) {
          cv.ctx().Error(cv.Get("folds")->mark, cv.ChildPath("folds"),
                         "give folds or leave_one_out, not both");
        }
        p->cross_validation_folds = -1;
      }
      if (!cv.Get("folds") && !cv.Get("leave_one_out")) {
        cv.ctx().Error(cv.value().key_mark, cv.value().path,
                       "give folds (2 to 1000) or leave_one_out: true");
      }
    });
  });
}

void ReadHyperparameters(MapReader& top, TrainConfig* cfg) {
  auto v = top.Get("hyperparameters");
  if (!v) return;
  Context& ctx = top.ctx();
  cfg->hyperparameters_location = ctx.Location(v->mark);
  MapReader h(ctx, *v);
  if (!h.ok()) return;
  for (const auto& entry : h.Entries()) {
    auto text = internal::ReadScalar(ctx, entry.value, "a scalar");
    if (!text) continue;
    cfg->hyperparameters[entry.key] = Hyperparameter{*text, ctx.Location(entry.key_mark)};
  }
  h.Finish();
}

constexpr EnumName<TuningStrategy> kStrategies[] = {{"bayesian", TuningStrategy::kBayesian},
                                                    {"random", TuningStrategy::kRandom},
                                                    {"grid", TuningStrategy::kGrid},
                                                    {"sobol", TuningStrategy::kSobol}};
constexpr EnumName<TuningParameterType> kRangeTypes[] = {
    {"continuous", TuningParameterType::kContinuous},
    {"integer", TuningParameterType::kInteger},
    {"categorical", TuningParameterType::kCategorical}};
constexpr EnumName<TuningScaling> kScalings[] = {
    {"auto", TuningScaling::kAuto},
    {"linear", TuningScaling::kLinear},
    {"logarithmic", TuningScaling::kLogarithmic},
    {"reverse_logarithmic", TuningScaling::kReverseLogarithmic}};
enum class ObjectiveType { kMinimize, kMaximize };
constexpr EnumName<ObjectiveType> kObjectiveTypes[] = {{"minimize", ObjectiveType::kMinimize},
                                                       {"maximize", ObjectiveType::kMaximize}};

void ReadRange(Context& ctx, const MapReader::Entry& entry, TrainConfig* cfg) {
  TuningParameterRange r;
  r.name = entry.key;
  r.location = ctx.Location(entry.key_mark);
  const std::string& path = entry.value.path;
  MapReader m(ctx, entry.value);
  if (!m.ok()) return;
  m.Enum("type", &r.type, kRangeTypes, Need::kRequired);
  const Range any{-std::numeric_limits<double>::infinity()};
  if (r.type == TuningParameterType::kCategorical) {
    m.StringList("values", &r.values, Need::kRequired);
  } else {
    m.Double("min", &r.min_value, any);
    m.Double("max", &r.max_value, any);
    if (!m.Get("min") || !m.Get("max")) {
      if (!m.Get("min")) m.ReportMissing("min");
      if (!m.Get("max")) m.ReportMissing("max");
    } else if (!(r.min_value < r.max_value) &&
               !(r.type == TuningParameterType::kInteger && r.min_value == r.max_value)) {
      ctx.Error(m.Get("max")->mark, m.ChildPath("max"), "must be greater than min");
    } else if (r.type == TuningParameterType::kInteger &&
               (r.min_value != std::floor(r.min_value) || r.max_value != std::floor(r.max_value))) {
      ctx.Error(m.Get("min")->mark, m.ChildPath("min"), "an integer range needs integer bounds");
    }
    if (m.Enum("scaling", &r.scaling, kScalings) && m.Get("scaling")) {
      if (r.scaling == TuningScaling::kLogarithmic && r.min_value <= 0) {
        ctx.Error(m.Get("scaling")->mark, m.ChildPath("scaling"), "logarithmic needs min > 0");
      } else if (r.scaling == TuningScaling::kReverseLogarithmic &&
                 (r.type != TuningParameterType::kContinuous || r.min_value < 0 ||
                  r.max_value >= 1)) {
        ctx.Error(m.Get("scaling")->mark, m.ChildPath("scaling"),
                  "reverse_logarithmic needs a continuous range within [0, 1)");
      }
    }
    m.Int("grid_points", &r.grid_points, 1, 1000);
  }
  m.Finish();
  if (cfg->hyperparameters.count(r.name)) {
    ctx.Error(entry.key_mark, path,
              "also set under hyperparameters: a hyperparameter is either fixed or tuned");
  }
  cfg->tuning.ranges.push_back(std::move(r));
}

// After `preparation` and `hyperparameters`.
void ReadTuning(MapReader& top, TrainConfig* cfg) {
  auto v = top.Get("tuning");
  if (!v) return;
  Context& ctx = top.ctx();
  TuningOptions& t = cfg->tuning;
  t.enabled = true;
  t.location = ctx.Location(v->key_mark);
  MapReader m(ctx, *v);
  if (!m.ok()) return;
  m.Enum("strategy", &t.strategy, kStrategies);
  m.Int("max_jobs", &t.max_jobs, 1, 10000);
  m.Int("max_parallel_jobs", &t.max_parallel_jobs, 1, 256);
  m.Int<uint64_t>("seed", &t.seed, 0, std::numeric_limits<uint64_t>::max());
  m.Int("initial_jobs", &t.initial_jobs, 1, 10000);
  Section(m, "objective", [&](MapReader& o) {
    if (!o.String("metric", &t.objective_metric, Need::kRequired)) return;
    static const std::regex kMetric("(validation|cross_validation):[A-Za-z0-9_]+");
    if (!std::regex_match(t.objective_metric, kMetric)) {
      ctx.Error(o.Get("metric")->mark, o.ChildPath("metric"),
                "expected validation:<metric> or cross_validation:<metric>, got '" +
                    t.objective_metric + "'");
      return;
    }
    const std::string name = t.objective_metric.substr(t.objective_metric.find(':') + 1);
    static const std::set<std::string> kLowerIsBetter = {
        "rmse", "mae", "mape", "inertia", "mean_distance", "reconstruction_rmse"};
    t.minimize = kLowerIsBetter.count(name) > 0;
    ObjectiveType type = t.minimize ? ObjectiveType::kMinimize : ObjectiveType::kMaximize;
    o.Enum("type", &type, kObjectiveTypes);
    t.minimize = type == ObjectiveType::kMinimize;
    if (t.objective_metric.starts_with("cross_validation:") &&
        cfg->preparation.cross_validation_folds == 0) {
      ctx.Error(o.Get("metric")->mark, o.ChildPath("metric"), "needs preparation.cross_validation");
    }
  });
  if (!m.Get("objective")) m.ReportMissing("objective");
  auto ranges = m.Require("parameter_ranges");
  if (ranges) {
    MapReader rm(ctx, *ranges);
    if (rm.ok()) {
      for (const auto& entry : rm.Entries()) ReadRange(ctx, entry, cfg);
      if (rm.Entries().empty()) {
        ctx.Error(ranges->mark, ranges->path, "give at least one range");
      } else if (rm.Entries().size() > 32) {
        ctx.Error(ranges->mark, ranges->path, "at most 32 ranges");
      }
      rm.Finish();
    }
  }
  m.Finish();
}

void ReadTrainConfig(Context& ctx, const YAML::Node& root, TrainConfig* cfg) {
  Value root_value{root, root.Mark(), "", root.Mark()};
  MapReader top(ctx, root_value);
  if (!top.ok()) return;
  if (top.String("name", &cfg->name, Need::kRequired)) {
    static const std::regex kName("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");
    if (!cfg->name.empty() && !std::regex_match(cfg->name, kName)) {
      ctx.Error(top.Get("name")->mark, "name",
                "must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}, got '" + cfg->name + "'");
    }
  }
  top.String("registry", &cfg->registry, Need::kNonEmpty);
  ReadData(top, &cfg->data);
  ReadPreparation(top, &cfg->preparation);
  if (top.Enum("algorithm", &cfg->algorithm, kAlgorithms, Need::kRequired)) {
    cfg->algorithm_name = std::string(internal::EnumToName(kAlgorithms, cfg->algorithm));
  }
  ReadHyperparameters(top, cfg);
  ReadTuning(top, cfg);
  ReadFeatures(top, &cfg->features);
  if (cfg->features.empty() && (!cfg->data.categorical.empty() || !cfg->data.text.empty())) {
    ctx.Error(top.Get("data") ? top.Get("data")->mark : root.Mark(), "data",
              "categorical and text columns need a 'features' list (one_hot, text) to become "
              "numbers");
  }
  top.Finish();
}

}  // namespace

Result<TrainConfig> LoadTrainConfigString(std::string_view yaml, const std::string& file_name,
                                          const Environment* env) {
  try {
    const ProcessEnvironment process_env;
    Context ctx(file_name, env != nullptr ? *env : process_env);
    YAML::Node doc;
    try {
      doc = YAML::Load(std::string(yaml));
    } catch (const YAML::DeepRecursion& e) {
      ctx.Error(e.mark, "yaml", "nested deeper than " + std::to_string(e.depth()) + " levels");
      return ctx.ToStatus();
    } catch (const YAML::ParserException& e) {
      ctx.Error(e.mark, "yaml", e.msg);
      return ctx.ToStatus();
    }
    if (doc.IsNull()) {
      ctx.Error(YAML::Mark::null_mark(), "", "the file is empty");
      return ctx.ToStatus();
    }
    TrainConfig cfg;
    ReadTrainConfig(ctx, doc, &cfg);
    if (!ctx.ok()) return ctx.ToStatus();
    cfg.file = file_name;
    return cfg;
  } catch (const std::exception& e) {
    return Status::Internal(file_name + ": unexpected error while loading: " + e.what());
  }
}

Result<TrainConfig> LoadTrainConfigFile(const std::string& path, const Environment* env) {
  std::string bytes;
  try {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Status::IOError(path + ": cannot read: cannot open");
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad()) return Status::IOError(path + ": cannot read");
    bytes = ss.str();
  } catch (const std::exception& e) {
    return Status::IOError(path + ": cannot read: " + e.what());
  }
  return LoadTrainConfigString(bytes, path, env);
}

}  // namespace osprey::config
