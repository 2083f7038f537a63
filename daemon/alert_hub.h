// AlertHub: fans anomaly alerts out from pipeline threads to live subscribers (the WebSocket feed
// GET /v1/alerts), numbering them and keeping the most recent ones in a bounded ring so that a
// reconnecting client can resume without a gap. No Beast here (STYLE.md §11).
// Thread-safe. Publish never waits for a subscriber: callbacks must be quick and non-blocking.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "config/base/mutex.h"

namespace osprey::daemon {

class HttpRouter;
struct WebSocketOptions;

// One anomaly, as a pipeline reports it.
struct Alert {
  std::string pipeline;
  std::string key;
  int64_t event_time_ms = 0;  // event time, ms since the Unix epoch
  double score = 0.0;
  std::optional<double> grade;  // in [0, 1]; absent for detectors without one
  // Pre-rendered JSON values (objects or arrays), copied verbatim; empty = null.
  std::string values_json;
  std::string attribution_json;
  std::string expected_json;
  // Where the triggering record came from.
  std::string source_topic;
  int32_t partition = -1;
  int64_t offset = -1;
};

// Which alerts a subscriber wants. Every set field must match.
struct AlertFilter {
  std::optional<std::string> pipeline;  // exact pipeline name
  std::optional<std::string> key_glob;  // GlobMatch pattern over the key
  // Alerts with grade >= min_grade. An alert without a grade counts as grade 1.0 (a detector
  // without grades only emits what it considers an anomaly), so it always passes.
  std::optional<double> min_grade;

  bool Matches(std::string_view pipeline_name, std::string_view key,
               std::optional<double> grade) const;
  bool Matches(const Alert& alert) const {
    return Matches(alert.pipeline, alert.key, alert.grade);
  }
};

// Shell-style glob over bytes: '*' matches any run (also empty), '?' exactly one byte, every
// other byte itself (no escapes, no classes). O(|pattern| * |text|) worst case.
bool GlobMatch(std::string_view pattern, std::string_view text);

// The message one alert becomes on the feed, one JSON object:
//   {"type":"alert","seq":N,"status":"firing",
//    "labels":{"alertname":"OspreyAnomaly","pipeline":P,"key":K},
//    "annotations":{"summary":"..."},
//    "startsAt":RFC3339(event time),"endsAt":startsAt + kAlertNominalDuration,
//    "fingerprint":16 hex digits (FNV-1a 64 of pipeline '\0' key: stable across restarts),
//    "score":S,"grade":G|null,"values":..|null,"attribution":..|null,"expected":..|null,
//    "source":{"topic":T,"partition":N,"offset":N}}
// Osprey alerts are point events; endsAt is a nominal 5 minutes after startsAt, so that an
// Alertmanager-style consumer treats the alert as resolved unless it fires again.
std::string RenderAlertJson(const Alert& alert, uint64_t seq);
inline constexpr int64_t kAlertNominalDurationMs = 5 * 60 * 1000;

// Event time in ms to RFC 3339 UTC with milliseconds, e.g. "2024-05-01T12:00:00.250Z".
std::string FormatRfc3339Millis(int64_t unix_ms);

// Stable 16-hex-digit fingerprint of (pipeline, key).
std::string AlertFingerprint(std::string_view pipeline, std::string_view key);

struct AlertHubOptions {
  // Recent alerts kept for resuming subscribers. Default: 10000. Must be > 0.
  size_t ring_capacity = 10000;
};

class AlertHub {
 public:
  // What a subscriber receives.
  struct Message {
    enum class Kind {
      kLive,    // published after the subscription
      kReplay,  // from the ring, delivered inside Subscribe (resume)
      kGap,     // inside Subscribe, before any kReplay: the resume point is older than the
                // ring; `json` is {"type":"lost","count":N,"reason":"evicted"} where N counts
                // every evicted alert (matching the filter or not), `seq` is 0
    };
    Kind kind = Kind::kLive;
    uint64_t seq = 0;
    std::shared_ptr<const std::string> json;  // RenderAlertJson(alert, seq), shared
  };
  // Called with the hub's lock held, on the publishing thread (or the subscribing thread for
  // kGap/kReplay): must be quick, must not block and must not call Publish or Subscribe. It
  // may destroy its own Subscription.
  using Callback = std::function<void(const Message&)>;

  // Ends its subscription when destroyed or reset; afterwards its callback is not running and
  // is never called again (except: destroyed from inside its own callback, it returns at once
  // and the callback is not called again). Movable. REQUIRES: the hub outlives it.
  class Subscription {
   public:
    Subscription() = default;
    ~Subscription() { Reset(); }
    Subscription(Subscription&& other) noexcept;
    Subscription& operator=(Subscription&& other) noexcept;
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;

    void Reset();
    bool active() const { return hub_ != nullptr; }

   private:
    friend class AlertHub;
    Subscription(AlertHub* hub, uint64_t id) : hub_(hub), id_(id) {}

    AlertHub* hub_ = nullptr;
    uint64_t id_ = 0;
  };

  explicit AlertHub(AlertHubOptions options = {});
  ~AlertHub();  // REQUIRES: no Subscription is left
  AlertHub(const AlertHub&) = delete;
  AlertHub& operator=(const AlertHub&) = delete;

  // Numbers the alert (seq: 1, 2, ...; restarts with the process), keeps it in the ring and
  // hands it to every matching subscriber. Returns its seq. Renders outside the lock; the lock
  // is held for O(1) ring work plus one filter check and callback per subscriber.
  uint64_t Publish(const Alert& alert);

  // Subscribes `callback` to alerts matching `filter`. With `resume_after` = N, first delivers
  // (before returning, in seq order) the retained alerts with seq > N that match as kReplay,
  // preceded by a kGap message if alerts after N were evicted already. Replay and live
  // delivery are seamless: no alert is missed or repeated between them.
  [[nodiscard]] Subscription Subscribe(AlertFilter filter, std::optional<uint64_t> resume_after,
                                       Callback callback);

  uint64_t last_seq() const;          // 0 before the first Publish
  uint64_t oldest_retained_seq() const;  // 0 when the ring is empty
  size_t subscriber_count() const;

 private:
  struct Entry {
    uint64_t seq = 0;
    std::string pipeline;
    std::string key;
    std::optional<double> grade;
    std::shared_ptr<const std::string> json;
  };
  struct Subscriber {
    AlertFilter filter;
    Callback callback;
  };

  // Not analysed: the deferred path runs with mu_ held by this thread's own delivery loop.
  void Unsubscribe(uint64_t id) OSPREY_THREAD_ANNOTATION_(no_thread_safety_analysis);
  void ApplyDeferredRemovalsLocked() OSPREY_REQUIRES(mu_);
  bool RemovedLocked(uint64_t id) const OSPREY_REQUIRES(mu_);
  uint64_t OldestLocked() const OSPREY_REQUIRES(mu_);

  const size_t capacity_;  // Constant after construction

  mutable Mutex mu_;
  std::vector<Entry> ring_ OSPREY_GUARDED_BY(mu_);  // seq s lives at (s - 1) % capacity_
  uint64_t last_seq_ OSPREY_GUARDED_BY(mu_) = 0;
  uint64_t next_subscriber_id_ OSPREY_GUARDED_BY(mu_) = 1;
  std::map<uint64_t, Subscriber> subscribers_ OSPREY_GUARDED_BY(mu_);
  // The thread running callbacks (holding mu_), so that a Subscription destroyed inside a
  // callback does not relock mu_; its removal is deferred to `deferred_removals_`.
  std::atomic<std::thread::id> delivering_thread_{};
  std::vector<uint64_t> deferred_removals_ OSPREY_GUARDED_BY(mu_);
};

// Registers GET /v1/alerts on `router` as a WebSocket endpoint fed by `hub`. Query parameters
// (all optional): pipeline (exact), key (glob), min_grade (number in [0, 1]), since (seq: resume
// after it). A bad value is answered 400 JSON before the upgrade; a plain GET is answered 426.
// Each connection gets RenderAlertJson messages plus the server's {"type":"lost","count":N}
// notices (see WebSocketConnection); client messages are ignored.
// REQUIRES: `hub` outlives the server serving `router`.
void AddAlertFeed(HttpRouter& router, AlertHub& hub);
void AddAlertFeed(HttpRouter& router, AlertHub& hub, const WebSocketOptions& options);

}  // namespace osprey::daemon
