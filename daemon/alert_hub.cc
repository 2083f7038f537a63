// Implements daemon/alert_hub.h: filters, rendering, the ring and fan-out, and the
// GET /v1/alerts WebSocket route (through the Beast-free http_server.h).
#include "daemon/alert_hub.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <system_error>
#include <utility>

#include "config/base/check.h"
#include "config/base/json_writer.h"
#include "daemon/http_server.h"

namespace osprey::daemon {

bool GlobMatch(std::string_view pattern, std::string_view text) {
  // Greedy with one backtrack point (the last '*'): linear in practice.
  size_t p = 0;
  size_t t = 0;
  size_t star = std::string_view::npos;
  size_t star_text = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_text = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++star_text;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool AlertFilter::Matches(std::string_view pipeline_name, std::string_view key,
                          std::optional<double> grade) const {
  if (pipeline && *pipeline != pipeline_name) return false;
  if (min_grade && grade.value_or(1.0) < *min_grade) return false;
  if (key_glob && !GlobMatch(*key_glob, key)) return false;
  return true;
}

std::string FormatRfc3339Millis(int64_t unix_ms) {
  using std::chrono::days;
  using std::chrono::milliseconds;
  const std::chrono::sys_time<milliseconds> time{milliseconds(unix_ms)};
  const auto day = std::chrono::floor<days>(time);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::hh_mm_ss<milliseconds> hms{time - day};
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()),
                static_cast<int>(hms.subseconds().count()));
  return buf;
}

std::string AlertFingerprint(std::string_view pipeline, std::string_view key) {
  // FNV-1a 64 over pipeline, '\0', key.
  uint64_t hash = 14695981039346656037ULL;
  auto mix = [&hash](std::string_view bytes) {
    for (char c : bytes) {
      hash ^= static_cast<unsigned char>(c);
      hash *= 1099511628211ULL;
    }
  };
  mix(pipeline);
  mix(std::string_view("\0", 1));
  mix(key);
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(hash));  // NOLINT(google-runtime-int)
  return buf;
}

namespace {

// Everything of the alert message after "seq" (begins with ','), so that the lock-free part of
// Publish renders it and the locked part only prepends the seq.
std::string RenderAlertTail(const Alert& alert) {
  std::string out;
  out.reserve(512 + alert.values_json.size() + alert.attribution_json.size() +
              alert.expected_json.size());
  auto number = [&out](double v) { JsonWriter(&out).Double(v); };
  auto raw_or_null = [&out](const std::string& json) { out += json.empty() ? "null" : json; };

  out += R"(,"status":"firing","labels":{"alertname":"OspreyAnomaly","pipeline":)";
  AppendJsonString(out, alert.pipeline);
  out += R"(,"key":)";
  AppendJsonString(out, alert.key);
  out += R"(},"annotations":{"summary":)";
  char summary_numbers[96];
  if (alert.grade) {
    std::snprintf(summary_numbers, sizeof(summary_numbers), "score %.4g, grade %.3g", alert.score,
                  *alert.grade);
  } else {
    std::snprintf(summary_numbers, sizeof(summary_numbers), "score %.4g", alert.score);
  }
  AppendJsonString(out, "Anomaly in pipeline '" + alert.pipeline + "' for key '" + alert.key +
                            "': " + summary_numbers);
  out += R"(},"startsAt":)";
  AppendJsonString(out, FormatRfc3339Millis(alert.event_time_ms));
  out += R"(,"endsAt":)";
  AppendJsonString(out, FormatRfc3339Millis(alert.event_time_ms + kAlertNominalDurationMs));
  out += R"(,"fingerprint":)";
  AppendJsonString(out, AlertFingerprint(alert.pipeline, alert.key));
  out += R"(,"score":)";
  number(alert.score);
  out += R"(,"grade":)";
  if (alert.grade) {
    number(*alert.grade);
  } else {
    out += "null";
  }
  out += R"(,"values":)";
  raw_or_null(alert.values_json);
  out += R"(,"attribution":)";
  raw_or_null(alert.attribution_json);
  out += R"(,"expected":)";
  raw_or_null(alert.expected_json);
  out += R"(,"source":{"topic":)";
  AppendJsonString(out, alert.source_topic);
  out += R"(,"partition":)";
  out += std::to_string(alert.partition);
  out += R"(,"offset":)";
  out += std::to_string(alert.offset);
  out += "}}";
  return out;
}

std::string AlertHead(uint64_t seq) { return R"({"type":"alert","seq":)" + std::to_string(seq); }

}  // namespace

std::string RenderAlertJson(const Alert& alert, uint64_t seq) {
  return AlertHead(seq) + RenderAlertTail(alert);
}

// ------------------------------------------------------------------------------------------
// AlertHub

AlertHub::Subscription::Subscription(Subscription&& other) noexcept
    : hub_(std::exchange(other.hub_, nullptr)), id_(std::exchange(other.id_, 0)) {}

AlertHub::Subscription& AlertHub::Subscription::operator=(Subscription&& other) noexcept {
  if (this != &other) {
    Reset();
    hub_ = std::exchange(other.hub_, nullptr);
    id_ = std::exchange(other.id_, 0);
  }
  return *this;
}

void AlertHub::Subscription::Reset() {
  if (hub_ == nullptr) return;
  hub_->Unsubscribe(id_);
  hub_ = nullptr;
  id_ = 0;
}

AlertHub::AlertHub(AlertHubOptions options) : capacity_(options.ring_capacity) {
  OSPREY_CHECK(capacity_ > 0) << "AlertHubOptions.ring_capacity must be > 0";
  MutexLock lock(&mu_);
  ring_.resize(capacity_);
}

AlertHub::~AlertHub() {
  MutexLock lock(&mu_);
  OSPREY_CHECK(subscribers_.empty())
      << "AlertHub destroyed with " << subscribers_.size() << " subscriptions left";
}

uint64_t AlertHub::OldestLocked() const {
  if (last_seq_ == 0) return 0;
  return last_seq_ >= capacity_ ? last_seq_ - capacity_ + 1 : 1;
}

uint64_t AlertHub::Publish(const Alert& alert) {
  std::string tail = RenderAlertTail(alert);  // the costly part, outside the lock
  MutexLock lock(&mu_);
  const uint64_t seq = ++last_seq_;
  Entry& entry = ring_[(seq - 1) % capacity_];
  entry.seq = seq;
  entry.pipeline = alert.pipeline;
  entry.key = alert.key;
  entry.grade = alert.grade;
  entry.json = std::make_shared<const std::string>(AlertHead(seq) + tail);
  if (subscribers_.empty()) return seq;

  Message message;
  message.kind = Message::Kind::kLive;
  message.seq = seq;
  message.json = entry.json;
  delivering_thread_.store(std::this_thread::get_id(), std::memory_order_relaxed);
  for (auto& [id, subscriber] : subscribers_) {
    if (subscriber.filter.Matches(entry.pipeline, entry.key, entry.grade) && !RemovedLocked(id)) {
      subscriber.callback(message);
    }
  }
  delivering_thread_.store(std::thread::id(), std::memory_order_relaxed);
  ApplyDeferredRemovalsLocked();
  return seq;
}

bool AlertHub::RemovedLocked(uint64_t id) const {
  return !deferred_removals_.empty() &&
         std::find(deferred_removals_.begin(), deferred_removals_.end(), id) !=
             deferred_removals_.end();
}

void AlertHub::ApplyDeferredRemovalsLocked() {
  for (uint64_t id : deferred_removals_) subscribers_.erase(id);
  deferred_removals_.clear();
}

AlertHub::Subscription AlertHub::Subscribe(AlertFilter filter,
                                           std::optional<uint64_t> resume_after,
                                           Callback callback) {
  OSPREY_CHECK(callback != nullptr) << "AlertHub::Subscribe without a callback";
  MutexLock lock(&mu_);
  const uint64_t id = next_subscriber_id_++;
  if (resume_after && *resume_after < last_seq_) {
    const uint64_t oldest = OldestLocked();
    uint64_t first = *resume_after + 1;
    delivering_thread_.store(std::this_thread::get_id(), std::memory_order_relaxed);
    if (first < oldest) {
      Message gap;
      gap.kind = Message::Kind::kGap;
      gap.json = std::make_shared<const std::string>(
          R"({"type":"lost","count":)" + std::to_string(oldest - first) +
          R"(,"reason":"evicted"})");
      callback(gap);
      first = oldest;
    }
    Message replay;
    replay.kind = Message::Kind::kReplay;
    for (uint64_t seq = first; seq <= last_seq_; ++seq) {
      const Entry& entry = ring_[(seq - 1) % capacity_];
      if (!filter.Matches(entry.pipeline, entry.key, entry.grade)) continue;
      replay.seq = seq;
      replay.json = entry.json;
      callback(replay);
    }
    delivering_thread_.store(std::thread::id(), std::memory_order_relaxed);
    ApplyDeferredRemovalsLocked();
  }
  subscribers_.emplace(id, Subscriber{std::move(filter), std::move(callback)});
  return Subscription(this, id);
}

void AlertHub::Unsubscribe(uint64_t id) {
  if (delivering_thread_.load(std::memory_order_relaxed) == std::this_thread::get_id()) {
    // Inside a callback on this thread, which holds mu_: the delivery loop skips it and erases
    // it when done.
    deferred_removals_.push_back(id);
    return;
  }
  MutexLock lock(&mu_);
  subscribers_.erase(id);
}

uint64_t AlertHub::last_seq() const {
  MutexLock lock(&mu_);
  return last_seq_;
}

uint64_t AlertHub::oldest_retained_seq() const {
  MutexLock lock(&mu_);
  return OldestLocked();
}

size_t AlertHub::subscriber_count() const {
  MutexLock lock(&mu_);
  return subscribers_.size();
}

// ------------------------------------------------------------------------------------------
// GET /v1/alerts

namespace {

// Parses a query parameter of the feed; on error sets *error.
template <typename T>
std::optional<T> ParseFeedNumber(const HttpRequest& req, std::string_view name,
                                 std::string* error) {
  std::optional<std::string> text = req.QueryParam(name);
  if (!text) return std::nullopt;
  T value{};
  const char* end = text->data() + text->size();
  auto [ptr, ec] = std::from_chars(text->data(), end, value);
  if (text->empty() || ec != std::errc() || ptr != end) {
    *error = "query parameter '" + std::string(name) + "': not a valid number: '" + *text + "'";
    return std::nullopt;
  }
  return value;
}

// Live subscription of one connection; released by on_close.
struct AlertFeedConnection {
  AlertHub::Subscription subscription;
};

}  // namespace

void AddAlertFeed(HttpRouter& router, AlertHub& hub) { AddAlertFeed(router, hub, {}); }

void AddAlertFeed(HttpRouter& router, AlertHub& hub, const WebSocketOptions& options) {
  router.AddWebSocket(
      "/v1/alerts",
      [&hub](const HttpRequest& req) -> WebSocketHandlerResult {
        AlertFilter filter;
        std::string error;
        for (const char* name : {"pipeline", "key"}) {
          std::optional<std::string> value = req.QueryParam(name);
          if (value && value->empty()) {
            return HttpResponse::Error(
                400, "query parameter '" + std::string(name) + "' must not be empty");
          }
          (std::string_view(name) == "pipeline" ? filter.pipeline : filter.key_glob) =
              std::move(value);
        }
        filter.min_grade = ParseFeedNumber<double>(req, "min_grade", &error);
        if (error.empty() && filter.min_grade &&
            !(*filter.min_grade >= 0.0 && *filter.min_grade <= 1.0)) {
          error = "query parameter 'min_grade' must be in [0, 1]";
        }
        std::optional<uint64_t> since;
        if (error.empty()) since = ParseFeedNumber<uint64_t>(req, "since", &error);
        if (!error.empty()) return HttpResponse::Error(400, error);

        auto state = std::make_shared<AlertFeedConnection>();
        WebSocketSession session;
        session.on_open = [&hub, state, filter = std::move(filter),
                           since](const std::shared_ptr<WebSocketConnection>& connection) mutable {
          std::weak_ptr<WebSocketConnection> weak = connection;
          state->subscription = hub.Subscribe(
              std::move(filter), since, [weak = std::move(weak)](const AlertHub::Message& message) {
                auto target = weak.lock();
                if (target == nullptr) return;
                // A replay (and its gap notice) is bounded by the ring: queue it whole.
                target->Send(message.json, message.kind == AlertHub::Message::Kind::kLive
                                               ? WebSocketConnection::SendMode::kDropWhenFull
                                               : WebSocketConnection::SendMode::kAlwaysQueue);
              });
        };
        session.on_close = [state] { state->subscription.Reset(); };
        return session;
      },
      options);
}

}  // namespace osprey::daemon
