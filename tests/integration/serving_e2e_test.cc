// The model registry inside a running daemon, end to end over real sockets: a demo stream feeds
// an RCF pipeline; a live key is scored without being updated (POST /v1/pipelines/{p}/keys/
// {k}:score); `osprey model export`'s library call copies the key's forest into the registry;
// the registry's watcher picks it up and /v1/models/{name}:predict serves it.
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "daemon/daemon.h"
#include "daemon/model_export.h"
#include "tests/integration/harness.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/http_client.h"

namespace osprey {
namespace {

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(ServingE2eTest, LiveKeyScoringExportAndServing) {
  testing::TempDir dir;
  const std::string registry = dir.path() + "/models";
  auto d = testing::StartDaemon(R"(
kafka:
  embedded:
    enabled: true
    topics: [{name: metrics, partitions: 2}, {name: out, partitions: 1}, {name: dlq, partitions: 1}]
  consumer_properties: {session.timeout.ms: "6000"}
sources:
  metrics:
    topics: [metrics]
    timestamp: {field: ts, format: epoch_ms}
    key_field: host
    value_fields: [cpu, latency_ms]
    dead_letter: dlq
    demo: {rate_per_sec: 2000, keys: 2}
sinks:
  out: {topic: out}
  dlq: {topic: dlq}
pipelines:
  rcf:
    source: metrics
    operators: [{type: rcf, number_of_trees: 20, sample_size: 32}]
    sinks: [out]
  base:
    source: metrics
    operators: [{type: baseline}]
    sinks: [out]
models: {registry_dir: ")" + registry +
                                    R"(", poll_interval_ms: 100}
http: {listen: "127.0.0.1:0", threads: 2}
state: {dir: ")" + dir.path() + R"(/state"}
)",
                                "serving.yaml");
  ASSERT_NE(d, nullptr);
  const uint16_t port = d->http_port();
  auto post = [&](const std::string& target, const std::string& body) {
    return testing::HttpCall(port, "POST", target, body, "application/json");
  };

  // The key gets a forest once the demo stream reaches it.
  testing::HttpResult score;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    score = post("/v1/pipelines/rcf/keys/host-00:score", R"({"points":[[50,100],[1e6,-1e6]]})");
    if (score.status == 200 && !Contains(score.body, R"("score":0,)")) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_EQ(score.status, 200) << score.body;
  EXPECT_TRUE(Contains(score.body, R"({"results":[{"score":)")) << score.body;
  EXPECT_TRUE(Contains(score.body, R"("attribution":{"cpu":)")) << score.body;
  EXPECT_TRUE(Contains(score.body, R"(,"latency_ms":)")) << score.body;
  // The far outlier is graded as an anomaly.
  const size_t second = score.body.find("},{");
  ASSERT_NE(second, std::string::npos);
  EXPECT_FALSE(Contains(score.body.substr(second), R"("grade":0,)")) << score.body;

  EXPECT_EQ(post("/v1/pipelines/nope/keys/host-00:score", R"({"points":[[1,2]]})").status, 404);
  EXPECT_EQ(post("/v1/pipelines/rcf/keys/host-99:score", R"({"points":[[1,2]]})").status, 404);
  testing::HttpResult no_rcf =
      post("/v1/pipelines/base/keys/host-00:score", R"({"points":[[1,2]]})");
  EXPECT_EQ(no_rcf.status, 400);
  EXPECT_TRUE(Contains(no_rcf.body, "has no rcf operator")) << no_rcf.body;
  testing::HttpResult dims = post("/v1/pipelines/rcf/keys/host-00:score", R"({"points":[[1]]})");
  EXPECT_EQ(dims.status, 400);
  EXPECT_TRUE(Contains(dims.body, "point 0: thresholded rcf: expected 2 values, got 1"))
      << dims.body;
  EXPECT_EQ(testing::HttpGet(port, "/v1/admin/pipelines/rcf/keys/host-99/model").status, 404);

  // Export the live forest into the registry and serve it.
  daemon::ModelExportOptions options;
  options.url = "http://127.0.0.1:" + std::to_string(port);
  options.pipeline = "rcf";
  options.key = "host-00";
  options.registry_dir = registry;
  auto version = daemon::ExportModel(options);
  ASSERT_TRUE(version.ok()) << version.status().ToString();
  EXPECT_EQ(*version, 1);
  EXPECT_TRUE(std::filesystem::exists(registry + "/rcf-host-00/1/model.bin"));
  testing::HttpResult served;
  for (int attempt = 0; attempt < 100; ++attempt) {
    served =
        post("/v1/models/rcf-host-00:predict", R"({"instances":[{"cpu":50,"latency_ms":100}]})");
    if (served.status == 200) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(served.status, 200) << served.body;
  EXPECT_TRUE(Contains(served.body, R"({"model":"rcf-host-00","version":1,"predictions":[)"))
      << served.body;
  testing::HttpResult meta = testing::HttpGet(port, "/v1/models/rcf-host-00");
  EXPECT_TRUE(Contains(meta.body, R"("source":{"pipeline":"rcf","key":"host-00")")) << meta.body;

  options.key = "host-99";
  auto missing = daemon::ExportModel(options);
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound) << missing.status().ToString();
  EXPECT_TRUE(d->Shutdown().ok());
}

}  // namespace
}  // namespace osprey
