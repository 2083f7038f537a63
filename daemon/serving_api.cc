#include "daemon/serving_api.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <exception>
#include <span>
#include <string_view>

#include <simdjson.h>

#include "config/base/json_writer.h"

namespace osprey::daemon {

namespace {

using models::FeatureRow;
using models::FeatureValue;
using models::Prediction;

// ---------------------------------------------------------------------------------------------
// Request decoding

// The media type of the request's Content-Type, lowercased, without parameters; "" if absent.
std::string MediaType(const HttpRequest& req, std::string_view header = "content-type") {
  const std::string* value = req.Header(header);
  if (value == nullptr) return "";
  std::string out = value->substr(0, value->find(';'));
  while (!out.empty() && out.back() == ' ') out.pop_back();
  while (!out.empty() && out.front() == ' ') out.erase(out.begin());
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// A decoding failure that maps to one HTTP status.
struct Failure {
  int status = 400;
  std::string message;
};

using Rows = std::vector<FeatureRow>;

simdjson::dom::parser& Parser() {
  thread_local simdjson::dom::parser parser;
  return parser;
}

bool ToValue(simdjson::dom::element e, FeatureValue* out) {
  switch (e.type()) {
    case simdjson::dom::element_type::DOUBLE:
      *out = double(e.get_double().value_unsafe());
      return true;
    case simdjson::dom::element_type::INT64:
      *out = static_cast<double>(e.get_int64().value_unsafe());
      return true;
    case simdjson::dom::element_type::UINT64:
      *out = static_cast<double>(e.get_uint64().value_unsafe());
      return true;
    case simdjson::dom::element_type::BOOL:
      *out = e.get_bool().value_unsafe() ? 1.0 : 0.0;
      return true;
    case simdjson::dom::element_type::STRING:
      *out = std::string(e.get_string().value_unsafe());
      return true;
    case simdjson::dom::element_type::NULL_VALUE:
      *out = std::monostate();
      return true;
    default:
      return false;
  }
}

std::string InputNames(const std::vector<models::FeatureSpec>& inputs) {
  std::string out;
  for (const auto& in : inputs) out += (out.empty() ? "" : ", ") + in.name;
  return out;
}

// One instance: an array (by position), {"features": [...]} (SageMaker), or an object by input
// name.
std::optional<Failure> DecodeInstance(simdjson::dom::element e, size_t idx,
                                      const std::vector<models::FeatureSpec>& inputs,
                                      FeatureRow* row) {
  const std::string where = "instance " + std::to_string(idx);
  if (e.is_object()) {
    simdjson::dom::object obj = e.get_object().value_unsafe();
    simdjson::dom::element features;
    if (obj.size() == 1 && obj["features"].get(features) == simdjson::SUCCESS) {
      if (!features.is_array()) return Failure{400, where + ": \"features\" must be an array"};
      e = features;
    } else {
      row->assign(inputs.size(), FeatureValue());
      for (auto field : obj) {
        auto it = std::find_if(inputs.begin(), inputs.end(),
                               [&](const auto& in) { return in.name == field.key; });
        if (it == inputs.end()) {
          return Failure{400, where + ": unknown input '" + std::string(field.key) +
                                  "' (the model's inputs: " + InputNames(inputs) + ")"};
        }
        if (!ToValue(field.value, &(*row)[it - inputs.begin()])) {
          return Failure{400, where + ", input '" + std::string(field.key) +
                                  "': expected a number, string or null"};
        }
      }
      return std::nullopt;
    }
  }
  if (!e.is_array()) {
    return Failure{400, where + ": expected an array of values or an object of named inputs"};
  }
  row->clear();
  const simdjson::dom::array values = e.get_array().value_unsafe();  // a view: copy it out
  for (simdjson::dom::element v : values) {
    FeatureValue value;
    if (!ToValue(v, &value)) {
      return Failure{400, where + ", value " + std::to_string(row->size()) +
                              ": expected a number, string or null"};
    }
    row->push_back(std::move(value));
  }
  return std::nullopt;
}

std::optional<Failure> TooMany(size_t rows, size_t max_rows) {
  if (rows <= max_rows) return std::nullopt;
  return Failure{413, "too many instances: " + std::to_string(rows) + " > models.max_batch_rows " +
                          std::to_string(max_rows) + "; split the batch"};
}

// application/json: {"instances": [...]} or a bare array of instances.
std::optional<Failure> DecodeJson(std::string_view body,
                                  const std::vector<models::FeatureSpec>& inputs, size_t max_rows,
                                  Rows* rows) {
  simdjson::dom::element root;
  if (auto error = Parser().parse(body.data(), body.size()).get(root)) {
    return Failure{400, std::string("malformed JSON: ") + simdjson::error_message(error)};
  }
  simdjson::dom::array instances;
  if (root.is_array()) {
    instances = root.get_array().value_unsafe();
  } else if (!root.is_object() ||
             root["instances"].get_array().get(instances) != simdjson::SUCCESS) {
    return Failure{400,
                   "expected {\"instances\": [...]} (each an array of values, an object of "
                   "named inputs, or {\"features\": [...]})"};
  }
  if (auto f = TooMany(instances.size(), max_rows)) return f;
  rows->resize(instances.size());
  size_t idx = 0;
  for (simdjson::dom::element e : instances) {
    if (auto f = DecodeInstance(e, idx, inputs, &(*rows)[idx])) return f;
    ++idx;
  }
  return std::nullopt;
}

// application/jsonlines: one instance per line.
std::optional<Failure> DecodeJsonLines(std::string_view body,
                                       const std::vector<models::FeatureSpec>& inputs,
                                       size_t max_rows, Rows* rows) {
  size_t line_no = 0;
  while (!body.empty()) {
    const size_t nl = body.find('\n');
    std::string_view line = body.substr(0, nl);
    body = nl == std::string_view::npos ? std::string_view() : body.substr(nl + 1);
    ++line_no;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (line.empty()) continue;
    if (auto f = TooMany(rows->size() + 1, max_rows)) return f;
    simdjson::dom::element e;
    if (auto error = Parser().parse(line.data(), line.size()).get(e)) {
      return Failure{400, "line " + std::to_string(line_no) +
                              ": malformed JSON: " + simdjson::error_message(error)};
    }
    FeatureRow row;
    if (auto f = DecodeInstance(e, rows->size(), inputs, &row)) return f;
    rows->push_back(std::move(row));
  }
  return std::nullopt;
}

// text/csv: one instance per line, no header, values by position; an empty field is missing.
std::optional<Failure> DecodeCsv(std::string_view body, size_t max_rows, Rows* rows) {
  size_t line_no = 0;
  while (!body.empty()) {
    const size_t nl = body.find('\n');
    std::string_view line = body.substr(0, nl);
    body = nl == std::string_view::npos ? std::string_view() : body.substr(nl + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    if (auto f = TooMany(rows->size() + 1, max_rows)) return f;
    FeatureRow row;
    while (true) {
      const size_t comma = line.find(',');
      std::string_view field = line.substr(0, comma);
      while (!field.empty() && field.front() == ' ') field.remove_prefix(1);
      while (!field.empty() && field.back() == ' ') field.remove_suffix(1);
      if (field.size() >= 2 && field.front() == '"' && field.back() == '"') {
        field = field.substr(1, field.size() - 2);
      } else if (field.find('"') != std::string_view::npos) {
        return Failure{400, "line " + std::to_string(line_no) + ": malformed CSV quoting"};
      }
      double number = 0;
      auto [ptr, ec] = std::from_chars(field.data(), field.data() + field.size(), number);
      if (field.empty()) {
        row.emplace_back(std::monostate());
      } else if (ec == std::errc() && ptr == field.data() + field.size()) {
        row.emplace_back(number);
      } else {
        row.emplace_back(std::string(field));
      }
      if (comma == std::string_view::npos) break;
      line.remove_prefix(comma + 1);
    }
    rows->push_back(std::move(row));
  }
  return std::nullopt;
}

// Decodes `req.body` by its Content-Type (json, jsonlines, csv as `allowed`).
std::optional<Failure> DecodeBody(const HttpRequest& req,
                                  const std::vector<models::FeatureSpec>& inputs, size_t max_rows,
                                  bool allow_csv_and_lines, Rows* rows) {
  const std::string type = MediaType(req);
  if (type == "application/json" || (type.empty() && !allow_csv_and_lines)) {
    return DecodeJson(req.body, inputs, max_rows, rows);
  }
  if (allow_csv_and_lines && (type == "application/jsonlines" ||
                              type == "application/x-jsonlines" || type == "application/jsonl")) {
    return DecodeJsonLines(req.body, inputs, max_rows, rows);
  }
  if (allow_csv_and_lines && type == "text/csv") return DecodeCsv(req.body, max_rows, rows);
  return Failure{415, "unsupported Content-Type '" + type + "'; send " +
                          (allow_csv_and_lines ? "text/csv, application/json or "
                                                 "application/jsonlines"
                                               : "application/json")};
}

HttpResponse FailureResponse(const Failure& f) { return HttpResponse::Error(f.status, f.message); }

// ---------------------------------------------------------------------------------------------
// Model lookup

std::optional<int64_t> ParseVersion(std::string_view s) {
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || v <= 0) return std::nullopt;
  return v;
}

// The model version a request names: `version` empty = the latest. 404 Failure when unknown.
std::variant<std::shared_ptr<const LoadedModel>, Failure> Resolve(const ModelRegistry& registry,
                                                                  const std::string& name,
                                                                  const std::string& version) {
  const auto snap = registry.snapshot();
  auto it = snap->models.find(name);
  if (it == snap->models.end()) {
    std::string known;
    for (const auto& [n, v] : snap->models) known += (known.empty() ? "" : ", ") + n;
    return Failure{404, "unknown model '" + name + "'" +
                            (known.empty() ? std::string("; the registry is empty")
                                           : "; known models: " + known)};
  }
  if (version.empty()) return it->second.rbegin()->second;
  const std::optional<int64_t> v = ParseVersion(version);
  auto vit = v ? it->second.find(*v) : it->second.end();
  if (vit == it->second.end()) {
    std::string known;
    for (const auto& [n, m] : it->second) known += (known.empty() ? "" : ", ") + std::to_string(n);
    return Failure{
        404, "model '" + name + "' has no version '" + version + "' (versions: " + known + ")"};
  }
  return vit->second;
}

// Runs the model; an InvalidArgument from the model is the client's fault (400).
std::variant<std::vector<Prediction>, Failure> Run(const LoadedModel& m, const Rows& rows) {
  Result<std::vector<Prediction>> out = m.model->Predict(std::span<const FeatureRow>(rows));
  if (out.ok()) return std::move(*out);
  const bool client = out.status().code() == Status::Code::kInvalidArgument;
  return Failure{client ? 400 : 500, out.status().message()};
}

// ---------------------------------------------------------------------------------------------
// Response encoding

void WritePrediction(JsonWriter& w, const LoadedModel& m, const Prediction& p) {
  w.BeginObject();
  w.Key("score").Double(p.score);
  if (p.predicted_label) {
    w.Key("predicted_label").Int(*p.predicted_label);
    const auto& classes = m.metadata.classes;
    if (*p.predicted_label >= 0 && static_cast<size_t>(*p.predicted_label) < classes.size()) {
      w.Key("label").String(classes[*p.predicted_label]);
    }
  }
  if (!p.probabilities.empty()) {
    w.Key("probabilities").BeginArray();
    for (double v : p.probabilities) w.Double(v);
    w.EndArray();
  }
  if (!p.values.empty()) {
    w.Key(m.model->task() == models::ModelTask::kAnomaly ? "attribution" : "values").BeginArray();
    for (double v : p.values) w.Double(v);
    w.EndArray();
  }
  for (const auto& [key, value] : p.extra) w.Key(key).Double(value);
  w.EndObject();
}

void WriteModelSummary(JsonWriter& w, const LoadedModel& m, bool with_metadata) {
  w.BeginObject();
  w.Key("version").Int(m.version);
  w.Key("kind").String(m.metadata.kind);
  w.Key("task").String(models::TaskName(m.model->task()));
  w.Key("loaded_at_ms").Int(m.loaded_at_ms);
  w.Key("memory_bytes").Int(static_cast<int64_t>(m.model->memory_bytes()));
  w.Key("inputs").BeginArray();
  for (const auto& in : m.model->inputs()) w.String(in.name);
  w.EndArray();
  if (with_metadata) w.Key("metadata").Raw(m.metadata_json);
  w.EndObject();
}

// SageMaker built-in algorithm response shapes: {"predictions": [{"score", "predicted_label"}]}
// (linear learner, xgboost), {"scores": [{"score"}]} (rcf), {"predictions": [{"closest_cluster",
// "distance_to_cluster"}]} (k-means), {"projections": [{"projection": [...]}]} (pca).
HttpResponse SageMakerResponse(const HttpRequest& req, const LoadedModel& m,
                               const std::vector<Prediction>& preds) {
  const std::string accept = MediaType(req, "accept");
  const models::ModelTask task = m.model->task();
  const bool rcf = task == models::ModelTask::kAnomaly;
  const bool kmeans = task == models::ModelTask::kClustering;
  const bool pca = task == models::ModelTask::kProjection;
  auto record = [&](JsonWriter& w, const Prediction& p) {
    w.BeginObject();
    if (kmeans) {
      w.Key("closest_cluster").Int(p.predicted_label.value_or(-1));
      w.Key("distance_to_cluster").Double(p.score);
    } else if (pca) {
      w.Key("projection").BeginArray();
      for (double v : p.values) w.Double(v);
      w.EndArray();
    } else if (!p.probabilities.empty()) {
      w.Key("score").BeginArray();
      for (double v : p.probabilities) w.Double(v);
      w.EndArray();
    } else {
      w.Key("score").Double(p.score);
    }
    if (!rcf && !kmeans && !pca && p.predicted_label) {
      w.Key("predicted_label").Int(*p.predicted_label);
    }
    w.EndObject();
  };
  std::string body;
  if (accept == "text/csv") {
    for (const Prediction& p : preds) {
      JsonWriter w(&body);
      const std::vector<double>& row = pca ? p.values : p.probabilities;
      if (kmeans) {
        w.Int(p.predicted_label.value_or(-1));
        body += ',';
        JsonWriter(&body).Double(p.score);
      } else if (!row.empty()) {
        for (size_t k = 0; k < row.size(); ++k) {
          if (k > 0) body += ',';
          JsonWriter(&body).Double(row[k]);
        }
      } else {
        w.Double(p.score);
      }
      body += '\n';
    }
    return HttpResponse::Text(200, std::move(body), "text/csv");
  }
  if (accept == "application/jsonlines") {
    for (const Prediction& p : preds) {
      JsonWriter w(&body);
      record(w, p);
      body += '\n';
    }
    return HttpResponse::Text(200, std::move(body), "application/jsonlines");
  }
  JsonWriter w(&body);
  w.BeginObject().Key(rcf ? "scores" : pca ? "projections" : "predictions").BeginArray();
  for (const Prediction& p : preds) record(w, p);
  w.EndArray().EndObject();
  return HttpResponse::Json(200, std::move(body));
}

// ---------------------------------------------------------------------------------------------
// KServe v2

void WriteV2Metadata(JsonWriter& w, const std::string& name,
                     const std::map<int64_t, std::shared_ptr<const LoadedModel>>& versions,
                     const LoadedModel& m) {
  w.BeginObject();
  w.Key("name").String(name);
  w.Key("versions").BeginArray();
  for (const auto& [v, model] : versions) w.String(std::to_string(v));
  w.EndArray();
  w.Key("platform").String("osprey_" + m.metadata.kind);
  w.Key("inputs").BeginArray();
  w.BeginObject().Key("name").String("input").Key("datatype").String("FP64");
  w.Key("shape").BeginArray().Int(-1).Int(static_cast<int64_t>(m.model->inputs().size()));
  w.EndArray().EndObject();
  w.EndArray();
  w.Key("outputs").BeginArray();
  w.BeginObject().Key("name").String("score").Key("datatype").String("FP64");
  w.Key("shape").BeginArray().Int(-1).EndArray().EndObject();
  w.EndArray();
  w.EndObject();
}

// {"inputs":[{"name","shape","datatype","data"}]}: one tensor [N, F] (any name), or F tensors
// of shape [N] / [N, 1] named after the model's inputs.
std::optional<Failure> DecodeV2(std::string_view body,
                                const std::vector<models::FeatureSpec>& inputs, size_t max_rows,
                                Rows* rows, std::string* id) {
  simdjson::dom::element root;
  if (auto error = Parser().parse(body.data(), body.size()).get(root)) {
    return Failure{400, std::string("malformed JSON: ") + simdjson::error_message(error)};
  }
  simdjson::dom::array tensors;
  if (!root.is_object() || root["inputs"].get_array().get(tensors) != simdjson::SUCCESS ||
      tensors.size() == 0) {
    return Failure{400, "expected {\"inputs\": [{\"name\", \"shape\", \"datatype\", \"data\"}]}"};
  }
  std::string_view id_view;
  if (root["id"].get_string().get(id_view) == simdjson::SUCCESS) *id = std::string(id_view);
  struct Tensor {
    std::string name;
    std::vector<int64_t> shape;
    std::vector<FeatureValue> data;  // flattened, row-major
  };
  std::vector<Tensor> parsed;
  for (simdjson::dom::element t : tensors) {
    Tensor out;
    std::string_view name;
    simdjson::dom::array shape, data;
    if (!t.is_object() || t["name"].get_string().get(name) != simdjson::SUCCESS ||
        t["shape"].get_array().get(shape) != simdjson::SUCCESS ||
        t["data"].get_array().get(data) != simdjson::SUCCESS) {
      return Failure{400, "each input tensor needs \"name\", \"shape\" and \"data\""};
    }
    out.name = std::string(name);
    for (simdjson::dom::element d : shape) {
      int64_t dim = 0;
      if (d.get_int64().get(dim) != simdjson::SUCCESS || dim < 0) {
        return Failure{400, "tensor '" + out.name + "': shape must be non-negative integers"};
      }
      out.shape.push_back(dim);
    }
    // data may be flat or nested.
    std::vector<simdjson::dom::array> stack{data};
    std::vector<simdjson::dom::element> flat;
    auto flatten = [&](auto&& self, simdjson::dom::array a) -> bool {
      for (simdjson::dom::element e : a) {
        if (e.is_array()) {
          if (!self(self, e.get_array().value_unsafe())) return false;
        } else {
          FeatureValue v;
          if (!ToValue(e, &v)) return false;
          out.data.push_back(std::move(v));
        }
      }
      return true;
    };
    if (!flatten(flatten, data)) {
      return Failure{400, "tensor '" + out.name + "': data must hold numbers"};
    }
    int64_t count = 1;
    for (int64_t dim : out.shape) count *= dim;
    if (out.shape.empty() || count != static_cast<int64_t>(out.data.size())) {
      return Failure{400, "tensor '" + out.name + "': shape does not match the data's " +
                              std::to_string(out.data.size()) + " values"};
    }
    parsed.push_back(std::move(out));
  }
  const size_t cols = inputs.size();
  if (parsed.size() == 1 && parsed[0].shape.size() == 2) {
    const Tensor& t = parsed[0];
    if (static_cast<size_t>(t.shape[1]) != cols) {
      return Failure{400, "tensor '" + t.name + "' has " + std::to_string(t.shape[1]) +
                              " columns; the model takes " + std::to_string(cols)};
    }
    if (auto f = TooMany(t.shape[0], max_rows)) return f;
    rows->assign(t.shape[0], FeatureRow(cols));
    for (size_t r = 0; r < rows->size(); ++r) {
      for (size_t c = 0; c < cols; ++c) (*rows)[r][c] = t.data[r * cols + c];
    }
    return std::nullopt;
  }
  // One tensor per input, by name.
  size_t n = parsed[0].shape[0];
  if (auto f = TooMany(n, max_rows)) return f;
  rows->assign(n, FeatureRow(cols));
  std::vector<bool> seen(cols, false);
  for (const Tensor& t : parsed) {
    auto it = std::find_if(inputs.begin(), inputs.end(),
                           [&](const auto& in) { return in.name == t.name; });
    if (it == inputs.end()) {
      return Failure{400, "unknown input tensor '" + t.name +
                              "' (the model's inputs: " + InputNames(inputs) + ", or one [N, " +
                              std::to_string(cols) + "] tensor)"};
    }
    if (t.data.size() != n) {
      return Failure{400, "input tensors must all hold " + std::to_string(n) + " values"};
    }
    const size_t c = it - inputs.begin();
    seen[c] = true;
    for (size_t r = 0; r < n; ++r) (*rows)[r][c] = t.data[r];
  }
  for (size_t c = 0; c < cols; ++c) {
    if (!seen[c]) return Failure{400, "missing input tensor '" + inputs[c].name + "'"};
  }
  return std::nullopt;
}

HttpResponse V2Response(const LoadedModel& m, const std::string& id,
                        const std::vector<Prediction>& preds) {
  std::string body;
  JsonWriter w(&body);
  w.BeginObject();
  w.Key("model_name").String(m.name);
  w.Key("model_version").String(std::to_string(m.version));
  if (!id.empty()) w.Key("id").String(id);
  w.Key("outputs").BeginArray();
  w.BeginObject().Key("name").String("score").Key("datatype").String("FP64");
  w.Key("shape").BeginArray().Int(static_cast<int64_t>(preds.size())).EndArray();
  w.Key("data").BeginArray();
  for (const Prediction& p : preds) w.Double(p.score);
  w.EndArray().EndObject();
  if (!preds.empty() && preds[0].predicted_label) {
    w.BeginObject().Key("name").String("predicted_label").Key("datatype").String("INT64");
    w.Key("shape").BeginArray().Int(static_cast<int64_t>(preds.size())).EndArray();
    w.Key("data").BeginArray();
    for (const Prediction& p : preds) w.Int(p.predicted_label.value_or(-1));
    w.EndArray().EndObject();
  }
  if (!preds.empty() && !preds[0].probabilities.empty()) {
    const size_t k = preds[0].probabilities.size();
    w.BeginObject().Key("name").String("probabilities").Key("datatype").String("FP64");
    w.Key("shape")
        .BeginArray()
        .Int(static_cast<int64_t>(preds.size()))
        .Int(static_cast<int64_t>(k));
    w.EndArray().Key("data").BeginArray();
    for (const Prediction& p : preds) {
      for (size_t c = 0; c < k; ++c) w.Double(c < p.probabilities.size() ? p.probabilities[c] : 0);
    }
    w.EndArray().EndObject();
  }
  w.EndArray().EndObject();
  return HttpResponse::Json(200, std::move(body));
}

// ---------------------------------------------------------------------------------------------

class ServingApi {
 public:
  ServingApi(ModelRegistry& registry, LiveKeyScorer* live) : registry_(registry), live_(live) {}

  size_t max_rows() const { return static_cast<size_t>(registry_.options().max_batch_rows); }

  HttpResponse ListModels() const {
    const auto snap = registry_.snapshot();
    std::string body;
    JsonWriter w(&body);
    w.BeginObject().Key("models").BeginArray();
    for (const auto& [name, versions] : snap->models) {
      const LoadedModel& latest = *versions.rbegin()->second;
      w.BeginObject();
      w.Key("name").String(name);
      w.Key("latest_version").Int(latest.version);
      w.Key("kind").String(latest.metadata.kind);
      w.Key("task").String(models::TaskName(latest.model->task()));
      w.Key("versions").BeginArray();
      for (const auto& [v, m] : versions) w.Int(v);
      w.EndArray();
      w.EndObject();
    }
    w.EndArray();
    w.Key("errors").BeginArray();
    for (const std::string& e : snap->errors) w.String(e);
    w.EndArray();
    w.EndObject();
    return HttpResponse::Json(200, std::move(body));
  }

  HttpResponse DescribeModel(const std::string& name) const {
    const auto snap = registry_.snapshot();
    auto it = snap->models.find(name);
    if (it == snap->models.end()) {
      return FailureResponse(std::get<Failure>(Resolve(registry_, name, "")));
    }
    std::string body;
    JsonWriter w(&body);
    w.BeginObject();
    w.Key("name").String(name);
    w.Key("latest_version").Int(it->second.rbegin()->first);
    w.Key("versions").BeginArray();
    for (const auto& [v, m] : it->second) WriteModelSummary(w, *m, true);
    w.EndArray();
    w.EndObject();
    return HttpResponse::Json(200, std::move(body));
  }

  HttpResponse Predict(const HttpRequest& req, const std::string& version) const {
    auto resolved = Resolve(registry_, req.path_params.at("name"), version);
    if (auto* f = std::get_if<Failure>(&resolved)) return FailureResponse(*f);
    const auto model = std::get<std::shared_ptr<const LoadedModel>>(std::move(resolved));
    Rows rows;
    if (auto f = DecodeBody(req, model->model->inputs(), max_rows(), false, &rows)) {
      return FailureResponse(*f);
    }
    auto preds = Run(*model, rows);
    if (auto* f = std::get_if<Failure>(&preds)) return FailureResponse(*f);
    std::string body;
    JsonWriter w(&body);
    w.BeginObject();
    w.Key("model").String(model->name);
    w.Key("version").Int(model->version);
    w.Key("predictions").BeginArray();
    for (const Prediction& p : std::get<std::vector<Prediction>>(preds)) {
      WritePrediction(w, *model, p);
    }
    w.EndArray().EndObject();
    return HttpResponse::Json(200, std::move(body));
  }

  HttpResponse Invocations(const HttpRequest& req) const {
    std::string name;
    std::string version;
    if (const std::string* target = req.Header("x-amzn-sagemaker-target-model")) {
      // "name", "name/version", or SageMaker's multi-model "name.tar.gz".
      name = *target;
      constexpr std::string_view kArchive = ".tar.gz";
      if (name.size() > kArchive.size() &&
          name.compare(name.size() - kArchive.size(), kArchive.size(), kArchive) == 0) {
        name.resize(name.size() - kArchive.size());
      }
      const size_t slash = name.find('/');
      if (slash != std::string::npos) {
        version = name.substr(slash + 1);
        name.resize(slash);
      }
    } else if (!registry_.options().default_model.empty()) {
      name = registry_.options().default_model;
    } else {
      const auto snap = registry_.snapshot();
      if (snap->models.size() != 1) {
        return HttpResponse::Error(
            404,
            "no model named: set the X-Amzn-SageMaker-Target-Model header or "
            "models.default_model (the registry holds " +
                std::to_string(snap->models.size()) + " models)");
      }
      name = snap->models.begin()->first;
    }
    auto resolved = Resolve(registry_, name, version);
    if (auto* f = std::get_if<Failure>(&resolved)) return FailureResponse(*f);
    const auto model = std::get<std::shared_ptr<const LoadedModel>>(std::move(resolved));
    Rows rows;
    if (auto f = DecodeBody(req, model->model->inputs(), max_rows(), true, &rows)) {
      return FailureResponse(*f);
    }
    auto preds = Run(*model, rows);
    if (auto* f = std::get_if<Failure>(&preds)) return FailureResponse(*f);
    return SageMakerResponse(req, *model, std::get<std::vector<Prediction>>(preds));
  }

  HttpResponse V2Metadata(const HttpRequest& req, const std::string& version) const {
    auto resolved = Resolve(registry_, req.path_params.at("model"), version);
    if (auto* f = std::get_if<Failure>(&resolved)) return FailureResponse(*f);
    const auto model = std::get<std::shared_ptr<const LoadedModel>>(std::move(resolved));
    const auto snap = registry_.snapshot();
    std::map<int64_t, std::shared_ptr<const LoadedModel>> versions{{model->version, model}};
    if (auto it = snap->models.find(model->name); it != snap->models.end()) versions = it->second;
    std::string body;
    JsonWriter w(&body);
    WriteV2Metadata(w, model->name, versions, *model);
    return HttpResponse::Json(200, std::move(body));
  }

  HttpResponse V2Ready(const HttpRequest& req, const std::string& version) const {
    auto resolved = Resolve(registry_, req.path_params.at("model"), version);
    if (auto* f = std::get_if<Failure>(&resolved)) return FailureResponse(*f);
    return HttpResponse::Json(200, R"({"ready":true})");
  }

  HttpResponse V2Infer(const HttpRequest& req, const std::string& version) const {
    auto resolved = Resolve(registry_, req.path_params.at("model"), version);
    if (auto* f = std::get_if<Failure>(&resolved)) return FailureResponse(*f);
    const auto model = std::get<std::shared_ptr<const LoadedModel>>(std::move(resolved));
    const std::string type = MediaType(req);
    if (!type.empty() && type != "application/json") {
      return HttpResponse::Error(
          415, "unsupported Content-Type '" + type + "'; the v2 protocol takes application/json");
    }
    Rows rows;
    std::string id;
    if (auto f = DecodeV2(req.body, model->model->inputs(), max_rows(), &rows, &id)) {
      return FailureResponse(*f);
    }
    auto preds = Run(*model, rows);
    if (auto* f = std::get_if<Failure>(&preds)) return FailureResponse(*f);
    return V2Response(*model, id, std::get<std::vector<Prediction>>(preds));
  }

  HttpResponse Reload() const {
    ModelRegistry::ReloadReport report = registry_.Reload();
    std::string body;
    JsonWriter w(&body);
    w.BeginObject();
    w.Key("loaded").Int(report.loaded);
    w.Key("unchanged").Int(report.unchanged);
    w.Key("removed").Int(report.removed);
    w.Key("errors").BeginArray();
    for (const std::string& e : report.errors) w.String(e);
    w.EndArray().EndObject();
    return HttpResponse::Json(200, std::move(body));
  }

  HttpResponse ScoreKey(const HttpRequest& req) const {
    if (live_ == nullptr) return HttpResponse::Error(404, "live key scoring is not available");
    const std::string type = MediaType(req);
    if (!type.empty() && type != "application/json") {
      return HttpResponse::Error(415,
                                 "unsupported Content-Type '" + type + "'; send application/json");
    }
    simdjson::dom::element root;
    if (auto error = Parser().parse(req.body.data(), req.body.size()).get(root)) {
      return HttpResponse::Error(400,
                                 std::string("malformed JSON: ") + simdjson::error_message(error));
    }
    simdjson::dom::array points;
    if (!root.is_object() || root["points"].get_array().get(points) != simdjson::SUCCESS) {
      return HttpResponse::Error(400, "expected {\"points\": [[v1, v2, ...], ...]}");
    }
    if (points.size() == 0) return HttpResponse::Error(400, "\"points\" must not be empty");
    if (points.size() > max_rows()) {
      return FailureResponse(*TooMany(points.size(), max_rows()));
    }
    std::vector<std::vector<double>> values;
    for (simdjson::dom::element p : points) {
      simdjson::dom::array arr;
      if (p.get_array().get(arr) != simdjson::SUCCESS) {
        return HttpResponse::Error(
            400, "point " + std::to_string(values.size()) + ": expected an array of numbers");
      }
      auto& row = values.emplace_back();
      for (simdjson::dom::element v : arr) {
        double d = 0;
        if (v.get_double().get(d) != simdjson::SUCCESS) {
          int64_t i = 0;
          if (v.get_int64().get(i) != simdjson::SUCCESS) {
            return HttpResponse::Error(
                400, "point " + std::to_string(values.size() - 1) + ": expected numbers");
          }
          d = static_cast<double>(i);
        }
        row.push_back(d);
      }
    }
    Result<std::string> results =
        live_->ScoreKey(req.path_params.at("pipeline"), req.path_params.at("key"), values);
    if (!results.ok()) {
      const bool not_found = results.status().code() == Status::Code::kNotFound;
      return HttpResponse::Error(not_found ? 404 : 400, results.status().message());
    }
    return HttpResponse::Json(200, "{\"results\":" + *results + "}");
  }

 private:
  ModelRegistry& registry_;
  LiveKeyScorer* live_;
};

}  // namespace

void AddServingRoutes(HttpRouter& router, ModelRegistry& registry, LiveKeyScorer* live) {
  auto api = std::make_shared<const ServingApi>(registry, live);
  router.Add("GET", "/v1/models", [api](const HttpRequest&) { return api->ListModels(); });
  router.Add("GET", "/v1/models/{name}", [api](const HttpRequest& req) {
    return api->DescribeModel(req.path_params.at("name"));
  });
  router.Add("POST", "/v1/models/{name}:predict",
             [api](const HttpRequest& req) { return api->Predict(req, ""); });
  router.Add("POST", "/v1/models/{name}/versions/{version}:predict", [api](const HttpRequest& req) {
    return api->Predict(req, req.path_params.at("version"));
  });
  router.Add("POST", "/v1/admin/models/reload",
             [api](const HttpRequest&) { return api->Reload(); });
  router.Add("POST", "/v1/pipelines/{pipeline}/keys/{key}:score",
             [api](const HttpRequest& req) { return api->ScoreKey(req); });

  // SageMaker hosting.
  router.Add("GET", "/ping", [](const HttpRequest&) { return HttpResponse::Json(200, "{}"); });
  router.Add("POST", "/invocations",
             [api](const HttpRequest& req) { return api->Invocations(req); });

  // KServe Open Inference Protocol v2.
  router.Add("GET", "/v2/health/live",
             [](const HttpRequest&) { return HttpResponse::Json(200, R"({"live":true})"); });
  router.Add("GET", "/v2/health/ready",
             [](const HttpRequest&) { return HttpResponse::Json(200, R"({"ready":true})"); });
  router.Add("GET", "/v2", [](const HttpRequest&) {
    return HttpResponse::Json(200, R"({"name":"osprey","version":"0.1.0","extensions":[]})");
  });
  router.Add("GET", "/v2/models/{model}",
             [api](const HttpRequest& req) { return api->V2Metadata(req, ""); });
  router.Add("GET", "/v2/models/{model}/versions/{version}", [api](const HttpRequest& req) {
    return api->V2Metadata(req, req.path_params.at("version"));
  });
  router.Add("GET", "/v2/models/{model}/ready",
             [api](const HttpRequest& req) { return api->V2Ready(req, ""); });
  router.Add("GET", "/v2/models/{model}/versions/{version}/ready", [api](const HttpRequest& req) {
    return api->V2Ready(req, req.path_params.at("version"));
  });
  router.Add("POST", "/v2/models/{model}/infer",
             [api](const HttpRequest& req) { return api->V2Infer(req, ""); });
  router.Add("POST", "/v2/models/{model}/versions/{version}/infer", [api](const HttpRequest& req) {
    return api->V2Infer(req, req.path_params.at("version"));
  });
}

}  // namespace osprey::daemon
