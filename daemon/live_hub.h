// LiveHub: what the dashboard sees of the result stream. Per pipeline, a bounded table of the
// keys seen recently (last result, count, and a short history each), and live per-key feeds:
// GET /v1/pipelines and the WebSocket GET /v1/pipelines/{pipeline}/keys/{key}/live.
// Fed from the pipelines' result emission path (SourceRunner's sink), one Record per result.
// Thread-safe. Record runs on pipeline threads: it takes the pipeline's table lock (contended
// only by HTTP readers), renders and hands a message on only when someone watches that key (an
// atomic check first), and never waits for a watcher. No Beast here (STYLE.md §11).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/base/mutex.h"
#include "operators/event.h"

namespace osprey::daemon {

class AlertHub;
class HttpRouter;

struct LiveHubOptions {
  // Keys tracked per pipeline. When a new key arrives at the limit, the least recently updated
  // half of the unwatched keys is forgotten (amortised O(1) per result). Default: 1000.
  // Must be > 0.
  size_t max_keys_per_pipeline = 1000;
  // Results kept per key, sent to a new watcher so its chart starts filled. Memory bound:
  // max_keys_per_pipeline * history_points * (4 + values) * 8 bytes per pipeline (about 5.8 MB
  // at the defaults with two values). Default: 120. Must be > 0.
  size_t history_points = 120;
};

// One result, as the emission path reports it. Views into the caller's storage.
struct LiveResult {
  std::string_view key;
  int64_t event_time_ms = 0;
  std::span<const double> values;
  std::optional<double> score;
  std::optional<double> grade;  // in [0, 1]; absent for detectors without one
  bool alert = false;
};

// The top-level "grade" member of an event's rendered annotations ("\"grade\":0.4,..."), if
// any. Cheap: one substring search and a number parse, no JSON parse.
std::optional<double> GradeFromAnnotations(std::string_view annotations);

class LiveHub {
 public:
  // A message for one watcher: a pre-rendered JSON text.
  using Callback = std::function<void(const std::shared_ptr<const std::string>& json)>;

  struct PipelineInfo {
    std::string name;
    std::string source;
    // (name, type) of each operator, in order.
    std::vector<std::pair<std::string, std::string>> operators;
  };

  class Pipeline;

  // Keeps a key's live feed open; destroying or Reset()ting it stops the callbacks (after any
  // call in progress returns). REQUIRES: not destroyed from inside its own callback.
  class Watch {
   public:
    Watch() = default;
    Watch(Watch&& other) noexcept;
    Watch& operator=(Watch&& other) noexcept;
    ~Watch() { Reset(); }
    void Reset();

   private:
    friend class Pipeline;
    Watch(Pipeline* pipeline, std::string key, uint64_t id)
        : pipeline_(pipeline), key_(std::move(key)), id_(id) {}
    Pipeline* pipeline_ = nullptr;
    std::string key_;
    uint64_t id_ = 0;
  };

  // One pipeline's key table and watchers. Thread-safe.
  class Pipeline {
   public:
    Pipeline(PipelineInfo info, const LiveHubOptions& options);
    ~Pipeline();  // REQUIRES: no Watch left

    const PipelineInfo& info() const { return info_; }

    // Records one result of this pipeline. `schema` names result.values (null or short: "?");
    // it is kept (shared) while the key is. Never blocks on a watcher: callbacks must be quick.
    void Record(const LiveResult& result, const std::shared_ptr<const operators::Schema>& schema);

    // Subscribes to `key` (seen yet or not): `callback` first gets the history message
    // {"type":"history","pipeline":P,"key":K,"points":[R...]} (oldest first, possibly empty),
    // then one {"type":"result",R...} per new result, where R is
    // "event_time":ms,"values":{name:v...},"score":S|null,"grade":G|null,"alert":bool.
    // A watched key is never forgotten.
    Watch WatchKey(std::string key, Callback callback);

    // Appends this pipeline as a JSON object to `out` (see LiveHub::RenderPipelinesJson).
    void RenderJson(std::string* out) const;

    size_t key_count() const;
    size_t watch_count() const { return watch_count_.load(std::memory_order_relaxed); }

   private:
    friend class Watch;
    struct KeyState {
      // history: stride 4 + values per point: [event_time, score|NaN, grade|NaN, alert 0/1,
      // values...], a ring of at most options.history_points points, next at `next_point`.
      std::vector<double> history;
      size_t stride = 0;
      size_t next_point = 0;
      size_t points = 0;
      std::shared_ptr<const operators::Schema> schema;
      uint64_t count = 0;      // results recorded
      uint64_t alerts = 0;     // of which alerts
      uint64_t last_tick = 0;  // recency, from Pipeline::tick_
      std::vector<std::pair<uint64_t, Callback>> watchers;
    };

    // Hashes std::string and std::string_view alike, so Record looks keys up without a copy.
    struct KeyHash {
      using is_transparent = void;
      size_t operator()(std::string_view key) const { return std::hash<std::string_view>()(key); }
    };

    void Unwatch(const std::string& key, uint64_t id);
    // Forgets the least recently updated half of the unwatched keys.
    void EvictLocked() OSPREY_REQUIRES(mu_);
    static void AppendPoint(const KeyState& state, size_t point, std::string* out);

    const PipelineInfo info_;       // Constant after construction
    const LiveHubOptions options_;  // Constant after construction
    std::atomic<size_t> watch_count_{0};

    mutable Mutex mu_;
    std::unordered_map<std::string, KeyState, KeyHash, std::equal_to<>> keys_
        OSPREY_GUARDED_BY(mu_);
    uint64_t tick_ OSPREY_GUARDED_BY(mu_) = 0;
    uint64_t next_watch_id_ OSPREY_GUARDED_BY(mu_) = 1;
    uint64_t forgotten_keys_ OSPREY_GUARDED_BY(mu_) = 0;
  };

  explicit LiveHub(LiveHubOptions options = {});
  LiveHub(const LiveHub&) = delete;
  LiveHub& operator=(const LiveHub&) = delete;

  // Registers a pipeline and returns its table, which lives as long as the hub.
  // REQUIRES: called before any concurrent use (at start-up), name not added before.
  Pipeline& AddPipeline(PipelineInfo info);
  // The pipeline named `name`, or null.
  Pipeline* Find(std::string_view name) const;

  // {"pipelines":[{"name":P,"source":S,"operators":[{"name":N,"type":T}...],
  //   "keys":[{"key":K,"count":N,"alerts":N,"watchers":N,"event_time":ms,"values":{..},"score":S|null,
  //            "grade":G|null,"alert":bool}...] (sorted by key),
  //   "keys_forgotten":N}...]}
  std::string RenderPipelinesJson() const;

 private:
  const LiveHubOptions options_;                      // Constant after construction
  std::vector<std::unique_ptr<Pipeline>> pipelines_;  // Constant after start-up
};

// Registers, on `router`:
// - GET /v1/pipelines: LiveHub::RenderPipelinesJson, plus "alerts_last_seq" (the AlertHub's
//   last seq, so that a page can open /v1/alerts?since= a little before it);
// - GET /v1/pipelines/{pipeline}/keys/{key}/live (WebSocket): the key's feed (see WatchKey);
//   404 JSON before the upgrade for an unknown pipeline. Client messages are ignored. A slow
//   client loses results ({"type":"lost","count":N} marks the gap); the pipeline never waits.
// REQUIRES: `hub` and `alerts` outlive the server serving `router`.
void AddLiveRoutes(HttpRouter& router, LiveHub& hub, const AlertHub& alerts);

}  // namespace osprey::daemon
