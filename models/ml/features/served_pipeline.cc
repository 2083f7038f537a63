#include "models/ml/features/served_pipeline.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <simdjson.h>

#include "config/base/json_writer.h"

namespace osprey::models::ml::features {

namespace {

namespace dom = simdjson::dom;
using Eigen::Index;

class PipelineServed final : public ServedModel {
 public:
  PipelineServed(FeaturePipeline pipeline, std::unique_ptr<const ServedModel> inner,
                 std::vector<double> fill)
      : pipeline_(std::move(pipeline)), inner_(std::move(inner)), fill_(std::move(fill)) {}

  std::string_view kind() const override { return inner_->kind(); }
  ModelTask task() const override { return inner_->task(); }
  const std::vector<FeatureSpec>& inputs() const override { return pipeline_.inputs(); }
  Result<std::vector<Prediction>> Predict(std::span<const FeatureRow> rows) const override {
    // In chunks: the inner model takes FeatureRows (a variant per value), which for wide
    // outputs (TF-IDF terms, one-hot columns) would otherwise hold the whole batch several
    // times over.
    std::vector<Prediction> out;
    out.reserve(rows.size());
    for (size_t begin = 0; begin < rows.size(); begin += kChunkRows) {
      const size_t n = std::min(kChunkRows, rows.size() - begin);
      OSPREY_ASSIGN_OR_RETURN(std::vector<Prediction> part, PredictChunk(rows, begin, n));
      for (auto& p : part) out.push_back(std::move(p));
    }
    return out;
  }
  size_t memory_bytes() const override { return sizeof(*this) + inner_->memory_bytes(); }

 private:
  static constexpr size_t kChunkRows = 256;

  // Rows [begin, begin + n) of `all`; errors number rows within `all`.
  Result<std::vector<Prediction>> PredictChunk(std::span<const FeatureRow> all, size_t begin,
                                               size_t n) const {
    const std::span<const FeatureRow> rows = all.subspan(begin, n);
    OSPREY_ASSIGN_OR_RETURN(Frame frame, FrameFromRows(rows, pipeline_.inputs(), begin));
    OSPREY_ASSIGN_OR_RETURN(Matrix x, pipeline_.Transform(std::move(frame)));
    std::vector<FeatureRow> features(rows.size());
    for (size_t r = 0; r < rows.size(); ++r) {
      FeatureRow& row = features[r];
      row.resize(static_cast<size_t>(x.cols()));
      for (Index c = 0; c < x.cols(); ++c) {
        double v = x(static_cast<Index>(r), c);
        if (std::isnan(v) && !fill_.empty()) v = fill_[static_cast<size_t>(c)];
        if (!std::isnan(v)) row[static_cast<size_t>(c)] = v;  // NaN stays missing
      }
    }
    return inner_->Predict(features);
  }

  const FeaturePipeline pipeline_;
  const std::unique_ptr<const ServedModel> inner_;
  const std::vector<double> fill_;  // per output (NaN = none); empty = no imputation
};

// The metadata the inner loader sees: "inputs" = the pipeline's outputs, "preprocessing"
// without "file"; every other member copied as it is.
std::string InnerMetadata(dom::object doc, const FeaturePipeline& pipeline) {
  std::string out = "{";
  bool first = true;
  auto member = [&](std::string_view key) {
    if (!first) out += ",";
    first = false;
    AppendJsonString(out, key);
    out += ":";
  };
  for (auto field : doc) {
    if (field.key == "inputs") continue;
    if (field.key == "preprocessing") {
      dom::object pre;
      if (field.value.get(pre)) continue;
      member(field.key);
      out += "{";
      bool first_pre = true;
      for (auto p : pre) {
        if (p.key == "file") continue;
        if (!first_pre) out += ",";
        first_pre = false;
        AppendJsonString(out, p.key);
        out.push_back(':');
        out += simdjson::minify(p.value);
      }
      out += "}";
      continue;
    }
    member(field.key);
    out += simdjson::minify(field.value);
  }
  member("inputs");
  std::string inputs;
  JsonWriter j(&inputs);
  j.BeginArray();
  for (const auto& name : pipeline.outputs()) {
    j.BeginObject().Key("name").String(name).Key("type").String("numeric").EndObject();
  }
  j.EndArray();
  out += inputs + "}";
  return out;
}

Result<std::unique_ptr<const ServedModel>> LoadWithPipeline(const ModelArtifact& artifact,
                                                            const ModelLoader& inner) {
  dom::parser parser;
  simdjson::padded_string padded(artifact.metadata_json);
  dom::element doc;
  dom::object top;
  std::string_view file;
  if (parser.parse(padded).get(doc) || doc.get(top) ||
      doc["preprocessing"]["file"].get(file)) {
    return inner(artifact);  // no pipeline (or metadata the inner loader will report on)
  }
  const std::string where = "model '" + artifact.name + "' version " + artifact.version + ": ";
  auto it = artifact.files.find(std::string(file));
  if (it == artifact.files.end()) {
    return Status::NotFound(where + "preprocessing file '" + std::string(file) + "' is missing");
  }
  auto pipeline = FeaturePipeline::FromJson(it->second);
  if (!pipeline.ok()) {
    return Status::Corruption(where + std::string(file) + ": " + pipeline.status().message());
  }
  // The metadata's raw inputs must be the pipeline's.
  dom::array inputs;
  if (!doc["inputs"].get(inputs)) {
    size_t k = 0;
    for (dom::element in : inputs) {
      std::string_view name;
      if (in["name"].get(name) || k >= pipeline->inputs().size() ||
          pipeline->inputs()[k].name != name) {
        return Status::Corruption(where + "metadata inputs differ from the pipeline's");
      }
      ++k;
    }
    if (k != pipeline->inputs().size()) {
      return Status::Corruption(where + "metadata inputs differ from the pipeline's");
    }
  }
  // The trainer's imputation of the pipeline's outputs (null = none), applied here for every
  // inner kind (XGBoost's loader, for one, would pass missing values on as missing).
  std::vector<double> fill;
  dom::array impute;
  if (!doc["preprocessing"]["impute"].get(impute)) {
    for (dom::element v : impute) {
      double d = std::numeric_limits<double>::quiet_NaN();
      if (!v.is_null() && v.get(d)) return Status::Corruption(where + "preprocessing.impute");
      fill.push_back(d);
    }
    if (fill.size() != pipeline->outputs().size()) {
      return Status::Corruption(where + "preprocessing.impute has " + std::to_string(fill.size()) +
                                " values for " + std::to_string(pipeline->outputs().size()) +
                                " pipeline outputs");
    }
  }
  ModelArtifact inner_artifact = artifact;
  inner_artifact.metadata_json = InnerMetadata(top, *pipeline);
  OSPREY_ASSIGN_OR_RETURN(std::unique_ptr<const ServedModel> model, inner(inner_artifact));
  if (model->inputs().size() != pipeline->outputs().size()) {
    return Status::Corruption(where + "the model takes " + std::to_string(model->inputs().size()) +
                              " inputs, the pipeline makes " +
                              std::to_string(pipeline->outputs().size()));
  }
  return std::unique_ptr<const ServedModel>(
      std::make_unique<PipelineServed>(std::move(*pipeline), std::move(model), std::move(fill)));
}

}  // namespace

std::unique_ptr<const ServedModel> MakePipelineModel(FeaturePipeline pipeline,
                                                     std::unique_ptr<const ServedModel> inner) {
  return std::make_unique<PipelineServed>(std::move(pipeline), std::move(inner),
                                          std::vector<double>{});
}

ModelLoader WithFeaturePipeline(ModelLoader inner) {
  return [inner = std::move(inner)](const ModelArtifact& artifact) {
    return LoadWithPipeline(artifact, inner);
  };
}

}  // namespace osprey::models::ml::features
