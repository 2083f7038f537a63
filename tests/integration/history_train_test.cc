// `osprey train` from a daemon's history (data.history): a running daemon keeps the fields of
// every consumed event; the trainer reads them in memory through the history export code, picks
// the label and feature columns by name, and each of the four algorithms publishes a model that
// the registry's loaders load and that predicts, and that the same running daemon (its
// models.registry_dir is the trainer's registry) serves over HTTP with the trainer's own
// predictions. Unknown columns are a clear error.
#include <chrono>
#include <cmath>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "daemon/daemon.h"
#include "tests/integration/harness.h"
#include "tests/integration/kafka_test_util.h"
#include "tests/integration/served_as_trained.h"
#include "tests/integration/subprocess.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/http_client.h"

namespace osprey {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kPartitions = 2;
constexpr int kEvents = 900;
const std::string kOsprey = std::string(OSPREY_BIN_DIR) + "/osprey";

// The daemon serves the models the trainer publishes into `registry_dir` (loaded on
// POST /v1/admin/models/reload).
std::string DaemonYaml(const std::string& bootstrap, const std::string& state_dir,
                       const std::string& registry_dir) {
  return R"(
kafka:
  bootstrap_servers: ")" +
         bootstrap + R"("
  group_id: hist-train
  consumer_properties: {session.timeout.ms: "6000", heartbeat.interval.ms: "500"}
sources:
  m:
    topics: [in]
    timestamp: {field: ts, format: epoch_ms}
    key_field: host
    value_fields: [a, b, y]
    dead_letter: dlq
sinks:
  out: {topic: out}
  dlq: {topic: dlq}
pipelines:
  p:
    source: m
    operators: [{type: baseline, half_life_events: 20, warmup_events: 5}]
    sinks: [out]
    history: {fields: [a, b, y]}
models: {registry_dir: ")" +
         registry_dir + R"(", poll_interval_ms: 0}
http: {listen: "127.0.0.1:0"}
state: {dir: ")" +
         state_dir + R"(", checkpoint_interval_ms: 100}
)";
}

struct Event {
  double a, b;
  int y;
};

// y = 1 when a - b + noise > 0; two blobs so k-means and PCA have structure.
std::vector<Event> Events() {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> g(0.0, 1.0);
  std::vector<Event> out;
  for (int i = 0; i < kEvents; ++i) {
    const double shift = i % 2 == 0 ? 6.0 : -6.0;
    const double a = shift + g(rng), b = 0.5 * shift + g(rng);
    out.push_back({a, b, a - b + 0.5 * g(rng) > 0 ? 1 : 0});
  }
  return out;
}

std::vector<testing::KafkaRecord> Records(const std::vector<Event>& events) {
  std::vector<testing::KafkaRecord> out;
  for (size_t i = 0; i < events.size(); ++i) {
    testing::KafkaRecord r;
    r.topic = "in";
    r.partition = static_cast<int>(i % kPartitions);
    std::ostringstream v;
    v.precision(10);
    v << R"({"ts":)" << 1'700'000'000'000 + 10 * static_cast<int64_t>(i) << R"(,"host":"h)"
      << i % 4 << R"(","a":)" << events[i].a << R"(,"b":)" << events[i].b << R"(,"y":)"
      << events[i].y << "}";
    r.value = v.str();
    out.push_back(std::move(r));
  }
  return out;
}

int64_t Committed(const std::string& bootstrap) {
  int64_t sum = 0;
  for (const auto& [p, o] : testing::CommittedOffsets(bootstrap, "hist-train", "in", kPartitions)) {
    sum += std::max<int64_t>(o, 0);
  }
  return sum;
}

TEST(HistoryTrainTest, EachAlgorithmTrainsFromALiveDaemonsHistory) {
  auto broker = testing::StartBroker({{"in", kPartitions}, {"out", 1}, {"dlq", 1}});
  ASSERT_NE(broker, nullptr);
  const std::string bootstrap = broker->bootstrap_servers();
  testing::TempDir dir;
  const std::string d = dir.path();
  const std::string config_path = d + "/daemon.yaml";
  const std::string yaml = DaemonYaml(bootstrap, d + "/state", d + "/registry");
  std::ofstream(config_path) << yaml;
  const std::vector<Event> events = Events();
  ASSERT_TRUE(testing::ProduceAll(bootstrap, Records(events)));
  auto daemon = testing::StartDaemon(yaml, config_path);
  ASSERT_NE(daemon, nullptr);
  const auto deadline = std::chrono::steady_clock::now() + seconds(60);
  while (Committed(bootstrap) < kEvents) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline);
    std::this_thread::sleep_for(milliseconds(50));
  }

  auto write = [&](const std::string& name, const std::string& body) {
    std::ofstream(d + "/" + name + ".yaml")
        << "name: " << name << "\nregistry: ./registry\n" << body;
  };
  auto train = [&](const std::string& name) {
    return testing::RunCommand("cd " + d + " && " + kOsprey + " train --config " + name +
                               ".yaml --predictions-out " + name + ".predictions.csv 2>&1");
  };
  // The label by name; the features default to the history's fields minus the label.
  write("lin", R"(data: {history: {config: daemon.yaml, pipeline: p}, label: y}
algorithm: linear_learner
hyperparameters: {predictor_type: binary_classifier, epochs: 20}
)");
  write("xgb", R"(data: {history: {config: daemon.yaml, pipeline: p}, label: y}
algorithm: xgboost
hyperparameters: {objective: "binary:logistic", num_round: 20, nthread: 1}
)");
  // Features chosen by name; a metadata column (partition) only when listed.
  write("km", R"(data: {history: {config: daemon.yaml, pipeline: p}, features: [a, b]}
algorithm: kmeans
hyperparameters: {k: 2}
)");
  write("pca", R"(data: {history: {config: daemon.yaml, pipeline: p}, features: [a, b, partition]}
algorithm: pca
hyperparameters: {num_components: 2}
)");
  for (const std::string name : {"lin", "xgb", "km", "pca"}) {
    auto [code, output] = train(name);
    ASSERT_EQ(code, 0) << name << ":\n" << output;
    EXPECT_NE(output.find("train 630, validation 90, test 180"), std::string::npos)
        << name << ":\n" << output;
    std::ostringstream meta;
    meta << std::ifstream(d + "/registry/" + name + "/1/metadata.json").rdbuf();
    EXPECT_NE(meta.str().find(R"("history":{"config":"daemon.yaml","pipeline":"p"})"),
              std::string::npos)
        << meta.str();
    EXPECT_TRUE(std::ifstream(d + "/registry/" + name + "/1/report.html").good()) << name;
  }

  std::vector<models::FeatureRow> ab, abp;
  for (size_t i = 0; i < events.size(); ++i) {
    ab.push_back({events[i].a, events[i].b});
    abp.push_back({events[i].a, events[i].b, static_cast<double>(i % kPartitions)});
  }
  for (const std::string name : {"lin", "xgb"}) {
    const auto preds = testing::PredictWithRegistryModel(d + "/registry", name, ab, 2);
    ASSERT_EQ(preds.size(), events.size()) << name;
    int right = 0;
    for (size_t i = 0; i < preds.size(); ++i) {
      right += preds[i].predicted_label.value_or(-1) == events[i].y;
    }
    EXPECT_GT(right, kEvents * 8 / 10) << name;  // the history carried the labels
  }
  const auto clusters = testing::PredictWithRegistryModel(d + "/registry", "km", ab, 2);
  ASSERT_EQ(clusters.size(), events.size());
  for (size_t i = 2; i < clusters.size(); ++i) {  // the two blobs alternate
    EXPECT_EQ(clusters[i].predicted_label, clusters[i - 2].predicted_label) << i;
  }
  EXPECT_NE(clusters[0].predicted_label, clusters[1].predicted_label);
  const auto projections = testing::PredictWithRegistryModel(d + "/registry", "pca", abp, 3);
  ASSERT_EQ(projections.size(), events.size());
  for (const auto& p : projections) {
    ASSERT_EQ(p.values.size(), 2u);
    EXPECT_TRUE(std::isfinite(p.values[0]) && std::isfinite(p.values[1]));
  }

  // The running daemon serves the four models with the trainer's predictions of the test split.
  const testing::HttpResult reload =
      testing::HttpCall(daemon->http_port(), "POST", "/v1/admin/models/reload");
  ASSERT_EQ(reload.status, 200) << reload.body;
  EXPECT_EQ(reload.body, R"({"loaded":4,"unchanged":0,"removed":0,"errors":[]})");
  const struct {
    const char* name;
    size_t inputs;
    double tolerance;
  } served[] = {{"lin", 2, 1e-12}, {"xgb", 2, 1e-7}, {"km", 2, 1e-9}, {"pca", 3, 1e-9}};
  for (const auto& m : served) {
    const auto trainer = testing::ReadTrainerPredictions(d + "/" + m.name + ".predictions.csv");
    EXPECT_EQ(trainer.rows.size(), 180u) << m.name;
    testing::ExpectServedAsTrained(daemon->http_port(), m.name, trainer, m.inputs, m.tolerance);
  }

  // A column the history does not have, and a path beside history, are clear errors.
  write("bad", R"(data: {history: {config: daemon.yaml, pipeline: p}, label: nope}
algorithm: linear_learner
hyperparameters: {predictor_type: binary_classifier}
)");
  auto [code, output] = train("bad");
  EXPECT_EQ(code, 1);
  EXPECT_NE(output.find("has no column 'nope' (it has: event_time_ms, topic, partition, offset, "
                        "key, a, b, y)"),
            std::string::npos)
      << output;
  write("both", R"(data: {history: {config: daemon.yaml, pipeline: p}, path: x.csv, label: y}
algorithm: linear_learner
)");
  std::tie(code, output) = train("both");
  EXPECT_EQ(code, 1);
  EXPECT_NE(output.find("give either path or history"), std::string::npos) << output;
  EXPECT_TRUE(daemon->health().ok());
  ASSERT_TRUE(daemon->Shutdown().ok());
}

}  // namespace
}  // namespace osprey
