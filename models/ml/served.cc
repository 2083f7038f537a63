#include "models/ml/served.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <optional>
#include <system_error>
#include <utility>

#include <simdjson.h>

#include "config/base/bytes.h"
#include "models/ml/features/served_pipeline.h"

namespace osprey::models::ml {

namespace {

using Eigen::Index;
constexpr uint8_t kFormatVersion = 1;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

void PutHeader(ByteWriter& w, std::string_view magic, const std::vector<FeatureSpec>& inputs,
               const std::vector<double>& fill) {
  w.PutString(magic);
  w.Put<uint8_t>(kFormatVersion);
  w.PutVarint(inputs.size());
  for (const auto& in : inputs) {
    w.PutString(in.name);
    w.Put<uint8_t>(static_cast<uint8_t>(in.type));
  }
  w.PutVector(fill);
}

void PutMatrix(ByteWriter& w, const Matrix& m) {
  w.PutVarint(static_cast<uint64_t>(m.rows()));
  w.PutVarint(static_cast<uint64_t>(m.cols()));
  for (Index idx = 0; idx < m.size(); ++idx) w.Put<double>(m.data()[idx]);
}

bool GetMatrix(ByteReader& r, Matrix* m) {
  uint64_t rows = 0, cols = 0;
  if (!r.GetVarint(&rows) || !r.GetVarint(&cols) || rows > (1u << 24) || cols > (1u << 24) ||
      rows * cols > (1ull << 28)) {
    return false;
  }
  m->resize(static_cast<Index>(rows), static_cast<Index>(cols));
  for (Index idx = 0; idx < m->size(); ++idx) {
    if (!r.Get<double>(m->data() + idx)) return false;
  }
  return true;
}

bool GetDoubles(ByteReader& r, std::vector<double>* v) {
  uint64_t n = 0;
  if (!r.GetVarint(&n) || n > (1u << 24)) return false;
  v->resize(n);
  for (auto& d : *v) {
    if (!r.Get<double>(&d)) return false;
  }
  return true;
}

Status ReadHeader(ByteReader& r, std::string_view magic, std::vector<FeatureSpec>* inputs,
                  std::vector<double>* fill) {
  std::string m;
  uint8_t version = 0;
  if (!r.GetString(&m) || m != magic) {
    return Status::Corruption(std::string(magic) + ": not a model of this kind");
  }
  if (!r.Get<uint8_t>(&version) || version != kFormatVersion) {
    return Status::Corruption(std::string(magic) + ": unsupported format version " +
                              std::to_string(version));
  }
  uint64_t n = 0;
  if (!r.GetVarint(&n) || n > (1u << 24))
    return Status::Corruption(std::string(magic) + ": inputs");
  inputs->resize(n);
  for (auto& in : *inputs) {
    uint8_t type = 0;
    if (!r.GetString(&in.name) || !r.Get<uint8_t>(&type) || type > 2) {
      return Status::Corruption(std::string(magic) + ": truncated inputs");
    }
    in.type = static_cast<FeatureType>(type);
  }
  if (!GetDoubles(r, fill) || fill->size() != inputs->size()) {
    return Status::Corruption(std::string(magic) + ": fill values");
  }
  return Status::Ok();
}

// The model file's bytes: metadata "model_file" or `default_name`.
Result<const std::string*> ModelFile(const ModelArtifact& artifact, const char* default_name) {
  std::string name = default_name;
  simdjson::dom::parser parser;
  simdjson::padded_string padded(artifact.metadata_json);
  simdjson::dom::element doc;
  std::string_view file;
  if (!parser.parse(padded).get(doc) && !doc["model_file"].get(file)) name = std::string(file);
  auto it = artifact.files.find(name);
  if (it == artifact.files.end()) {
    return Status::NotFound(artifact.kind + " model '" + artifact.name + "': no file '" + name +
                            "'");
  }
  return &it->second;
}

class KMeansServed final : public ServedModel {
 public:
  KMeansServed(KMeansModel model, std::vector<FeatureSpec> inputs, std::vector<double> fill)
      : model_(std::move(model)), inputs_(std::move(inputs)), fill_(std::move(fill)) {}
  std::string_view kind() const override { return "kmeans"; }
  ModelTask task() const override { return ModelTask::kClustering; }
  const std::vector<FeatureSpec>& inputs() const override { return inputs_; }
  Result<std::vector<Prediction>> Predict(std::span<const FeatureRow> rows) const override {
    OSPREY_ASSIGN_OR_RETURN(Matrix x, RowsToMatrix(rows, inputs_, fill_));
    std::vector<int> labels;
    std::vector<double> dist;
    model_.Assign(x, &labels, &dist);
    std::vector<Prediction> out(rows.size());
    for (size_t r = 0; r < rows.size(); ++r) {
      out[r].predicted_label = labels[r];
      out[r].score = dist[r];
    }
    return out;
  }
  size_t memory_bytes() const override {
    return sizeof(*this) + static_cast<size_t>(model_.centroids.size()) * sizeof(double);
  }

 private:
  const KMeansModel model_;
  const std::vector<FeatureSpec> inputs_;
  const std::vector<double> fill_;
};

class PcaServed final : public ServedModel {
 public:
  PcaServed(PcaModel model, std::vector<FeatureSpec> inputs, std::vector<double> fill)
      : model_(std::move(model)), inputs_(std::move(inputs)), fill_(std::move(fill)) {}
  std::string_view kind() const override { return "pca"; }
  ModelTask task() const override { return ModelTask::kProjection; }
  const std::vector<FeatureSpec>& inputs() const override { return inputs_; }
  Result<std::vector<Prediction>> Predict(std::span<const FeatureRow> rows) const override {
    OSPREY_ASSIGN_OR_RETURN(Matrix x, RowsToMatrix(rows, inputs_, fill_));
    Matrix p = model_.Project(x);
    std::vector<Prediction> out(rows.size());
    for (size_t r = 0; r < rows.size(); ++r) {
      const auto row = static_cast<Index>(r);
      out[r].values.assign(p.row(row).data(), p.row(row).data() + p.cols());
      out[r].score = p(row, 0);
    }
    return out;
  }
  size_t memory_bytes() const override {
    return sizeof(*this) + static_cast<size_t>(model_.components.size()) * sizeof(double);
  }

 private:
  const PcaModel model_;
  const std::vector<FeatureSpec> inputs_;
  const std::vector<double> fill_;
};

}  // namespace

Result<Matrix> RowsToMatrix(std::span<const FeatureRow> rows,
                            const std::vector<FeatureSpec>& inputs, const std::vector<double>& fill,
                            bool missing_as_nan) {
  const auto cols = static_cast<Index>(inputs.size());
  Matrix x(static_cast<Index>(rows.size()), cols);
  for (size_t r = 0; r < rows.size(); ++r) {
    const FeatureRow& row = rows[r];
    if (row.size() != inputs.size()) {
      return Status::InvalidArgument("row " + std::to_string(r) + ": " +
                                     std::to_string(row.size()) + " values, expected " +
                                     std::to_string(inputs.size()));
    }
    for (size_t c = 0; c < row.size(); ++c) {
      double v = kNaN;
      if (const double* d = std::get_if<double>(&row[c])) {
        v = *d;
      } else if (const std::string* s = std::get_if<std::string>(&row[c])) {
        auto [ptr, ec] = std::from_chars(s->data(), s->data() + s->size(), v);
        if (ec != std::errc() || ptr != s->data() + s->size()) {
          if (!IsMissingToken(*s)) {
            return Status::InvalidArgument("row " + std::to_string(r) + ", column '" +
                                           inputs[c].name + "': not a number: '" + *s + "'");
          }
          v = kNaN;
        }
      }
      if (std::isnan(v)) {
        v = fill[c];
        if (std::isnan(v) && !missing_as_nan) {
          return Status::InvalidArgument("row " + std::to_string(r) + ", column '" +
                                         inputs[c].name + "': missing value");
        }
      } else if (!std::isfinite(v)) {
        return Status::InvalidArgument("row " + std::to_string(r) + ", column '" + inputs[c].name +
                                       "': not a finite number");
      }
      x(static_cast<Index>(r), static_cast<Index>(c)) = v;
    }
  }
  return x;
}

std::string SaveKMeans(const KMeansModel& model, const std::vector<FeatureSpec>& inputs,
                       const std::vector<double>& fill) {
  std::string out;
  ByteWriter w(&out);
  PutHeader(w, "osprey-kmeans", inputs, fill);
  PutMatrix(w, model.centroids);
  w.Put<double>(model.inertia);
  return out;
}

std::string SavePca(const PcaModel& model, const std::vector<FeatureSpec>& inputs,
                    const std::vector<double>& fill) {
  std::string out;
  ByteWriter w(&out);
  PutHeader(w, "osprey-pca", inputs, fill);
  PutMatrix(w, model.components);
  w.PutVector(std::vector<double>(model.mean.data(), model.mean.data() + model.mean.size()));
  w.PutVector(
      std::vector<double>(model.explained_variance.data(),
                          model.explained_variance.data() + model.explained_variance.size()));
  w.PutVector(std::vector<double>(
      model.explained_variance_ratio.data(),
      model.explained_variance_ratio.data() + model.explained_variance_ratio.size()));
  w.Put<double>(model.total_variance);
  return out;
}

Result<std::unique_ptr<const ServedModel>> LoadKMeansModel(const ModelArtifact& artifact) {
  OSPREY_ASSIGN_OR_RETURN(const std::string* bytes, ModelFile(artifact, kBinaryModelFile));
  ByteReader r(*bytes);
  std::vector<FeatureSpec> inputs;
  std::vector<double> fill;
  OSPREY_RETURN_IF_ERROR(ReadHeader(r, "osprey-kmeans", &inputs, &fill));
  KMeansModel model;
  if (!GetMatrix(r, &model.centroids) || !r.Get<double>(&model.inertia) ||
      model.centroids.rows() < 1 || model.centroids.cols() != static_cast<Index>(inputs.size())) {
    return Status::Corruption("osprey-kmeans: truncated or inconsistent centroids");
  }
  return std::unique_ptr<const ServedModel>(
      std::make_unique<KMeansServed>(std::move(model), std::move(inputs), std::move(fill)));
}

Result<std::unique_ptr<const ServedModel>> LoadPcaModel(const ModelArtifact& artifact) {
  OSPREY_ASSIGN_OR_RETURN(const std::string* bytes, ModelFile(artifact, kBinaryModelFile));
  ByteReader r(*bytes);
  std::vector<FeatureSpec> inputs;
  std::vector<double> fill;
  OSPREY_RETURN_IF_ERROR(ReadHeader(r, "osprey-pca", &inputs, &fill));
  PcaModel model;
  std::vector<double> mean, ev, ratio;
  if (!GetMatrix(r, &model.components) || !GetDoubles(r, &mean) || !GetDoubles(r, &ev) ||
      !GetDoubles(r, &ratio) || !r.Get<double>(&model.total_variance) ||
      model.components.rows() < 1 || model.components.cols() != static_cast<Index>(inputs.size()) ||
      mean.size() != inputs.size() || ev.size() != static_cast<size_t>(model.components.rows()) ||
      ratio.size() != ev.size()) {
    return Status::Corruption("osprey-pca: truncated or inconsistent parameters");
  }
  model.mean = Eigen::Map<Eigen::RowVectorXd>(mean.data(), static_cast<Index>(mean.size()));
  model.explained_variance = Eigen::Map<Eigen::VectorXd>(ev.data(), static_cast<Index>(ev.size()));
  model.explained_variance_ratio =
      Eigen::Map<Eigen::VectorXd>(ratio.data(), static_cast<Index>(ratio.size()));
  return std::unique_ptr<const ServedModel>(
      std::make_unique<PcaServed>(std::move(model), std::move(inputs), std::move(fill)));
}

void RegisterModelKinds(ModelKindRegistry& registry) {
  registry.Register("kmeans", features::WithFeaturePipeline(LoadKMeansModel));
  registry.Register("pca", features::WithFeaturePipeline(LoadPcaModel));
}

}  // namespace osprey::models::ml
