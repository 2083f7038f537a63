#include "tests/integration/served_as_trained.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <optional>
#include <sstream>

#include <gtest/gtest.h>
#include <simdjson.h>

#include "daemon/trainer/registry_files.h"
#include "models/serving/builtin_kinds.h"
#include "tests/integration/harness.h"
#include "tests/testing/http_client.h"

namespace osprey::testing {

namespace {

// What one row is expected to be served as.
struct Expected {
  std::optional<int> label;    // predicted_label (binary) or closest_cluster (k-means)
  std::vector<double> values;  // score, distance_to_cluster, or the projection
};

std::optional<double> Number(simdjson::dom::element e) {
  double d = 0;
  if (e.get_double().get(d) == simdjson::SUCCESS) return d;
  int64_t i = 0;
  if (e.get_int64().get(i) == simdjson::SUCCESS) return static_cast<double>(i);
  return std::nullopt;
}

std::optional<int> Integer(simdjson::dom::element e) {
  int64_t i = 0;
  if (e.get_int64().get(i) == simdjson::SUCCESS) return static_cast<int>(i);
  return std::nullopt;
}

// The served prediction of one row, as read from a response object.
struct Served {
  std::optional<int> label;
  std::vector<double> values;
};

std::string Describe(const std::vector<double>& v) {
  std::ostringstream out;
  out.precision(17);
  for (size_t k = 0; k < v.size(); ++k) out << (k ? "," : "") << v[k];
  return out.str();
}

// Compares one route's predictions with the trainer's; reports the first mismatching row.
void Compare(const std::string& what, const std::vector<Served>& served,
             const std::vector<Expected>& expected, double tolerance) {
  ASSERT_EQ(served.size(), expected.size()) << what;
  for (size_t r = 0; r < served.size(); ++r) {
    const Served& s = served[r];
    const Expected& e = expected[r];
    bool same = s.label == e.label && s.values.size() == e.values.size();
    for (size_t k = 0; same && k < e.values.size(); ++k) {
      same =
          std::abs(s.values[k] - e.values[k]) <= tolerance * std::max(1.0, std::abs(e.values[k]));
    }
    if (!same) {
      ADD_FAILURE() << what << ", row " << r << ": served label "
                    << (s.label ? std::to_string(*s.label) : "none") << " values ["
                    << Describe(s.values) << "], trainer label "
                    << (e.label ? std::to_string(*e.label) : "none") << " values ["
                    << Describe(e.values) << "]";
      return;
    }
  }
}

// The latest version's task from GET /v1/models/{name}; "" (and a failure) when unavailable.
std::string ServedTask(uint16_t port, const std::string& name) {
  const HttpResult r = HttpGet(port, "/v1/models/" + name);
  EXPECT_EQ(r.status, 200) << name << ": " << r.body;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  simdjson::dom::array versions;
  std::string_view task;
  if (parser.parse(r.body).get(root) != simdjson::SUCCESS ||
      root["versions"].get_array().get(versions) != simdjson::SUCCESS || versions.size() == 0 ||
      versions.at(versions.size() - 1)["task"].get_string().get(task) != simdjson::SUCCESS) {
    ADD_FAILURE() << name << ": unexpected description " << r.body;
    return "";
  }
  return std::string(task);
}

}  // namespace

std::vector<models::Prediction> PredictWithRegistryModel(
    const std::string& registry, const std::string& name,
    const std::vector<models::FeatureRow>& rows, size_t inputs) {
  auto artifact = daemon::trainer::ReadArtifact(registry, name);
  EXPECT_TRUE(artifact.ok()) << artifact.status().ToString();
  if (!artifact.ok()) return {};
  models::ModelKindRegistry kinds;
  models::RegisterBuiltinKinds(kinds);
  const models::ModelLoader* loader = kinds.Find(artifact->kind);
  EXPECT_NE(loader, nullptr) << artifact->kind;
  if (loader == nullptr) return {};
  auto model = (*loader)(*artifact);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  if (!model.ok()) return {};
  EXPECT_EQ((*model)->inputs().size(), inputs) << name;
  auto preds = (*model)->Predict(rows);
  EXPECT_TRUE(preds.ok()) << preds.status().ToString();
  return preds.ok() ? *preds : std::vector<models::Prediction>{};
}

TrainerPredictions ReadTrainerPredictions(const std::string& path) {
  TrainerPredictions out;
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path << ": cannot read";
  std::string line;
  if (!std::getline(in, line)) return out;
  std::stringstream header(line);
  std::string cell;
  while (std::getline(header, cell, ',')) out.columns.push_back(cell);
  while (std::getline(in, line)) {
    std::vector<double> row;
    std::stringstream cells(line);
    while (std::getline(cells, cell, ',')) {
      char* end = nullptr;
      row.push_back(std::strtod(cell.c_str(), &end));
      if (cell.empty() || *end != '\0') {  // ("nan", a missing input, parses)
        ADD_FAILURE() << path << ", line " << out.rows.size() + 2 << ": not a number '" << cell
                      << "'";
        return out;
      }
    }
    out.rows.push_back(std::move(row));
  }
  return out;
}

std::unique_ptr<daemon::Daemon> StartServingDaemon(const std::string& registry_dir,
                                                   const std::string& state_dir) {
  return StartDaemon(R"(
kafka:
  embedded:
    enabled: true
    topics: [{name: in, partitions: 1}, {name: out, partitions: 1}, {name: dlq, partitions: 1}]
sources:
  m:
    topics: [in]
    timestamp: {field: ts, format: epoch_ms}
    key_field: k
    value_fields: [v]
    dead_letter: dlq
sinks:
  out: {topic: out}
  dlq: {topic: dlq}
pipelines:
  p: {source: m, operators: [{type: baseline}], sinks: [out]}
models: {registry_dir: ")" +
                         registry_dir + R"(", poll_interval_ms: 0}
http: {listen: "127.0.0.1:0"}
state: {dir: ")" + state_dir +
                         R"("}
)",
                     "serving.yaml");
}

void ExpectServedAsTrained(uint16_t port, const std::string& name,
                           const TrainerPredictions& trainer, size_t inputs, double tolerance) {
  SCOPED_TRACE("model " + name);
  ASSERT_GT(trainer.columns.size(), inputs);
  ASSERT_FALSE(trainer.rows.empty());
  const std::string task = ServedTask(port, name);
  const std::vector<std::string> outputs(trainer.columns.begin() + static_cast<ptrdiff_t>(inputs),
                                         trainer.columns.end());

  // The trainer's predictions in the served shape of the task.
  std::vector<Expected> expected;
  for (const auto& row : trainer.rows) {
    ASSERT_EQ(row.size(), trainer.columns.size());
    Expected e;
    if (task == "binary" || task == "regression") {
      ASSERT_EQ(outputs, std::vector<std::string>{"score"});
      e.values = {row[inputs]};
      if (task == "binary") e.label = row[inputs] >= 0.5 ? 1 : 0;
    } else if (task == "clustering") {
      ASSERT_EQ(outputs, (std::vector<std::string>{"closest_cluster", "distance_to_cluster"}));
      e.label = static_cast<int>(row[inputs]);
      e.values = {row[inputs + 1]};
    } else if (task == "projection") {
      for (size_t k = 0; k < outputs.size(); ++k) {
        ASSERT_EQ(outputs[k], "projection_" + std::to_string(k));
      }
      e.values.assign(row.begin() + static_cast<ptrdiff_t>(inputs), row.end());
    } else {
      FAIL() << "no parity check for task '" << task << "'";
    }
    expected.push_back(std::move(e));
  }

  // The same rows as JSON instances and as CSV.
  std::ostringstream json, csv;
  json.precision(17);
  csv.precision(17);
  json << R"({"instances":[)";
  for (size_t r = 0; r < trainer.rows.size(); ++r) {
    json << (r ? ",[" : "[");
    for (size_t c = 0; c < inputs; ++c) {  // a missing value: null, an empty CSV cell
      const double v = trainer.rows[r][c];
      json << (c ? "," : "");
      csv << (c ? "," : "");
      if (std::isnan(v)) {
        json << "null";
      } else {
        json << v;
        csv << v;
      }
    }
    json << "]";
    csv << "\n";
  }
  json << "]}";

  simdjson::dom::parser parser;
  // The model's route: {"predictions": [{"score", "predicted_label", "values"}]}.
  {
    const HttpResult r =
        HttpCall(port, "POST", "/v1/models/" + name + ":predict", json.str(), "application/json");
    ASSERT_EQ(r.status, 200) << r.body.substr(0, 2000);
    simdjson::dom::element root;
    simdjson::dom::array preds;
    ASSERT_EQ(parser.parse(r.body).get(root), simdjson::SUCCESS) << r.body.substr(0, 2000);
    ASSERT_EQ(root["predictions"].get_array().get(preds), simdjson::SUCCESS)
        << r.body.substr(0, 2000);
    std::vector<Served> served;
    for (simdjson::dom::element p : preds) {
      Served s;
      simdjson::dom::element label;
      if (p["predicted_label"].get(label) == simdjson::SUCCESS) s.label = Integer(label);
      if (task == "projection") {
        simdjson::dom::array values;
        ASSERT_EQ(p["values"].get_array().get(values), simdjson::SUCCESS) << r.body.substr(0, 500);
        for (simdjson::dom::element v : values) s.values.push_back(Number(v).value_or(NAN));
      } else {
        simdjson::dom::element score;
        ASSERT_EQ(p["score"].get(score), simdjson::SUCCESS) << r.body.substr(0, 500);
        s.values.push_back(Number(score).value_or(NAN));
      }
      served.push_back(std::move(s));
    }
    Compare("POST /v1/models/" + name + ":predict", served, expected, tolerance);
  }

  // SageMaker's: the built-in algorithms' shapes, as JSON (the default), JSON lines and CSV.
  auto invoke = [&](const std::string& accept) {
    std::vector<std::pair<std::string, std::string>> headers{
        {"X-Amzn-SageMaker-Target-Model", name}};
    if (!accept.empty()) headers.emplace_back("Accept", accept);
    const HttpResult r =
        HttpCall(port, "POST", "/invocations", csv.str(), "text/csv", "127.0.0.1", headers);
    EXPECT_EQ(r.status, 200) << accept << ": " << r.body.substr(0, 2000);
    return r.body;
  };
  // One record: {"score", "predicted_label"}, {"closest_cluster", "distance_to_cluster"} or
  // {"projection": [...]}.
  auto record = [&](simdjson::dom::element p, Served* s) {
    simdjson::dom::element e;
    simdjson::dom::array values;
    if (task == "clustering") {
      if (p["closest_cluster"].get(e) != simdjson::SUCCESS) return false;
      s->label = Integer(e);
      if (p["distance_to_cluster"].get(e) != simdjson::SUCCESS) return false;
      s->values.push_back(Number(e).value_or(NAN));
    } else if (task == "projection") {
      if (p["projection"].get_array().get(values) != simdjson::SUCCESS) return false;
      for (simdjson::dom::element v : values) s->values.push_back(Number(v).value_or(NAN));
    } else {
      if (p["predicted_label"].get(e) == simdjson::SUCCESS) s->label = Integer(e);
      if (p["score"].get(e) != simdjson::SUCCESS) return false;
      s->values.push_back(Number(e).value_or(NAN));
    }
    return true;
  };
  const std::string what = "POST /invocations (" + name + ") Accept: ";
  {
    const std::string body = invoke("");
    simdjson::dom::element root;
    simdjson::dom::array preds;
    ASSERT_EQ(parser.parse(body).get(root), simdjson::SUCCESS) << body.substr(0, 2000);
    const char* list = task == "projection" ? "projections" : "predictions";
    ASSERT_EQ(root[list].get_array().get(preds), simdjson::SUCCESS) << body.substr(0, 2000);
    std::vector<Served> served;
    for (simdjson::dom::element p : preds) {
      ASSERT_TRUE(record(p, &served.emplace_back())) << body.substr(0, 2000);
    }
    Compare(what + "application/json", served, expected, tolerance);
  }
  {
    const std::string body = invoke("application/jsonlines");
    std::istringstream lines(body);
    std::string line;
    std::vector<Served> served;
    while (std::getline(lines, line)) {
      simdjson::dom::element p;
      ASSERT_EQ(parser.parse(line).get(p), simdjson::SUCCESS) << line;
      ASSERT_TRUE(record(p, &served.emplace_back())) << line;
    }
    Compare(what + "application/jsonlines", served, expected, tolerance);
  }
  {
    // CSV: score (no label), cluster,distance, or the projection.
    const std::string body = invoke("text/csv");
    std::istringstream lines(body);
    std::string line;
    std::vector<Served> served;
    while (std::getline(lines, line)) {
      Served& s = served.emplace_back();
      std::istringstream cells(line);
      std::string cell;
      for (int col = 0; std::getline(cells, cell, ','); ++col) {
        if (task == "clustering" && col == 0) {
          s.label = std::stoi(cell);
        } else {
          s.values.push_back(std::strtod(cell.c_str(), nullptr));
        }
      }
    }
    std::vector<Expected> no_labels = expected;
    if (task != "clustering") {
      for (Expected& e : no_labels) e.label.reset();
    }
    Compare(what + "text/csv", served, no_labels, tolerance);
  }
}

}  // namespace osprey::testing
