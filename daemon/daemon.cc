#include "daemon/daemon.h"

#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "config/base/clock.h"
#include "config/base/json_writer.h"
#include "daemon/alert_hub.h"
#include "daemon/dashboard/dashboard.h"
#include "daemon/demo_stream.h"
#include "daemon/history_recorder.h"
#include "daemon/http_server.h"
#include "daemon/kafka/embedded_broker.h"
#include "daemon/kafka/producer.h"
#include "daemon/live_hub.h"
#include "daemon/model_registry.h"
#include "daemon/serving_api.h"
#include "daemon/savepoint.h"
#include "daemon/source_runner.h"
#include "models/serving/builtin_kinds.h"
#include "state/rocksdb_store.h"

#include <filesystem>

namespace osprey::daemon {

const char* OspreyVersion() { return "0.1.0"; }

namespace {

// The YAML `type` of an operator kind.
const char* OperatorType(config::OperatorKind kind) {
  switch (kind) {
    case config::OperatorKind::kBaseline: return "baseline";
    case config::OperatorKind::kRcf: return "rcf";
    case config::OperatorKind::kWindow: return "window";
    case config::OperatorKind::kHotspots: return "hotspots";
  }
  return "other";
}

}  // namespace
// Live key scoring and export over the source runners.
class RunnerKeyModels final : public LiveKeyScorer {
 public:
  RunnerKeyModels(const config::DaemonConfig& config,
                  const std::vector<std::unique_ptr<SourceRunner>>& runners)
      : config_(config), runners_(runners) {}

  // Runs `fn` on the live model of `key` in `pipeline`.
  Status WithModel(const std::string& pipeline, const std::string& key,
                   const std::function<Status(const models::rcf::ThresholdedForest&)>& fn) const {
    const config::PipelineOptions* p = config_.FindPipeline(pipeline);
    if (p == nullptr) return Status::NotFound("unknown pipeline '" + pipeline + "'");
    bool has_rcf = false;
    for (const auto& op : p->operators) has_rcf = has_rcf || op.kind == config::OperatorKind::kRcf;
    if (!has_rcf) {
      return Status::InvalidArgument("pipeline '" + pipeline + "' has no rcf operator");
    }
    for (const auto& r : runners_) {
      if (r->source_name() == p->source) return r->WithKeyModel(pipeline, key, fn);
    }
    return Status::NotFound("pipeline '" + pipeline + "' is not running");
  }

  // The source's value fields: the names of the model's inputs.
  std::vector<std::string> Inputs(const std::string& pipeline) const {
    const config::PipelineOptions* p = config_.FindPipeline(pipeline);
    const config::SourceOptions* s = p != nullptr ? config_.FindSource(p->source) : nullptr;
    return s != nullptr ? s->value_fields : std::vector<std::string>{};
  }

  Result<std::string> ScoreKey(const std::string& pipeline, const std::string& key,
                               const std::vector<std::vector<double>>& points) override {
    const std::vector<std::string> names = Inputs(pipeline);
    std::string out;
    JsonWriter w(&out);
    w.BeginArray();
    for (size_t idx = 0; idx < points.size(); ++idx) {
      // One point per lock: the pipeline waits for at most one score.
      OSPREY_RETURN_IF_ERROR(WithModel(pipeline, key, [&](const models::rcf::ThresholdedForest& m) {
        Result<models::rcf::AnomalyDescriptor> d = m.Peek(points[idx]);
        if (!d.ok()) {
          return Status::InvalidArgument("point " + std::to_string(idx) + ": " +
                                         d.status().message());
        }
        w.BeginObject();
        w.Key("score").Double(d->score);
        w.Key("grade").Double(d->grade);
        w.Key("threshold").Double(d->threshold);
        w.Key("confidence").Double(d->confidence);
        w.Key("attribution").BeginObject();
        for (size_t col = 0; col < d->attribution.size(); ++col) {
          w.Key(col < names.size() ? names[col] : std::string("v").append(std::to_string(col)))
              .Double(d->attribution[col]);
        }
        w.EndObject();
        w.EndObject();
        return Status::Ok();
      }));
    }
    w.EndArray();
    return out;
  }

 private:
  const config::DaemonConfig& config_;
  const std::vector<std::unique_ptr<SourceRunner>>& runners_;
};

struct Daemon::Impl {
  config::DaemonConfig config;
  MetricsRegistry metrics;
  AlertHub alerts;  // outlives the runners (publishers) and the HTTP server (subscribers)
  LiveHub live;     // the dashboard's tables; outlives the runners and the HTTP server
  std::unique_ptr<EmbeddedBroker> broker;
  std::string bootstrap;
  std::unique_ptr<state::RocksStore> store;  // outlives the runners
  std::unique_ptr<HistoryJanitor> history_janitor;  // null: no pipeline keeps history
  std::unique_ptr<Producer> producer;
  std::vector<std::unique_ptr<SourceRunner>> runners;
  std::vector<std::unique_ptr<DemoStream>> demos;
  models::ModelKindRegistry model_kinds;  // outlives `models`
  std::unique_ptr<ModelRegistry> models;  // outlives the HTTP server
  std::unique_ptr<RunnerKeyModels> key_models;
  std::unique_ptr<HttpServer> http;
  std::atomic<bool> stopping{false};
  std::atomic<bool> stopped{false};
  int64_t started_at_ms = 0;
  std::mutex savepoint_mu;  // one savepoint at a time

  Status Health() const {
    for (const auto& r : runners) {
      Status st = r->health();
      if (!st.ok()) return st;
    }
    return Status::Ok();
  }

  bool Ready() const {
    if (stopping.load() || !Health().ok()) return false;
    for (const auto& r : runners) {
      if (r->assigned_partitions() == 0) return false;
    }
    return !runners.empty();
  }

  HttpRouter Routes() {
    HttpRouter router;
    router.Add("GET", "/healthz", [](const HttpRequest&) {
      return HttpResponse::Json(200, R"({"status":"ok"})");
    });
    router.Add("GET", "/readyz", [this](const HttpRequest&) {
      std::string body;
      JsonWriter w(&body);
      bool ready = Ready();
      Status health = Health();
      w.BeginObject();
      w.Key("status").String(ready ? "ready" : "not_ready");
      if (stopping.load()) w.Key("reason").String("shutting down");
      if (!health.ok()) w.Key("reason").String(health.ToString());
      w.Key("sources").BeginObject();
      for (const auto& r : runners) {
        w.Key(r->source_name()).BeginObject();
        w.Key("assigned_partitions").Int(r->assigned_partitions());
        w.Key("records_consumed").Int(r->records_consumed());
        w.EndObject();
      }
      w.EndObject();
      w.EndObject();
      return HttpResponse::Json(ready ? 200 : 503, std::move(body));
    });
    AddAlertFeed(router, alerts);
    AddLiveRoutes(router, live, alerts);
    AddDashboardRoutes(router);
    AddServingRoutes(router, *models, key_models.get());
    // `osprey model export`: a live key's forest as ThresholdedForest::Save() bytes; the
    // X-Osprey-Inputs header names its inputs (the source's value fields).
    router.Add(
        "GET", "/v1/admin/pipelines/{pipeline}/keys/{key}/model", [this](const HttpRequest& req) {
          const std::string& pipeline = req.path_params.at("pipeline");
          std::string bytes;
          Status st = key_models->WithModel(pipeline, req.path_params.at("key"),
                                            [&](const models::rcf::ThresholdedForest& m) {
                                              bytes = m.Save();
                                              return Status::Ok();
                                            });
          if (!st.ok()) {
            return HttpResponse::Error(st.code() == Status::Code::kNotFound ? 404 : 400,
                                       st.message());
          }
          HttpResponse r = HttpResponse::Text(200, std::move(bytes), "application/octet-stream");
          std::string inputs;
          for (const std::string& n : key_models->Inputs(pipeline)) {
            inputs += (inputs.empty() ? "" : ",") + n;
          }
          r.headers.emplace_back("X-Osprey-Inputs", std::move(inputs));
          return r;
        });
    router.Add("GET", "/metrics", [this](const HttpRequest&) {
      return HttpResponse::Text(200, metrics.Render(), "text/plain; version=0.0.4; charset=utf-8");
    });
    router.Add("GET", "/v1/info", [this](const HttpRequest&) {
      std::string body;
      JsonWriter w(&body);
      w.BeginObject();
      w.Key("name").String("ospreyd");
      w.Key("version").String(OspreyVersion());
      w.Key("config_file").String(config.file);
      w.Key("config_digest").String(config.digest);
      w.Key("started_at_ms").Int(started_at_ms);
      w.Key("bootstrap_servers").String(bootstrap);
      w.Key("embedded_broker");
      if (broker) {
        w.String(broker->bootstrap_servers());
      } else {
        w.Null();
      }
      w.Key("http_port").Int(http ? http->port() : 0);
      w.Key("pipelines").BeginArray();
      for (const auto& p : config.pipelines) {
        w.BeginObject();
        w.Key("name").String(p.name);
        w.Key("source").String(p.source);
        w.Key("operators").BeginArray();
        for (const auto& op : p.operators) w.String(op.name);
        w.EndArray();
        w.Key("sinks").BeginArray();
        for (const auto& s : p.sinks) w.String(s);
        w.EndArray();
        w.EndObject();
      }
      w.EndArray();
      w.EndObject();
      return HttpResponse::Json(200, std::move(body));
    });
    // Admin: a savepoint of the state store (daemon/savepoint.h). Body (optional):
    // {"dir": "/path/that/does/not/exist"}; default <state.dir>/savepoints/savepoint-<time>.
    router.Add("POST", "/v1/admin/savepoint", [this](const HttpRequest& req) {
      std::string dir;
      if (!req.body.empty()) {
        simdjson::dom::parser parser;
        simdjson::padded_string body(req.body);
        simdjson::dom::element root;
        std::string_view value;
        if (parser.parse(body).get(root) || !root.is_object()) {
          return HttpResponse::Error(400, "body must be a JSON object, e.g. {\"dir\": \"/x\"}");
        }
        auto field = root["dir"];
        if (field.error() != simdjson::NO_SUCH_FIELD) {
          if (field.get(value) || value.empty()) {
            return HttpResponse::Error(400, "\"dir\" must be a non-empty string");
          }
          dir = std::string(value);
        }
      }
      auto manifest = Savepoint(dir);
      if (!manifest.ok()) {
        int code = manifest.status().code() == Status::Code::kInvalidArgument ? 409 : 500;
        return HttpResponse::Error(code, manifest.status().ToString());
      }
      std::string body = "{\"dir\":";
      AppendJsonString(body, manifest->first);
      body += ",\"manifest\":" + manifest->second + "}";
      return HttpResponse::Json(200, std::move(body));
    });
    return router;
  }

  // The barrier of a savepoint: every healthy runner completes a checkpoint that covers what it
  // processed before this call (bounded wait; on timeout the last completed one is used).
  void CheckpointNow() {
    std::vector<std::pair<SourceRunner*, int64_t>> waiting;
    for (auto& r : runners) {
      if (!r->health().ok()) continue;
      waiting.emplace_back(r.get(), r->checkpoints_completed());
      r->RequestCheckpoint();
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (const auto& [runner, before] : waiting) {
      while (runner->checkpoints_completed() == before && runner->health().ok()) {
        if (std::chrono::steady_clock::now() > deadline) {
          spdlog::warn("savepoint: source '{}' did not checkpoint within 30 s; the savepoint "
                       "holds its last completed checkpoint",
                       runner->source_name());
          break;
        }
        runner->RequestCheckpoint();  // a request consumed by a postponed commit is renewed
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
  }

  Result<std::pair<std::string, std::string>> Savepoint(std::string dir) {
    std::lock_guard<std::mutex> lock(savepoint_mu);
    if (!store) return Status::Unavailable("no state store (shutting down)");
    if (dir.empty()) dir = DefaultSavepointDir(config, SystemClock::Default().NowMillis());
    CheckpointNow();
    OSPREY_ASSIGN_OR_RETURN(std::string manifest, CreateSavepoint(*store, config, dir));
    return std::make_pair(dir, std::move(manifest));
  }

  Status Shutdown() {
    if (stopped.exchange(true)) return Health();
    stopping.store(true);
    spdlog::info("shutting down");
    for (auto& d : demos) d->Stop();
    for (auto& r : runners) r->Stop();
    if (history_janitor) history_janitor->Stop();
    Status health = Health();
    if (producer) {
      Status st = producer->Flush(std::chrono::seconds(5));
      if (!st.ok()) spdlog::warn("final flush: {}", st.ToString());
    }
    if (models) models->StopWatching();
    if (http) http->Stop();
    runners.clear();
    demos.clear();
    producer.reset();
    {
      std::lock_guard<std::mutex> lock(savepoint_mu);
      store.reset();
    }
    broker.reset();
    spdlog::info("stopped");
    return health;
  }
};

Daemon::Daemon(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Daemon::~Daemon() { Shutdown().IgnoreError(); }  // health was reported by the owner if it cared

Result<std::unique_ptr<Daemon>> Daemon::Start(config::DaemonConfig config, DaemonHooks hooks) {
  auto impl = std::make_unique<Impl>();
  impl->config = std::move(config);
  impl->started_at_ms = SystemClock::Default().NowMillis();
  const config::DaemonConfig& cfg = impl->config;

  if (cfg.kafka.embedded.enabled) {
    OSPREY_ASSIGN_OR_RETURN(impl->broker, EmbeddedBroker::Start(cfg.kafka.embedded));
    impl->bootstrap = impl->broker->bootstrap_servers();
    spdlog::info("embedded Kafka broker (librdkafka mock cluster) listening on {}",
                 impl->bootstrap);
  } else {
    impl->bootstrap = cfg.kafka.bootstrap_servers;
  }
  OSPREY_ASSIGN_OR_RETURN(impl->producer,
                          Producer::Create(cfg.kafka, impl->bootstrap, impl->metrics));

  // The embedded broker forgets everything when the process ends, so its state must too: it
  // lives in a subdirectory that is cleared at start. A real cluster's state is kept.
  state::RocksStoreOptions store_options;
  store_options.dir = cfg.state.dir;
  store_options.block_cache_bytes = cfg.state.block_cache_bytes;
  store_options.write_buffer_bytes = cfg.state.write_buffer_bytes;
  store_options.faults = hooks.store_faults;
  if (cfg.kafka.embedded.enabled) {
    store_options.dir = (std::filesystem::path(cfg.state.dir) / "embedded").string();
    std::error_code ec;
    std::filesystem::remove_all(store_options.dir, ec);
  }
  OSPREY_ASSIGN_OR_RETURN(impl->store, state::RocksStore::Open(store_options));
  spdlog::info("state store in {}", store_options.dir);

  for (const auto& p : cfg.pipelines) {
    LiveHub::PipelineInfo info{p.name, p.source, {}};
    for (const auto& op : p.operators) info.operators.emplace_back(op.name, OperatorType(op.kind));
    impl->live.AddPipeline(std::move(info));
  }

  for (const auto& source : cfg.sources) {
    bool used = false;
    for (const auto& p : cfg.pipelines) used = used || p.source == source.name;
    if (used) {
      OSPREY_ASSIGN_OR_RETURN(auto runner,
                              SourceRunner::Create(cfg, source, impl->bootstrap, *impl->producer,
                                                   impl->metrics, SystemClock::Default(),
                                                   impl->store.get(), &impl->alerts));
      runner->set_live_hub(&impl->live);
      impl->runners.push_back(std::move(runner));
    } else {
      spdlog::warn("source '{}' is read by no pipeline; not consuming it", source.name);
    }
    if (source.demo) impl->demos.push_back(std::make_unique<DemoStream>(source, *impl->producer));
  }

  models::RegisterBuiltinKinds(impl->model_kinds);
  OSPREY_ASSIGN_OR_RETURN(impl->models,
                          ModelRegistry::Open(cfg.models, impl->model_kinds, &impl->metrics));
  impl->key_models = std::make_unique<RunnerKeyModels>(impl->config, impl->runners);
  impl->history_janitor = HistoryJanitor::Start(*impl->store, cfg);
  OSPREY_ASSIGN_OR_RETURN(impl->http, HttpServer::Start(cfg.http, impl->Routes()));
  impl->models->StartWatching();
  for (auto& r : impl->runners) r->Start();
  for (auto& d : impl->demos) d->Start();
  return std::unique_ptr<Daemon>(new Daemon(std::move(impl)));
}

Status Daemon::Shutdown() { return impl_->Shutdown(); }
Status Daemon::health() const { return impl_->Health(); }
bool Daemon::ready() const { return impl_->Ready(); }
uint16_t Daemon::http_port() const { return impl_->http ? impl_->http->port() : 0; }
const std::string& Daemon::bootstrap_servers() const { return impl_->bootstrap; }
EmbeddedBroker* Daemon::embedded_broker() const { return impl_->broker.get(); }
MetricsRegistry& Daemon::metrics() { return impl_->metrics; }
const config::DaemonConfig& Daemon::config() const { return impl_->config; }
Result<std::string> Daemon::Savepoint(const std::string& dir) {
  OSPREY_ASSIGN_OR_RETURN(auto made, impl_->Savepoint(dir));
  return made.second;
}

}  // namespace osprey::daemon
