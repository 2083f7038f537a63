#include "models/serving/metadata.h"

#include <charconv>
#include <cmath>
#include <exception>
#include <limits>

#include <nlohmann/json.hpp>

namespace osprey::models {

namespace {

using Json = nlohmann::json;

Result<std::string> StringField(const Json& obj, const char* key, bool required) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    if (required) return Status::InvalidArgument(std::string("metadata: missing \"") + key + "\"");
    return std::string();
  }
  if (!it->is_string()) {
    return Status::InvalidArgument(std::string("metadata: \"") + key + "\" must be a string");
  }
  return it->get<std::string>();
}

}  // namespace

Result<ModelMetadata> ParseMetadata(std::string_view json) {
  Json doc;
  try {
    doc = Json::parse(json);
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("metadata.json is not valid JSON: ") + e.what());
  }
  if (!doc.is_object()) return Status::InvalidArgument("metadata.json must be a JSON object");
  ModelMetadata m;
  if (auto it = doc.find("format_version"); it != doc.end()) {
    if (!it->is_number_integer() || it->get<int64_t>() != 1) {
      return Status::InvalidArgument("metadata: format_version must be 1 (this daemon reads v1)");
    }
  }
  OSPREY_ASSIGN_OR_RETURN(m.name, StringField(doc, "name", false));
  // "version" may be written as a number or a string.
  if (auto it = doc.find("version"); it != doc.end() && it->is_number_integer()) {
    m.version = std::to_string(it->get<int64_t>());
  } else {
    OSPREY_ASSIGN_OR_RETURN(m.version, StringField(doc, "version", false));
  }
  OSPREY_ASSIGN_OR_RETURN(m.kind, StringField(doc, "kind", true));
  OSPREY_ASSIGN_OR_RETURN(std::string task, StringField(doc, "task", true));
  std::optional<ModelTask> parsed = ParseTask(task);
  if (!parsed) {
    return Status::InvalidArgument(
        "metadata: unknown task \"" + task +
        "\" (regression|binary|multiclass|anomaly|clustering|projection)");
  }
  m.task = *parsed;
  OSPREY_ASSIGN_OR_RETURN(m.model_file, StringField(doc, "model_file", false));
  if (auto it = doc.find("inputs"); it != doc.end()) {
    if (!it->is_array()) return Status::InvalidArgument("metadata: \"inputs\" must be an array");
    for (size_t idx = 0; idx < it->size(); ++idx) {
      const Json& in = (*it)[idx];
      const std::string where = "metadata: inputs[" + std::to_string(idx) + "]";
      if (!in.is_object() || !in.contains("name") || !in["name"].is_string()) {
        return Status::InvalidArgument(where + " must be an object with a string \"name\"");
      }
      FeatureSpec spec;
      spec.name = in["name"].get<std::string>();
      if (in.contains("type")) {
        const Json& type = in["type"];
        if (type == "numeric") {
          spec.type = FeatureType::kNumeric;
        } else if (type == "categorical") {
          spec.type = FeatureType::kCategorical;
        } else if (type == "text") {
          spec.type = FeatureType::kText;
        } else {
          return Status::InvalidArgument(where + ".type must be numeric, categorical or text");
        }
      }
      m.inputs.push_back(std::move(spec));
    }
  }
  if (auto it = doc.find("label"); it != doc.end() && it->is_object()) {
    if (auto c = it->find("classes"); c != it->end() && c->is_array()) {
      for (const Json& cls : *c)
        m.classes.push_back(cls.is_string() ? cls.get<std::string>() : cls.dump());
    }
  }
  if (auto pre = doc.find("preprocessing"); pre != doc.end() && pre->is_object()) {
    if (auto imp = pre->find("impute"); imp != pre->end()) {
      if (!imp->is_array() || imp->size() != m.inputs.size()) {
        return Status::InvalidArgument(
            "metadata.json: preprocessing.impute must be an array with one value (or null) per "
            "input (" + std::to_string(m.inputs.size()) + ")");
      }
      for (const Json& v : *imp) {
        if (!v.is_null() && !v.is_number()) {
          return Status::InvalidArgument(
              "metadata.json: preprocessing.impute holds a value that is neither a number nor null");
        }
        m.impute.push_back(v.is_null() ? std::numeric_limits<double>::quiet_NaN()
                                       : v.get<double>());
      }
    }
  }
  return m;
}

Status FillMissing(const std::vector<double>& impute, size_t row_idx,
                   const std::vector<FeatureSpec>& inputs, std::span<double> out) {
  for (size_t col = 0; col < inputs.size(); ++col) {
    if (!std::isnan(out[col])) continue;
    if (col < impute.size() && !std::isnan(impute[col])) {
      out[col] = impute[col];
    } else {
      return Status::InvalidArgument("row " + std::to_string(row_idx) + ", column '" +
                                     inputs[col].name + "': missing value, and the model has no "
                                     "fill value for it");
    }
  }
  return Status::Ok();
}

Status RowToNumbers(const FeatureRow& row, size_t row_idx, const std::vector<FeatureSpec>& inputs,
                    bool allow_missing, std::span<double> out) {
  if (row.size() != inputs.size()) {
    return Status::InvalidArgument("row " + std::to_string(row_idx) + ": expected " +
                                   std::to_string(inputs.size()) + " values, got " +
                                   std::to_string(row.size()));
  }
  for (size_t col = 0; col < row.size(); ++col) {
    const FeatureValue& v = row[col];
    if (const double* d = std::get_if<double>(&v)) {
      out[col] = *d;
    } else if (const std::string* s = std::get_if<std::string>(&v)) {
      double parsed = 0;
      const char* begin = s->data();
      const char* end = begin + s->size();
      while (begin < end && *begin == ' ') ++begin;
      while (end > begin && end[-1] == ' ') --end;
      auto [ptr, ec] = std::from_chars(begin, end, parsed);
      if (ec != std::errc() || ptr != end || begin == end) {
        if (begin == end && allow_missing) {
          out[col] = std::nan("");
          continue;
        }
        return Status::InvalidArgument("row " + std::to_string(row_idx) + ", column '" +
                                       inputs[col].name + "': not a number: \"" + *s + "\"");
      }
      out[col] = parsed;
    } else if (allow_missing) {
      out[col] = std::nan("");
    } else {
      return Status::InvalidArgument("row " + std::to_string(row_idx) + ", column '" +
                                     inputs[col].name + "': missing value");
    }
    if (!allow_missing && !std::isfinite(out[col])) {
      return Status::InvalidArgument("row " + std::to_string(row_idx) + ", column '" +
                                     inputs[col].name + "': not a finite number");
    }
  }
  return Status::Ok();
}

Result<const std::string*> ModelFile(const ModelArtifact& artifact, const ModelMetadata& metadata,
                                     std::string_view fallback) {
  const std::string file =
      metadata.model_file.empty() ? std::string(fallback) : metadata.model_file;
  auto it = artifact.files.find(file);
  if (it == artifact.files.end()) {
    return Status::NotFound(artifact.name + "/" + artifact.version + ": model file '" + file +
                            "' is missing");
  }
  return &it->second;
}

}  // namespace osprey::models
