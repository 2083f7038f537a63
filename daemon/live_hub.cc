// Implements daemon/live_hub.h: the per-pipeline key tables, the per-key live feeds, and their
// HTTP routes (through the Beast-free http_server.h).
#include "daemon/live_hub.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <utility>

#include "config/base/check.h"
#include "config/base/json_writer.h"
#include "daemon/alert_hub.h"
#include "daemon/http_server.h"

namespace osprey::daemon {

namespace {

constexpr size_t kPointHeader = 4;  // event_time, score, grade, alert
constexpr double kAbsent = std::numeric_limits<double>::quiet_NaN();

void NumberOrNull(JsonWriter& w, double v) {
  if (std::isnan(v)) {
    w.Null();
  } else {
    w.Double(v);
  }
}

}  // namespace

std::optional<double> GradeFromAnnotations(std::string_view annotations) {
  constexpr std::string_view kNeedle = "\"grade\":";
  const size_t pos = annotations.find(kNeedle);
  // Only a top-level member: at the start or after a ',' (operators render flat members first).
  if (pos == std::string_view::npos || (pos != 0 && annotations[pos - 1] != ',')) {
    return std::nullopt;
  }
  const char* begin = annotations.data() + pos + kNeedle.size();
  const char* end = annotations.data() + annotations.size();
  double grade = 0;
  auto [ptr, ec] = std::from_chars(begin, end, grade);
  if (ec != std::errc() || ptr == begin) return std::nullopt;
  return grade;
}

// ------------------------------------------------------------------------------------------
// Watch

LiveHub::Watch::Watch(Watch&& other) noexcept
    : pipeline_(std::exchange(other.pipeline_, nullptr)),
      key_(std::move(other.key_)),
      id_(std::exchange(other.id_, 0)) {}

LiveHub::Watch& LiveHub::Watch::operator=(Watch&& other) noexcept {
  if (this != &other) {
    Reset();
    pipeline_ = std::exchange(other.pipeline_, nullptr);
    key_ = std::move(other.key_);
    id_ = std::exchange(other.id_, 0);
  }
  return *this;
}

void LiveHub::Watch::Reset() {
  if (pipeline_ == nullptr) return;
  pipeline_->Unwatch(key_, id_);
  pipeline_ = nullptr;
  id_ = 0;
}

// ------------------------------------------------------------------------------------------
// Pipeline

LiveHub::Pipeline::Pipeline(PipelineInfo info, const LiveHubOptions& options)
    : info_(std::move(info)), options_(options) {}

LiveHub::Pipeline::~Pipeline() {
  OSPREY_CHECK(watch_count_.load() == 0)
      << "LiveHub pipeline '" << info_.name << "' destroyed with watches left";
}

void LiveHub::Pipeline::Record(const LiveResult& result,
                               const std::shared_ptr<const operators::Schema>& schema) {
  MutexLock lock(&mu_);
  auto it = keys_.find(result.key);
  if (it == keys_.end()) {
    if (keys_.size() >= options_.max_keys_per_pipeline) EvictLocked();
    it = keys_.emplace(std::string(result.key), KeyState{}).first;
  }
  KeyState& state = it->second;
  const size_t stride = kPointHeader + result.values.size();
  if (state.stride != stride) {  // first result, or the shape changed: start over
    state.stride = stride;
    state.history.clear();
    state.next_point = 0;
    state.points = 0;
  }
  // The ring grows one point at a time until full, so a key seen once costs one point.
  if (state.history.size() < stride * options_.history_points) {
    state.history.resize(state.history.size() + stride);
  }
  if (state.schema != schema) state.schema = schema;  // pointer compare: no refcount traffic
  double* point = state.history.data() + state.next_point * stride;
  point[0] = static_cast<double>(result.event_time_ms);
  point[1] = result.score.value_or(kAbsent);
  point[2] = result.grade.value_or(kAbsent);
  point[3] = result.alert ? 1.0 : 0.0;
  std::copy(result.values.begin(), result.values.end(), point + kPointHeader);
  const size_t written = state.next_point;
  state.next_point = (state.next_point + 1) % options_.history_points;
  state.points = std::min(state.points + 1, options_.history_points);
  ++state.count;
  if (result.alert) ++state.alerts;
  state.last_tick = ++tick_;

  if (watch_count_.load(std::memory_order_relaxed) == 0 || state.watchers.empty()) return;
  auto text = std::make_shared<std::string>(R"({"type":"result",)");
  AppendPoint(state, written, text.get());
  *text += '}';
  std::shared_ptr<const std::string> message = std::move(text);
  for (const auto& [id, callback] : state.watchers) callback(message);
}

void LiveHub::Pipeline::AppendPoint(const KeyState& state, size_t point, std::string* out) {
  // Members only: the caller supplies the braces (and possibly members before, with a ',').
  const double* p = state.history.data() + point * state.stride;
  JsonWriter w(out);
  w.Key("event_time").Int(static_cast<int64_t>(p[0]));
  w.Key("values").BeginObject();
  const auto* names = state.schema != nullptr ? &state.schema->value_names : nullptr;
  for (size_t idx = 0; idx + kPointHeader < state.stride; ++idx) {
    w.Key(names != nullptr && idx < names->size() ? std::string_view((*names)[idx])
                                                  : std::string_view("?"));
    w.Double(p[kPointHeader + idx]);
  }
  w.EndObject();
  NumberOrNull(w.Key("score"), p[1]);
  NumberOrNull(w.Key("grade"), p[2]);
  w.Key("alert").Bool(p[3] != 0);
}

LiveHub::Watch LiveHub::Pipeline::WatchKey(std::string key, Callback callback) {
  OSPREY_CHECK(callback != nullptr) << "LiveHub::WatchKey without a callback";
  std::string history = R"({"type":"history","pipeline":)";
  AppendJsonString(history, info_.name);
  history += R"(,"key":)";
  AppendJsonString(history, key);
  history += R"(,"points":[)";
  MutexLock lock(&mu_);
  KeyState& state = keys_[key];
  if (state.last_tick == 0) state.last_tick = ++tick_;  // a new (empty) key counts as recent
  const size_t first = (state.next_point + options_.history_points - state.points) %
                       std::max<size_t>(options_.history_points, 1);
  for (size_t n = 0; n < state.points; ++n) {
    if (n > 0) history += ',';
    history += '{';
    AppendPoint(state, (first + n) % options_.history_points, &history);
    history += '}';
  }
  history += "]}";
  callback(std::make_shared<const std::string>(std::move(history)));
  const uint64_t id = next_watch_id_++;
  state.watchers.emplace_back(id, std::move(callback));
  watch_count_.fetch_add(1, std::memory_order_relaxed);
  return Watch(this, std::move(key), id);
}

void LiveHub::Pipeline::Unwatch(const std::string& key, uint64_t id) {
  MutexLock lock(&mu_);
  auto it = keys_.find(key);
  if (it == keys_.end()) return;
  auto& watchers = it->second.watchers;
  auto w = std::find_if(watchers.begin(), watchers.end(),
                        [id](const auto& entry) { return entry.first == id; });
  if (w == watchers.end()) return;
  watchers.erase(w);
  watch_count_.fetch_sub(1, std::memory_order_relaxed);
}

void LiveHub::Pipeline::EvictLocked() {
  std::vector<uint64_t> ticks;
  ticks.reserve(keys_.size());
  for (const auto& [key, state] : keys_) {
    if (state.watchers.empty()) ticks.push_back(state.last_tick);
  }
  if (ticks.empty()) return;  // everything watched: the table grows past the limit
  auto middle = ticks.begin() + static_cast<std::ptrdiff_t>((ticks.size() - 1) / 2);
  std::nth_element(ticks.begin(), middle, ticks.end());
  const uint64_t cutoff = *middle;
  for (auto it = keys_.begin(); it != keys_.end();) {
    if (it->second.watchers.empty() && it->second.last_tick <= cutoff) {
      it = keys_.erase(it);
      ++forgotten_keys_;
    } else {
      ++it;
    }
  }
}

void LiveHub::Pipeline::RenderJson(std::string* out) const {
  JsonWriter w(out);
  w.BeginObject();
  w.Key("name").String(info_.name);
  w.Key("source").String(info_.source);
  w.Key("operators").BeginArray();
  for (const auto& [name, type] : info_.operators) {
    w.BeginObject();
    w.Key("name").String(name);
    w.Key("type").String(type);
    w.EndObject();
  }
  w.EndArray();
  w.Key("keys").BeginArray();
  MutexLock lock(&mu_);
  std::vector<const std::pair<const std::string, KeyState>*> sorted;
  sorted.reserve(keys_.size());
  for (const auto& entry : keys_) sorted.push_back(&entry);
  std::sort(sorted.begin(), sorted.end(),
            [](const auto* a, const auto* b) { return a->first < b->first; });
  for (const auto* entry : sorted) {
    const KeyState& state = entry->second;
    w.BeginObject();
    w.Key("key").String(entry->first);
    w.Key("count").Int(static_cast<int64_t>(state.count));
    w.Key("alerts").Int(static_cast<int64_t>(state.alerts));
    w.Key("watchers").Int(static_cast<int64_t>(state.watchers.size()));
    if (state.points > 0) {
      *out += ',';
      const size_t last =
          (state.next_point + options_.history_points - 1) % options_.history_points;
      AppendPoint(state, last, out);
    }
    w.EndObject();
  }
  w.EndArray();
  w.Key("keys_forgotten").Int(static_cast<int64_t>(forgotten_keys_));
  w.EndObject();
}

size_t LiveHub::Pipeline::key_count() const {
  MutexLock lock(&mu_);
  return keys_.size();
}

// ------------------------------------------------------------------------------------------
// LiveHub

LiveHub::LiveHub(LiveHubOptions options) : options_(options) {
  OSPREY_CHECK(options_.max_keys_per_pipeline > 0) << "max_keys_per_pipeline must be > 0";
  OSPREY_CHECK(options_.history_points > 0) << "history_points must be > 0";
}

LiveHub::Pipeline& LiveHub::AddPipeline(PipelineInfo info) {
  OSPREY_CHECK(Find(info.name) == nullptr) << "pipeline '" << info.name << "' added twice";
  pipelines_.push_back(std::make_unique<Pipeline>(std::move(info), options_));
  return *pipelines_.back();
}

LiveHub::Pipeline* LiveHub::Find(std::string_view name) const {
  for (const auto& p : pipelines_) {
    if (p->info().name == name) return p.get();
  }
  return nullptr;
}

std::string LiveHub::RenderPipelinesJson() const {
  std::string out = R"({"pipelines":[)";
  for (size_t idx = 0; idx < pipelines_.size(); ++idx) {
    if (idx > 0) out += ',';
    pipelines_[idx]->RenderJson(&out);
  }
  out += "]}";
  return out;
}

// ------------------------------------------------------------------------------------------
// Routes

namespace {

struct LiveFeedConnection {
  LiveHub::Watch watch;
};

}  // namespace

void AddLiveRoutes(HttpRouter& router, LiveHub& hub, const AlertHub& alerts) {
  router.Add("GET", "/v1/pipelines", [&hub, &alerts](const HttpRequest&) {
    std::string body = hub.RenderPipelinesJson();
    body.pop_back();  // the closing '}'
    body += R"(,"alerts_last_seq":)" + std::to_string(alerts.last_seq()) + "}";
    return HttpResponse::Json(200, std::move(body));
  });

  WebSocketOptions options;
  options.queue_limit = 256;  // a chart that falls behind loses points, not memory
  options.max_lost = std::numeric_limits<uint64_t>::max();  // it may lose any number of them
  router.AddWebSocket(
      "/v1/pipelines/{pipeline}/keys/{key}/live",
      [&hub](const HttpRequest& req) -> WebSocketHandlerResult {
        LiveHub::Pipeline* pipeline = hub.Find(req.path_params.at("pipeline"));
        if (pipeline == nullptr) {
          return HttpResponse::Error(404,
                                     "no pipeline named '" + req.path_params.at("pipeline") + "'");
        }
        auto state = std::make_shared<LiveFeedConnection>();
        WebSocketSession session;
        session.on_open = [pipeline, state, key = req.path_params.at("key")](
                              const std::shared_ptr<WebSocketConnection>& connection) {
          std::weak_ptr<WebSocketConnection> weak = connection;
          state->watch = pipeline->WatchKey(
              key, [weak = std::move(weak)](const std::shared_ptr<const std::string>& json) {
                auto target = weak.lock();
                if (target == nullptr) return;
                // The history is one bounded message: always queue it.
                const bool history = json->compare(0, 17, R"({"type":"history")") == 0;
                target->Send(json, history ? WebSocketConnection::SendMode::kAlwaysQueue
                                           : WebSocketConnection::SendMode::kDropWhenFull);
              });
        };
        session.on_close = [state] { state->watch.Reset(); };
        return session;
      },
      options);
}

}  // namespace osprey::daemon
