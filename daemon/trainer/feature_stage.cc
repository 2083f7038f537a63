#include "daemon/trainer/feature_stage.h"

#include <cmath>
#include <sstream>

namespace osprey::daemon::trainer {

namespace ml = models::ml;

Result<FeatureStage> ApplyFeatures(const config::TrainConfig& cfg, ml::Dataset* train,
                                   ml::Dataset* validation, ml::Dataset* test) {
  FeatureStage out;
  if (cfg.features.empty()) return out;
  if (cfg.preparation.missing_indicators) {
    // Indicator columns would be model inputs that the served pipeline does not produce.
    return Status::InvalidArgument(
        "preparation.missing_indicators is not supported together with features");
  }
  const ml::Vector* label = train->has_label ? &train->y : nullptr;
  auto pipeline = ml::features::FeaturePipeline::Fit(
      cfg.features, ml::features::FrameFromDataset(*train), label);
  if (!pipeline.ok()) return pipeline.status();
  out.raw_test = *test;
  out.inputs = pipeline->inputs();
  out.pipeline_json = pipeline->ToJson();
  for (ml::Dataset* d : {train, validation, test}) {
    OSPREY_ASSIGN_OR_RETURN(*d, pipeline->TransformDataset(*d));
  }
  return out;
}

std::string_view InputTypeName(models::FeatureType type) {
  switch (type) {
    case models::FeatureType::kNumeric: return "numeric";
    case models::FeatureType::kCategorical: return "categorical";
    case models::FeatureType::kText: return "text";
  }
  return "numeric";
}

std::vector<std::vector<std::string>> RawCells(const ml::Dataset& rows) {
  std::vector<std::vector<std::string>> out(rows.rows());
  for (size_t r = 0; r < rows.rows(); ++r) {
    for (size_t c = 0; c < rows.cols(); ++c) {
      const double v = rows.x(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(c));
      std::string cell;
      if (std::isnan(v)) {
        // missing: empty cell
      } else if (rows.columns[c].type == ml::ColumnType::kNumeric) {
        std::ostringstream s;
        s.precision(17);
        s << v;
        cell = s.str();
      } else {
        const std::string& text = rows.columns[c].categories[static_cast<size_t>(v)];
        if (text.find_first_of(",\"\r\n") == std::string::npos) {
          cell = text;
        } else {
          cell = "\"";
          for (char ch : text) {
            if (ch == '"') cell += '"';
            cell += ch;
          }
          cell += '"';
        }
      }
      out[r].push_back(std::move(cell));
    }
  }
  return out;
}

void StringColumns(const std::vector<models::FeatureSpec>& inputs,
                   std::vector<std::string>* categorical, std::vector<std::string>* text,
                   bool positional) {
  for (size_t k = 0; k < inputs.size(); ++k) {
    std::string name = positional ? std::to_string(k + 1) : inputs[k].name;
    if (positional) name.insert(name.begin(), 'x');
    if (inputs[k].type == models::FeatureType::kCategorical) categorical->push_back(name);
    if (inputs[k].type == models::FeatureType::kText) text->push_back(name);
  }
}

}  // namespace osprey::daemon::trainer
