// The schema of `osprey train` files, on the strict readers of config/internal/yaml_reader.h.
#include "config/train_loader.h"

#include <cmath>
#include <exception>
#include <fstream>
#include <regex>
#include <sstream>
#include <utility>

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include "config/internal/yaml_reader.h"

namespace osprey::config {

namespace {

using internal::Context;
using internal::EnumName;
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

void ReadData(MapReader& top, TrainDataOptions* data) {
  auto v = top.Require("data");
  if (!v) return;
  MapReader d(top.ctx(), *v);
  if (!d.ok()) return;
  d.Enum("format", &data->format, kFormats);
  d.String("path", &data->path, Need::kRequired);
  d.Bool("header", &data->header);
  d.Int("label_index", &data->label_index, -1, 1 << 20);
  d.String("label", &data->label);
  d.StringList("features", &data->features, Need::kNonEmpty);
  std::string delimiter = ",";
  if (d.String("delimiter", &delimiter) && delimiter.size() != 1) {
    d.ctx().Error(d.Get("delimiter")->mark, d.ChildPath("delimiter"), "must be one character");
  } else if (delimiter.size() == 1) {
    data->delimiter = delimiter[0];
  }
  if (data->format == TrainDataFormat::kCsv && data->header && d.Get("label_index")) {
    d.ctx().Error(d.Get("label_index")->mark, d.ChildPath("label_index"),
                  "with header: true, name the label column with 'label'");
  }
  if (data->format == TrainDataFormat::kCsv && !data->header && d.Get("label")) {
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
      bool loo = false;
      cv.Int("folds", &p->cross_validation_folds, 2, 1000);
      if (cv.Bool("leave_one_out", &loo) && loo) {
        if (cv.Get("folds")) {
          cv.ctx().Error(cv.Get("folds")->mark, cv.ChildPath("folds"),
                         "give folds or leave_one_out, not both");
        }
        p->cross_validation_folds = -1;
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
