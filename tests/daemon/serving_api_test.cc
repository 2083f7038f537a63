// Contract tests of the scoring API over real sockets: a ModelRegistry on a temp directory, the
// serving routes on an HttpServer on port 0, and a blocking client. Every route gets good
// requests, malformed JSON and CSV, a wrong Content-Type (415), an unknown model or version
// (404) and an oversized body or batch (413); a hot reload under concurrent requests fails none.
#include "daemon/serving_api.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

#include "daemon/http_server.h"
#include "daemon/model_registry.h"
#include "models/rcf/thresholded.h"
#include "models/serving/builtin_kinds.h"
#include "tests/testing/http_client.h"

namespace osprey::daemon {
namespace {

namespace fs = std::filesystem;
using testing::HttpCall;
using testing::HttpGet;
using testing::HttpResult;

constexpr int64_t kMaxBody = 8192;
constexpr int kMaxRows = 50;

std::string LinearMetadata(const std::string& task) {
  return R"({"format_version":1,"kind":"linear","task":")" + task +
         R"(","created":"2026-01-01T00:00:00Z","model_file":"model.json",)"
         R"("inputs":[{"name":"x0","type":"numeric"},{"name":"x1","type":"numeric"}],)"
         R"("label":{"name":"y","classes":["no","yes"]},"metrics":{"validation":{"rmse":0.5}}})";
}

std::string LinearModel(double w0, double w1, double b, const std::string& task = "regression",
                        const std::string& link = "identity") {
  return R"({"format":"osprey-linear/1","task":")" + task + R"(","link":")" + link +
         R"(","weights":[[)" + std::to_string(w0) + "," + std::to_string(w1) + R"(]],"bias":[)" +
         std::to_string(b) + "]}";
}

void WriteFile(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// Publishes a version the way REGISTRY.md says: a hidden temp dir renamed into place.
void Publish(const fs::path& root, const std::string& name, int version,
             const std::map<std::string, std::string>& files) {
  const fs::path tmp = root / name / (".tmp-" + std::to_string(version));
  fs::create_directories(tmp);
  for (const auto& [file, bytes] : files) WriteFile(tmp / file, bytes);
  fs::rename(tmp, root / name / std::to_string(version));
}

void PublishLinear(const fs::path& root, const std::string& name, int version, double w0, double w1,
                   double b) {
  Publish(
      root, name, version,
      {{"metadata.json", LinearMetadata("regression")}, {"model.json", LinearModel(w0, w1, b)}});
}

std::string RcfSnapshot() {
  models::rcf::ThresholdedOptions o;
  o.forest.input_dim = 2;
  o.forest.number_of_trees = 20;
  o.forest.sample_size = 32;
  auto forest = models::rcf::ThresholdedForest::Create(o);
  std::mt19937 rng(301);
  std::normal_distribution<double> noise(0, 0.1);
  for (int idx = 0; idx < 200; ++idx) {
    const double x[2] = {noise(rng), 1 + noise(rng)};
    EXPECT_TRUE((*forest)->Process(x).ok());
  }
  return (*forest)->Save();
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// The error shape every 4xx/5xx must have.
void ExpectError(const HttpResult& r, int status, const std::string& fragment) {
  EXPECT_EQ(r.status, status) << r.body;
  EXPECT_EQ(r.headers.count("content-type") ? r.headers.at("content-type") : "",
            "application/json");
  EXPECT_TRUE(Contains(r.body, "{\"error\":{\"code\":" + std::to_string(status) + ",\"message\":"))
      << r.body;
  EXPECT_TRUE(Contains(r.body, fragment)) << "expected '" << fragment << "' in " << r.body;
}

class FakeLive final : public LiveKeyScorer {
 public:
  Result<std::string> ScoreKey(const std::string& pipeline, const std::string& key,
                               const std::vector<std::vector<double>>& points) override {
    if (pipeline != "p" || key != "k") return Status::NotFound("no model for key " + key);
    std::string out = "[";
    for (size_t idx = 0; idx < points.size(); ++idx) {
      out +=
          (idx > 0 ? "," : "") + std::string("{\"n\":") + std::to_string(points[idx].size()) + "}";
    }
    return out + "]";
  }
};

class ServingApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("osprey_serving_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
    PublishLinear(root_, "lin", 1, 1, 2, 0.5);
    PublishLinear(root_, "lin", 2, 2, 2, 0);
    Publish(root_, "clf", 1,
            {{"metadata.json", LinearMetadata("binary")},
             {"model.json", LinearModel(1, 1, 0, "binary", "logistic")}});
    Publish(root_, "anom", 1,
            {{"metadata.json",
              R"({"format_version":1,"kind":"rcf","task":"anomaly","model_file":"model.bin"})"},
             {"model.bin", RcfSnapshot()}});
    Publish(root_, "broken", 1,
            {{"metadata.json", R"({"format_version":1,"kind":"catboost","task":"binary"})"}});
    models::RegisterBuiltinKinds(kinds_);
  }
  void TearDown() override {
    server_.reset();
    registry_.reset();
    fs::remove_all(root_);
  }

  void Start(const std::string& default_model = "", int64_t poll_ms = 0) {
    config::ModelsOptions options;
    options.registry_dir = root_.string();
    options.poll_interval_ms = poll_ms;
    options.default_model = default_model;
    options.max_batch_rows = kMaxRows;
    auto registry = ModelRegistry::Open(options, kinds_, nullptr);
    ASSERT_TRUE(registry.ok()) << registry.status().ToString();
    registry_ = std::move(*registry);
    HttpRouter router;
    AddServingRoutes(router, *registry_, &live_);
    config::HttpOptions http;
    http.listen = "127.0.0.1:0";
    http.limits.max_body_bytes = kMaxBody;
    http.threads = 2;
    auto server = HttpServer::Start(http, std::move(router));
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
    registry_->StartWatching();
  }

  HttpResult Post(const std::string& target, const std::string& body,
                  const std::string& type = "application/json",
                  const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    return HttpCall(server_->port(), "POST", target, body, type, "127.0.0.1", headers);
  }
  HttpResult Get(const std::string& target) { return HttpGet(server_->port(), target); }

  fs::path root_;
  models::ModelKindRegistry kinds_;
  FakeLive live_;
  std::unique_ptr<ModelRegistry> registry_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(ServingApiTest, ListsAndDescribesModelsAndReportsBadArtifacts) {
  Start();
  HttpResult list = Get("/v1/models");
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_TRUE(Contains(list.body, R"({"name":"lin","latest_version":2,"kind":"linear",)"
                                  R"("task":"regression","versions":[1,2]})"))
      << list.body;
  EXPECT_TRUE(Contains(list.body, R"("name":"anom")"));
  EXPECT_FALSE(Contains(list.body, R"("name":"broken")"));
  EXPECT_TRUE(Contains(list.body, "broken/1: unknown kind 'catboost'")) << list.body;

  HttpResult one = Get("/v1/models/lin");
  ASSERT_EQ(one.status, 200) << one.body;
  EXPECT_TRUE(Contains(one.body, R"("metrics":{"validation":{"rmse":0.5}})")) << one.body;
  EXPECT_TRUE(Contains(one.body, R"("inputs":["x0","x1"])")) << one.body;
  ExpectError(Get("/v1/models/nope"), 404, "unknown model 'nope'; known models: anom, clf, lin");
}

TEST_F(ServingApiTest, PredictsJsonInstancesByPositionNameAndFeatures) {
  Start();
  const std::string body = R"({"instances":[[1,2],{"x0":1,"x1":2},{"features":[1,2]},["3","4"]]})";
  HttpResult latest = Post("/v1/models/lin:predict", body);
  ASSERT_EQ(latest.status, 200) << latest.body;
  EXPECT_EQ(latest.body, R"({"model":"lin","version":2,"predictions":[{"score":6},{"score":6},)"
                         R"({"score":6},{"score":14}]})");
  HttpResult v1 = Post("/v1/models/lin/versions/1:predict", R"({"instances":[[1,2]]})");
  ASSERT_EQ(v1.status, 200) << v1.body;
  EXPECT_TRUE(Contains(v1.body, R"("version":1,"predictions":[{"score":5.5}])")) << v1.body;
  HttpResult clf = Post("/v1/models/clf:predict", R"([[1,1],[-3,0]])");
  ASSERT_EQ(clf.status, 200) << clf.body;
  EXPECT_TRUE(Contains(clf.body, R"("predicted_label":1,"label":"yes")")) << clf.body;
  EXPECT_TRUE(Contains(clf.body, R"("predicted_label":0,"label":"no")")) << clf.body;
  HttpResult anom = Post("/v1/models/anom:predict", R"({"instances":[[0,1],[5,-4]]})");
  ASSERT_EQ(anom.status, 200) << anom.body;
  EXPECT_TRUE(Contains(anom.body, R"("attribution":[)")) << anom.body;
  EXPECT_TRUE(Contains(anom.body, R"("grade":)")) << anom.body;
}

TEST_F(ServingApiTest, PredictRejectsBadRequestsWithActionableErrors) {
  Start();
  ExpectError(Post("/v1/models/lin:predict", R"({"instances":[[1,2)"), 400, "malformed JSON");
  ExpectError(Post("/v1/models/lin:predict", R"({"rows":[[1,2]]})"), 400,
              "expected {\\\"instances\\\"");
  ExpectError(Post("/v1/models/lin:predict", R"({"instances":[[1]]})"), 400,
              "row 0: expected 2 values, got 1");
  ExpectError(Post("/v1/models/lin:predict", R"({"instances":[{"x0":1,"z":2}]})"), 400,
              "instance 0: unknown input 'z' (the model's inputs: x0, x1)");
  ExpectError(Post("/v1/models/lin:predict", R"({"instances":[[1,"abc"]]})"), 400,
              "column 'x1': not a number");
  ExpectError(Post("/v1/models/lin:predict", R"({"instances":[[1,[2]]]})"), 400,
              "expected a number, string or null");
  ExpectError(Post("/v1/models/lin:predict", "1,2", "text/csv"), 415,
              "unsupported Content-Type 'text/csv'; send application/json");
  ExpectError(Post("/v1/models/nope:predict", R"({"instances":[]})"), 404, "unknown model 'nope'");
  ExpectError(Post("/v1/models/lin/versions/9:predict", R"({"instances":[]})"), 404,
              "model 'lin' has no version '9' (versions: 1, 2)");
  ExpectError(Post("/v1/models/lin/versions/x:predict", R"({"instances":[]})"), 404,
              "no version 'x'");
  std::string many = R"({"instances":[)";
  for (int idx = 0; idx <= kMaxRows; ++idx) many.append(idx > 0 ? ",[1,2]" : "[1,2]");
  ExpectError(Post("/v1/models/lin:predict", many + "]}"), 413,
              "too many instances: 51 > models.max_batch_rows 50");
  ExpectError(Post("/v1/models/lin:predict", std::string(kMaxBody + 1, ' ')), 413, "");
  ExpectError(HttpCall(server_->port(), "GET", "/v1/models/lin:predict"), 404, "unknown model");
  ExpectError(HttpCall(server_->port(), "PUT", "/v1/models/lin:predict"), 405, "");
}

TEST_F(ServingApiTest, SageMakerInvocationsSpeakCsvJsonAndJsonLines) {
  Start();
  EXPECT_EQ(Get("/ping").status, 200);
  const std::pair<std::string, std::string> lin{"X-Amzn-SageMaker-Target-Model", "lin"};
  HttpResult csv = Post("/invocations", "1,2\r\n3,4\n\n", "text/csv", {lin});
  ASSERT_EQ(csv.status, 200) << csv.body;
  EXPECT_EQ(csv.body, R"({"predictions":[{"score":6},{"score":14}]})");
  HttpResult json = Post("/invocations", R"({"instances":[{"features":[1,2]}]})",
                         "application/json; charset=utf-8", {lin});
  ASSERT_EQ(json.status, 200) << json.body;
  EXPECT_EQ(json.body, R"({"predictions":[{"score":6}]})");
  HttpResult lines =
      Post("/invocations", "{\"features\":[1,2]}\n[3,4]\n", "application/jsonlines", {lin});
  ASSERT_EQ(lines.status, 200) << lines.body;
  EXPECT_EQ(lines.body, R"({"predictions":[{"score":6},{"score":14}]})");
  HttpResult v1 =
      Post("/invocations", "1,2", "text/csv", {{"X-Amzn-SageMaker-Target-Model", "lin/1"}});
  EXPECT_EQ(v1.body, R"({"predictions":[{"score":5.5}]})");
  HttpResult archive = Post("/invocations", "1,2", "text/csv",
                            {{"X-Amzn-SageMaker-Target-Model", "lin.tar.gz"}});
  EXPECT_EQ(archive.body, R"({"predictions":[{"score":6}]})");
  HttpResult clf =
      Post("/invocations", "1,1", "text/csv", {{"X-Amzn-SageMaker-Target-Model", "clf"}});
  EXPECT_TRUE(Contains(clf.body, R"({"predictions":[{"score":0.88)")) << clf.body;
  EXPECT_TRUE(Contains(clf.body, R"("predicted_label":1}]})")) << clf.body;
  HttpResult rcf =
      Post("/invocations", "0,1\n9,9", "text/csv", {{"X-Amzn-SageMaker-Target-Model", "anom"}});
  ASSERT_EQ(rcf.status, 200) << rcf.body;
  EXPECT_EQ(rcf.body.rfind(R"({"scores":[{"score":)", 0), 0u) << rcf.body;
  HttpResult as_csv = Post("/invocations", "1,2\n3,4", "text/csv", {lin, {"Accept", "text/csv"}});
  EXPECT_EQ(as_csv.body, "6\n14\n");
  HttpResult as_lines =
      Post("/invocations", "1,2", "text/csv", {lin, {"Accept", "application/jsonlines"}});
  EXPECT_EQ(as_lines.body, "{\"score\":6}\n");

  ExpectError(Post("/invocations", "1,\"2", "text/csv", {lin}), 400, "line 1: malformed CSV");
  ExpectError(Post("/invocations", "1,x", "text/csv", {lin}), 400, "not a number: \\\"x\\\"");
  ExpectError(Post("/invocations", "1,2,3", "text/csv", {lin}), 400, "expected 2 values, got 3");
  ExpectError(Post("/invocations", "{\"features\":[1,2]}\n{oops\n", "application/jsonlines", {lin}),
              400, "line 2: malformed JSON");
  ExpectError(Post("/invocations", R"({"instances":)", "application/json", {lin}), 400,
              "malformed JSON");
  ExpectError(Post("/invocations", "1,2", "application/x-protobuf", {lin}), 415,
              "send text/csv, application/json or application/jsonlines");
  ExpectError(Post("/invocations", "1,2", "text/csv", {{"X-Amzn-SageMaker-Target-Model", "no"}}),
              404, "unknown model 'no'");
  ExpectError(Post("/invocations", "1,2", "text/csv"), 404,
              "set the X-Amzn-SageMaker-Target-Model header or models.default_model");
  std::string rows;
  for (int idx = 0; idx <= kMaxRows; ++idx) rows += "1,2\n";
  ExpectError(Post("/invocations", rows, "text/csv", {lin}), 413, "too many instances");
  ExpectError(Post("/invocations", std::string(kMaxBody + 10, '1'), "text/csv", {lin}), 413, "");
}

TEST_F(ServingApiTest, InvocationsUseTheDefaultModel) {
  Start("lin");
  HttpResult r = Post("/invocations", "1,2", "text/csv");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, R"({"predictions":[{"score":6}]})");
}

TEST_F(ServingApiTest, KServeV2HealthMetadataAndInfer) {
  Start();
  EXPECT_EQ(Get("/v2/health/live").status, 200);
  EXPECT_EQ(Get("/v2/health/ready").status, 200);
  HttpResult meta = Get("/v2/models/lin");
  ASSERT_EQ(meta.status, 200) << meta.body;
  EXPECT_TRUE(Contains(meta.body,
                       R"({"name":"lin","versions":["1","2"],"platform":"osprey_linear",)"
                       R"("inputs":[{"name":"input","datatype":"FP64","shape":[-1,2]}])"))
      << meta.body;
  EXPECT_EQ(Get("/v2/models/lin/versions/1").status, 200);
  EXPECT_EQ(Get("/v2/models/lin/ready").status, 200);
  ExpectError(Get("/v2/models/lin/versions/3"), 404, "no version '3'");
  ExpectError(Get("/v2/models/zzz/ready"), 404, "unknown model 'zzz'");

  HttpResult one = Post("/v2/models/lin/infer",
                        R"({"id":"r1","inputs":[{"name":"x","shape":[2,2],"datatype":"FP64",)"
                        R"("data":[[1,2],[3,4]]}]})");
  ASSERT_EQ(one.status, 200) << one.body;
  EXPECT_EQ(one.body, R"({"model_name":"lin","model_version":"2","id":"r1","outputs":[{"name":)"
                      R"("score","datatype":"FP64","shape":[2],"data":[6,14]}]})");
  HttpResult named = Post("/v2/models/lin/versions/1/infer",
                          R"({"inputs":[{"name":"x1","shape":[2],"datatype":"FP32","data":[2,4]},)"
                          R"({"name":"x0","shape":[2,1],"datatype":"FP32","data":[1,3]}]})");
  ASSERT_EQ(named.status, 200) << named.body;
  EXPECT_TRUE(Contains(named.body, R"("data":[5.5,11.5])")) << named.body;
  HttpResult clf =
      Post("/v2/models/clf/infer",
           R"({"inputs":[{"name":"x","shape":[1,2],"datatype":"FP64","data":[1,1]}]})");
  EXPECT_TRUE(Contains(clf.body, R"({"name":"predicted_label","datatype":"INT64","shape":[1],)"
                                 R"("data":[1]})"))
      << clf.body;

  ExpectError(Post("/v2/models/lin/infer", "{"), 400, "malformed JSON");
  ExpectError(Post("/v2/models/lin/infer", R"({"inputs":[]})"), 400, "expected {\\\"inputs\\\"");
  ExpectError(Post("/v2/models/lin/infer",
                   R"({"inputs":[{"name":"x","shape":[2,2],"datatype":"FP64","data":[1,2,3]}]})"),
              400, "shape does not match the data's 3 values");
  ExpectError(Post("/v2/models/lin/infer",
                   R"({"inputs":[{"name":"x","shape":[1,3],"datatype":"FP64","data":[1,2,3]}]})"),
              400, "has 3 columns; the model takes 2");
  ExpectError(Post("/v2/models/lin/infer",
                   R"({"inputs":[{"name":"x0","shape":[1],"datatype":"FP64","data":[1]}]})"),
              400, "missing input tensor 'x1'");
  ExpectError(Post("/v2/models/lin/infer", "x", "text/plain"), 415, "application/json");
  ExpectError(Post("/v2/models/nope/infer", "{}"), 404, "unknown model 'nope'");
  ExpectError(Post("/v2/models/lin/versions/7/infer", "{}"), 404, "no version '7'");
}

TEST_F(ServingApiTest, LiveKeyScoreRouteValidatesAndDelegates) {
  Start();
  HttpResult ok = Post("/v1/pipelines/p/keys/k:score", R"({"points":[[1,2],[3,4,5]]})");
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(ok.body, R"({"results":[{"n":2},{"n":3}]})");
  ExpectError(Post("/v1/pipelines/p/keys/other:score", R"({"points":[[1]]})"), 404,
              "no model for key other");
  ExpectError(Post("/v1/pipelines/p/keys/k:score", R"({"points":[["a"]]})"), 400,
              "point 0: expected numbers");
  ExpectError(Post("/v1/pipelines/p/keys/k:score", R"({"points":[]})"), 400, "must not be empty");
  ExpectError(Post("/v1/pipelines/p/keys/k:score", "{"), 400, "malformed JSON");
  ExpectError(Post("/v1/pipelines/p/keys/k:score", "1", "text/csv"), 415, "application/json");
}

TEST_F(ServingApiTest, BadArtifactKeepsThePreviousVersionServing) {
  Start();
  WriteFile(root_ / "lin" / "2" / "model.json", "{ truncated");
  HttpResult reload = Post("/v1/admin/models/reload", "");
  ASSERT_EQ(reload.status, 200) << reload.body;
  EXPECT_TRUE(Contains(reload.body, "lin/2: linear model: malformed model.json")) << reload.body;
  EXPECT_TRUE(Contains(reload.body, "(the previously loaded files keep serving)")) << reload.body;
  HttpResult r = Post("/v1/models/lin:predict", R"({"instances":[[1,2]]})");
  EXPECT_TRUE(Contains(r.body, R"("version":2,"predictions":[{"score":6}])")) << r.body;
  // A new bad version is skipped; the good latest one keeps serving.
  Publish(root_, "lin", 3, {{"metadata.json", "not json"}});
  reload = Post("/v1/admin/models/reload", "");
  EXPECT_TRUE(Contains(reload.body, "lin/3: metadata.json is not valid JSON")) << reload.body;
  r = Post("/v1/models/lin:predict", R"({"instances":[[1,2]]})");
  EXPECT_TRUE(Contains(r.body, R"("version":2)")) << r.body;
}

// Readers race a writer that publishes, replaces and removes versions: no request fails and
// each answer is exactly one published version's.
TEST_F(ServingApiTest, HotReloadUnderConcurrentRequestsFailsNoRequest) {
  Start();
  // Version v scores x0 + x1 + v on [1, 1], i.e. 2 + v.
  for (int v = 3; v <= 4; ++v) PublishLinear(root_, "lin", v, 1, 1, v);
  ASSERT_EQ(Post("/v1/admin/models/reload", "").status, 200);
  std::atomic<bool> stop{false};
  std::atomic<int> requests{0};
  std::atomic<int> failures{0};
  std::vector<std::string> errors;
  std::mutex errors_mu;
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&, t] {
      while (!stop.load()) {
        HttpResult r = t % 2 == 0 ? Post("/v1/models/lin:predict", R"({"instances":[[1,1]]})")
                                  : Post("/invocations", "1,1", "text/csv",
                                         {{"X-Amzn-SageMaker-Target-Model", "lin"}});
        ++requests;
        // Latest is at least 4 throughout, up to 12.
        bool ok = r.status == 200;
        if (ok) {
          const size_t at = r.body.find("\"score\":");
          const double score = at == std::string::npos ? -1 : std::stod(r.body.substr(at + 8));
          ok = score >= 6 && score <= 14 && score == std::floor(score);
        }
        if (!ok) {
          ++failures;
          std::lock_guard<std::mutex> lock(errors_mu);
          errors.push_back(std::to_string(r.status) + " " + r.body);
        }
      }
    });
  }
  for (int v = 5; v <= 12; ++v) {
    PublishLinear(root_, "lin", v, 1, 1, v);
    fs::remove_all(root_ / "lin" / std::to_string(v - 4));  // retire an old version
    HttpResult reload = Post("/v1/admin/models/reload", "");
    EXPECT_EQ(reload.status, 200) << reload.body;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  stop.store(true);
  for (auto& t : readers) t.join();
  EXPECT_GT(requests.load(), 20);
  EXPECT_EQ(failures.load(), 0) << (errors.empty() ? "" : errors.front());
  HttpResult last = Post("/v1/models/lin:predict", R"({"instances":[[1,1]]})");
  EXPECT_TRUE(Contains(last.body, R"("version":12,"predictions":[{"score":14}])")) << last.body;
  EXPECT_TRUE(Contains(Get("/v1/models").body, R"("versions":[9,10,11,12])"));
}

TEST_F(ServingApiTest, WatcherPicksUpNewVersionsWithoutAReloadCall) {
  Start("", /*poll_ms=*/50);
  PublishLinear(root_, "lin", 7, 0, 0, 42);
  std::string body;
  for (int attempt = 0; attempt < 200; ++attempt) {
    body = Post("/v1/models/lin:predict", R"({"instances":[[1,1]]})").body;
    if (Contains(body, R"("version":7)")) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  EXPECT_TRUE(Contains(body, R"("version":7,"predictions":[{"score":42}])")) << body;
  fs::remove_all(root_ / "clf");
  for (int attempt = 0; attempt < 200; ++attempt) {
    if (Get("/v1/models/clf").status == 404) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  EXPECT_EQ(Get("/v1/models/clf").status, 404);
}

TEST_F(ServingApiTest, RegistryExportsMemoryAndVersionGauges) {
  MetricsRegistry metrics;
  config::ModelsOptions options;
  options.registry_dir = root_.string();
  auto registry = ModelRegistry::Open(options, kinds_, &metrics);
  ASSERT_TRUE(registry.ok());
  std::string text = metrics.Render();
  EXPECT_TRUE(Contains(text, "osprey_model_versions 4")) << text;
  EXPECT_TRUE(Contains(text, "osprey_model_memory_bytes{model=\"anom\",version=\"1\"}")) << text;
  fs::remove_all(root_ / "anom");
  (*registry)->Reload();
  text = metrics.Render();
  EXPECT_TRUE(Contains(text, "osprey_model_versions 3")) << text;
  EXPECT_TRUE(Contains(text, "osprey_model_memory_bytes{model=\"anom\",version=\"1\"} 0")) << text;
}

TEST(ModelRegistryTest, NoDirectoryServesNothingAndBadDirectoryFails) {
  models::ModelKindRegistry kinds;
  models::RegisterBuiltinKinds(kinds);
  auto empty = ModelRegistry::Open(config::ModelsOptions{}, kinds, nullptr);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE((*empty)->snapshot()->models.empty());
  config::ModelsOptions bad;
  bad.registry_dir = "/proc/version/registry";  // under a file: cannot be created
  auto failed = ModelRegistry::Open(bad, kinds, nullptr);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), Status::Code::kIOError);
}

}  // namespace
}  // namespace osprey::daemon
