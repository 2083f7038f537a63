// Implements daemon/http_server.h: the router, the listen-address parser and the Boost.Beast
// server. This is the only file of osprey_daemon that includes Beast (STYLE.md §11); Asio and
// Beast themselves are compiled once, in osprey::asio.
//
// Shape (Beast's advanced server example): one acceptor on its own strand; one HttpSession per
// connection, on its own strand, that reads a request, runs its handler, writes the response
// and repeats while keep-alive. A WebSocket upgrade on a WebSocket route hands the connection
// (stream, strand and registry entry) to a WsSession. Sessions are owned by the completion
// handlers in flight (shared_ptr); an HttpConnectionRegistry knows them by weak reference so
// that Stop can close them and max_connections can be enforced.
#include "daemon/http_server.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdio>
#include <deque>
#include <exception>
#include <mutex>
#include <set>
#include <system_error>
#include <thread>
#include <type_traits>
#include <unordered_map>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/detect_ssl.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/error.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

#include "config/base/check.h"
#include "config/base/json_writer.h"
#include "config/base/mutex.h"
#include "daemon/http_access.h"

namespace osprey::daemon {

// ------------------------------------------------------------------------------------------
// Requests, responses, router: no Beast here.

namespace {

int HttpHexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes %XX escapes (an invalid escape is kept as is) and, in a query, '+' as space.
std::string HttpPercentDecode(std::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (size_t pos = 0; pos < in.size(); ++pos) {
    char c = in[pos];
    if (c == '%' && pos + 2 < in.size()) {
      int hi = HttpHexDigit(in[pos + 1]);
      int lo = HttpHexDigit(in[pos + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        pos += 2;
        continue;
      }
    }
    out += (plus_is_space && c == '+') ? ' ' : c;
  }
  return out;
}

// "/a/b" -> {"a", "b"}; "/" -> {""}; "/a/" -> {"a", ""}. REQUIRES: path starts with '/'.
std::vector<std::string_view> HttpSplitPath(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t begin = 1;
  while (true) {
    size_t end = path.find('/', begin);
    if (end == std::string_view::npos) {
      parts.push_back(path.substr(begin));
      return parts;
    }
    parts.push_back(path.substr(begin, end - begin));
    begin = end + 1;
  }
}

}  // namespace

const std::string* HttpRequest::Header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return &value;
  }
  return nullptr;
}

std::optional<std::string> HttpRequest::QueryParam(std::string_view name) const {
  std::string_view rest = query;
  while (!rest.empty()) {
    size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    size_t eq = pair.find('=');
    if (HttpPercentDecode(pair.substr(0, eq), /*plus_is_space=*/true) != name) continue;
    if (eq == std::string_view::npos) return std::string();
    return HttpPercentDecode(pair.substr(eq + 1), /*plus_is_space=*/true);
  }
  return std::nullopt;
}

HttpResponse HttpResponse::Json(int status, std::string body) {
  HttpResponse response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

HttpResponse HttpResponse::Text(int status, std::string body, std::string content_type) {
  HttpResponse response;
  response.status = status;
  response.content_type = std::move(content_type);
  response.body = std::move(body);
  return response;
}

HttpResponse HttpResponse::Error(int status, std::string_view message) {
  std::string body;
  JsonWriter writer(&body);
  writer.BeginObject().Key("error").BeginObject();
  writer.Key("code").Int(status).Key("message").String(message);
  writer.EndObject().EndObject();
  return Json(status, std::move(body));
}

void HttpRouter::Add(std::string method, std::string pattern, HttpHandler handler) {
  OSPREY_CHECK(!method.empty()) << "route " << pattern << ": empty method";
  OSPREY_CHECK(!pattern.empty() && pattern[0] == '/')
      << "route pattern must start with '/': " << pattern;
  OSPREY_CHECK(handler != nullptr) << "route " << method << " " << pattern << ": no handler";
  Route route;
  for (std::string_view part : HttpSplitPath(pattern)) {
    Segment segment;
    if (!part.empty() && part.front() == '{') {
      size_t close = part.find('}');
      OSPREY_CHECK(close != std::string_view::npos && close > 1)
          << "route pattern " << pattern << ": bad parameter segment '" << part << "'";
      segment.text = std::string(part.substr(1, close - 1));
      std::string_view suffix = part.substr(close + 1);
      if (suffix.empty()) {
        segment.kind = Segment::Kind::kParam;
      } else {
        OSPREY_CHECK(suffix.size() > 1 && suffix.front() == ':')
            << "route pattern " << pattern << ": after '}' only ':verb' may follow";
        segment.kind = Segment::Kind::kParamVerb;
        segment.verb = std::string(suffix.substr(1));
      }
    } else {
      segment.text = std::string(part);
    }
    OSPREY_CHECK(segment.text.find_first_of("{}:") == std::string::npos ||
                 segment.kind == Segment::Kind::kLiteral)
        << "route pattern " << pattern << ": bad parameter name '" << segment.text << "'";
    OSPREY_CHECK(segment.text.find_first_of("{}") == std::string::npos &&
                 segment.verb.find_first_of("{}") == std::string::npos)
        << "route pattern " << pattern << ": stray brace in '" << part << "'";
    route.segments.push_back(std::move(segment));
  }
  for (const Route& other : routes_) {
    bool same_shape = other.method == method && other.segments.size() == route.segments.size();
    for (size_t idx = 0; same_shape && idx < route.segments.size(); ++idx) {
      const Segment& a = other.segments[idx];
      const Segment& b = route.segments[idx];
      same_shape = a.kind == b.kind && a.verb == b.verb &&
                   (a.kind != Segment::Kind::kLiteral || a.text == b.text);
    }
    OSPREY_CHECK(!same_shape) << "route " << method << " " << pattern << " duplicates "
                              << other.pattern;
  }
  route.method = std::move(method);
  route.pattern = std::move(pattern);
  route.handler = std::move(handler);
  routes_.push_back(std::move(route));
}

void HttpRouter::AddWebSocket(std::string pattern, WebSocketHandler handler,
                              WebSocketOptions options) {
  OSPREY_CHECK(handler != nullptr) << "websocket route " << pattern << ": no handler";
  OSPREY_CHECK(options.queue_limit > 0) << "websocket route " << pattern << ": queue_limit 0";
  std::string message = "GET " + pattern +
                        " is a WebSocket endpoint: send 'Connection: Upgrade' and "
                        "'Upgrade: websocket' (RFC 6455)";
  Add("GET", std::move(pattern), [message = std::move(message)](const HttpRequest&) {
    HttpResponse response = HttpResponse::Error(426, message);
    response.headers.emplace_back("Upgrade", "websocket");
    return response;
  });
  routes_.back().websocket_index = static_cast<int>(websocket_routes_.size());
  websocket_routes_.push_back(WebSocketRoute{std::move(handler), options});
}

bool HttpRouter::Match(const Route& route, const std::vector<std::string_view>& parts,
                       std::map<std::string, std::string>* params, std::vector<uint8_t>* score) {
  // Per segment: 2 literal, 1 parameter with verb, 0 parameter; compared lexicographically.
  if (route.segments.size() != parts.size()) return false;
  params->clear();
  score->clear();
  for (size_t idx = 0; idx < parts.size(); ++idx) {
    const Segment& segment = route.segments[idx];
    std::string_view part = parts[idx];
    switch (segment.kind) {
      case Segment::Kind::kLiteral:
        if (part != segment.text) return false;
        score->push_back(2);
        break;
      case Segment::Kind::kParam:
        if (part.empty()) return false;
        (*params)[segment.text] = HttpPercentDecode(part, /*plus_is_space=*/false);
        score->push_back(0);
        break;
      case Segment::Kind::kParamVerb: {
        const size_t suffix_size = segment.verb.size() + 1;  // ":verb"
        if (part.size() <= suffix_size || !part.ends_with(segment.verb) ||
            part[part.size() - suffix_size] != ':') {
          return false;
        }
        (*params)[segment.text] =
            HttpPercentDecode(part.substr(0, part.size() - suffix_size), false);
        score->push_back(1);
        break;
      }
    }
  }
  return true;
}

const HttpRouter::Route* HttpRouter::Find(std::string_view method,
                                          const std::vector<std::string_view>& parts,
                                          std::map<std::string, std::string>* params) const {
  const Route* best = nullptr;
  std::vector<uint8_t> best_score;
  std::map<std::string, std::string> candidate_params;
  std::vector<uint8_t> score;
  for (const Route& route : routes_) {
    if (route.method != method || !Match(route, parts, &candidate_params, &score)) continue;
    if (best == nullptr || score > best_score) {
      best = &route;
      best_score = score;
      *params = candidate_params;
    }
  }
  return best;
}

HttpResponse HttpRouter::Dispatch(HttpRequest& req) const {
  if (req.path.empty() || req.path.front() != '/') {
    return HttpResponse::Error(404, "no route for '" + req.path + "'");
  }
  const std::vector<std::string_view> parts = HttpSplitPath(req.path);

  std::map<std::string, std::string> best_params;
  const Route* route = Find(req.method, parts, &best_params);
  if (route == nullptr && req.method == "HEAD") route = Find("GET", parts, &best_params);
  if (route != nullptr) {
    req.path_params = std::move(best_params);
    return route->handler(req);
  }

  std::set<std::string> allowed;
  std::map<std::string, std::string> params;
  std::vector<uint8_t> score;
  for (const Route& candidate : routes_) {
    if (Match(candidate, parts, &params, &score)) allowed.insert(candidate.method);
  }
  if (allowed.empty()) return HttpResponse::Error(404, "no route for '" + req.path + "'");
  if (allowed.count("GET") != 0) allowed.insert("HEAD");
  std::string allow;
  for (const std::string& method : allowed) {
    if (!allow.empty()) allow += ", ";
    allow += method;
  }
  HttpResponse response = HttpResponse::Error(
      405, "method " + req.method + " not allowed for '" + req.path + "'; allowed: " + allow);
  response.headers.emplace_back("Allow", std::move(allow));
  return response;
}

std::optional<WebSocketHandlerResult> HttpRouter::DispatchWebSocket(
    HttpRequest& req, WebSocketOptions* options) const {
  if (websocket_routes_.empty() || req.method != "GET" || req.path.empty() ||
      req.path.front() != '/') {
    return std::nullopt;
  }
  std::map<std::string, std::string> params;
  const Route* route = Find("GET", HttpSplitPath(req.path), &params);
  if (route == nullptr || route->websocket_index < 0) return std::nullopt;
  const WebSocketRoute& websocket = websocket_routes_[static_cast<size_t>(route->websocket_index)];
  req.path_params = std::move(params);
  *options = websocket.options;
  return websocket.handler(req);
}

// ------------------------------------------------------------------------------------------
// The server.

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace websocket = beast::websocket;
using Tcp = net::ip::tcp;

// Request line plus header fields.
constexpr uint32_t kHttpHeaderLimitBytes = 16 * 1024;
// Connections answered 503 (past max_connections) at the same time; more are closed unanswered.
constexpr int kHttpMaxRejecting = 64;
// After an error response that closes the connection, unread input is drained this long so
// that the close does not reset the connection before the client has read the response.
constexpr std::chrono::milliseconds kHttpLingerTimeout(500);
// Stop lets responses being written finish for this long.
constexpr std::chrono::milliseconds kHttpStopGrace(2000);
// Back-off after a failed accept (EMFILE ...), instead of spinning.
constexpr std::chrono::milliseconds kHttpAcceptRetryDelay(50);
// Close budget of a WebSocket closed by Stop (capped by the route's close_timeout).
constexpr std::chrono::milliseconds kWsStopCloseTimeout(1000);
// RFC 6455 §5.5: a close frame's payload is at most 125 bytes, 2 of them the code.
constexpr size_t kWsMaxCloseReasonBytes = 123;

beast::string_view ToBeast(std::string_view s) { return {s.data(), s.size()}; }
std::string ToStdString(beast::string_view s) { return {s.data(), s.size()}; }

// "host:port" or "[v6addr]:port" to an endpoint. A host name is resolved (blocking: startup only).
Result<Tcp::endpoint> ParseListenAddress(std::string_view listen, net::io_context& ioc) {
  auto invalid = [listen](std::string_view why) {
    return Status::InvalidArgument("listen address '" + std::string(listen) +
                                   "': " + std::string(why));
  };
  std::string_view host;
  std::string_view port_text;
  if (!listen.empty() && listen.front() == '[') {
    size_t close = listen.find(']');
    if (close == std::string_view::npos || close + 1 >= listen.size() || listen[close + 1] != ':') {
      return invalid("expected [address]:port");
    }
    host = listen.substr(1, close - 1);
    port_text = listen.substr(close + 2);
  } else {
    size_t colon = listen.rfind(':');
    if (colon == std::string_view::npos) return invalid("expected host:port");
    host = listen.substr(0, colon);
    port_text = listen.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return invalid("an IPv6 address must be in brackets, as [::1]:8080");
    }
  }
  if (host.empty()) return invalid("missing host (use 0.0.0.0 for every interface)");
  if (port_text.empty() || port_text.size() > 5 ||
      !std::all_of(port_text.begin(), port_text.end(),
                   [](char c) { return c >= '0' && c <= '9'; })) {
    return invalid("port must be a number in 0..65535");
  }
  const int port = std::stoi(std::string(port_text));
  if (port > 65535) return invalid("port must be a number in 0..65535");

  beast::error_code ec;
  net::ip::address address = net::ip::make_address(std::string(host), ec);
  if (!ec) return Tcp::endpoint(address, static_cast<uint16_t>(port));
  Tcp::resolver resolver(ioc);
  auto results = resolver.resolve(std::string(host), std::string(port_text),
                                  Tcp::resolver::passive | Tcp::resolver::numeric_service, ec);
  if (ec) return invalid("cannot resolve host: " + ec.message());
  if (results.empty()) return invalid("host resolves to no address");
  return results.begin()->endpoint();
}

std::string FormatEndpoint(const Tcp::endpoint& endpoint) {
  const net::ip::address address = endpoint.address();
  std::string host = address.to_string();
  if (address.is_v6()) host = "[" + host + "]";
  return host + ":" + std::to_string(endpoint.port());
}

// RFC 9110 token characters (header names).
bool IsHttpToken(std::string_view s) {
  static constexpr std::string_view kSpecials = "!#$%&'*+-.^_`|~";
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           kSpecials.find(c) != std::string_view::npos;
  });
}

// Headers the server owns; a handler's copies are ignored.
bool IsServerOwnedHeader(std::string_view name) {
  for (std::string_view owned :
       {"content-length", "content-type", "server", "connection", "transfer-encoding"}) {
    if (beast::iequals(ToBeast(name), ToBeast(owned))) return true;
  }
  return false;
}

// Malformed HTTP from the client (answered 400), as opposed to the end of the stream, limits,
// and I/O errors.
bool IsHttpSyntaxError(const beast::error_code& ec) {
  if (ec.category() != http::make_error_code(http::error::bad_method).category()) return false;
  return ec != http::error::end_of_stream && ec != http::error::partial_message &&
         ec != http::error::need_more && ec != http::error::need_buffer &&
         ec != http::error::body_limit && ec != http::error::header_limit &&
         ec != http::error::buffer_overflow && ec != http::error::bad_alloc;
}

enum class HttpConnectionRole {
  kServe,   // below max_connections: serve requests
  kReject,  // past it: answer 503 and close
  kRefuse,  // stopping, or too many being rejected: close at once
};

// The server's open connections, so that Stop can close them; enforces max_connections.
// Thread-safe.
class HttpConnectionRegistry {
 public:
  struct Admission {
    uint64_t id = 0;  // 0 = not registered
    HttpConnectionRole role = HttpConnectionRole::kRefuse;
  };

  explicit HttpConnectionRegistry(int max_serving) : max_serving_(max_serving) {}

  // Registers a new connection, unless refused. `close` must be callable from any thread and is
  // how CloseAll closes this connection.
  Admission Admit(std::function<void()> close) OSPREY_EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    Admission admission;
    if (closed_) return admission;
    if (serving_ < max_serving_) {
      admission.role = HttpConnectionRole::kServe;
      ++serving_;
    } else if (rejecting_ < kHttpMaxRejecting) {
      admission.role = HttpConnectionRole::kReject;
      ++rejecting_;
    } else {
      return admission;
    }
    admission.id = next_id_++;
    entries_.emplace(admission.id, Entry{std::move(close), admission.role});
    return admission;
  }

  // Replaces the `close` of a registered connection (when another object takes it over).
  // Returns false, changing nothing, if CloseAll has begun or `id` is not registered.
  bool Replace(uint64_t id, std::function<void()> close) OSPREY_EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    auto it = entries_.find(id);
    if (closed_ || it == entries_.end()) return false;
    it->second.close = std::move(close);
    return true;
  }

  // REQUIRES: `id` came from Admit (0 is ignored).
  void Remove(uint64_t id) OSPREY_EXCLUDES(mu_) {
    if (id == 0) return;
    MutexLock lock(&mu_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return;
    if (it->second.role == HttpConnectionRole::kServe) {
      --serving_;
    } else {
      --rejecting_;
    }
    entries_.erase(it);
    if (entries_.empty()) empty_cv_.notify_all();
  }

  // Refuses every later Admit and calls each registered `close`.
  void CloseAll() OSPREY_EXCLUDES(mu_) {
    std::vector<std::function<void()>> closers;
    {
      MutexLock lock(&mu_);
      closed_ = true;
      for (const auto& [id, entry] : entries_) closers.push_back(entry.close);
    }
    for (const auto& close : closers) close();  // without mu_: a close may Remove
  }

  // True once every connection is removed; false if `timeout` passes first.
  bool WaitEmpty(std::chrono::milliseconds timeout) OSPREY_EXCLUDES(mu_) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    mu_.Lock();
    std::unique_lock<std::mutex> lock(mu_.native(), std::adopt_lock);
    while (!entries_.empty()) {
      if (empty_cv_.wait_until(lock, deadline) == std::cv_status::timeout) break;
    }
    const bool empty = entries_.empty();
    lock.release();
    mu_.Unlock();
    return empty;
  }

 private:
  struct Entry {
    std::function<void()> close;
    HttpConnectionRole role;
  };

  const int max_serving_;  // Constant after construction

  Mutex mu_;
  std::condition_variable empty_cv_;  // signalled when entries_ becomes empty
  std::unordered_map<uint64_t, Entry> entries_ OSPREY_GUARDED_BY(mu_);
  uint64_t next_id_ OSPREY_GUARDED_BY(mu_) = 1;
  int serving_ OSPREY_GUARDED_BY(mu_) = 0;
  int rejecting_ OSPREY_GUARDED_BY(mu_) = 0;
  bool closed_ OSPREY_GUARDED_BY(mu_) = false;
};

// What the connections of one server share. Constant after construction, except `registry`
// (thread-safe).
struct HttpServerState {
  // `tls` is null when TLS is off.
  HttpServerState(const config::HttpOptions& options, HttpRouter router_in,
                  std::unique_ptr<net::ssl::context> tls_in)
      : router(std::move(router_in)),
        max_body_bytes(static_cast<uint64_t>(options.limits.max_body_bytes)),
        header_timeout(options.limits.header_timeout_ms),
        body_timeout(options.limits.body_timeout_ms),
        tls(std::move(tls_in)),
        access(options.auth),
        limiter(options.limits.requests_per_second > 0
                    ? std::make_unique<HttpRateLimiter>(options.limits.requests_per_second,
                                                        options.limits.EffectiveBurst(),
                                                        SystemClock::Default())
                    : nullptr),
        max_connections(options.limits.max_connections),
        registry(options.limits.max_connections) {}

  const HttpRouter router;
  const uint64_t max_body_bytes;
  const std::chrono::milliseconds header_timeout;
  const std::chrono::milliseconds body_timeout;
  const std::unique_ptr<net::ssl::context> tls;  // used concurrently only through SSL_new
  const HttpAccessPolicy access;
  const std::unique_ptr<HttpRateLimiter> limiter;  // null: unlimited; thread-safe
  const int max_connections;
  HttpConnectionRegistry registry;
};

// Logs an error that ends a connection. Clients going away and timeouts are routine.
void HttpLogFailure(const beast::error_code& ec, const char* what) {
  if (ec == net::error::operation_aborted || ec == beast::error::timeout ||
      ec == http::error::end_of_stream || ec == http::error::partial_message ||
      ec == net::error::eof || ec == net::error::connection_reset ||
      ec == net::error::broken_pipe || ec == net::error::bad_descriptor ||
      ec == websocket::error::closed || ec == net::ssl::error::stream_truncated) {
    spdlog::debug("http {}: {}", what, ec.message());
    return;
  }
  spdlog::warn("http {}: {}", what, ec.message());
}

// {"type":"lost","count":N}: the notice of messages dropped for a slow client.
std::shared_ptr<const std::string> WsLostNotice(uint64_t count) {
  return std::make_shared<const std::string>(R"({"type":"lost","count":)" +
                                             std::to_string(count) + "}");
}

// One upgraded WebSocket connection: takes over an HttpSession's stream (and strand) and
// registry entry. Strand-only state is marked so; the send queue is shared with other threads
// under mu_. Owned by its completion handlers in flight, like HttpSession; WebSocketConnection
// users should hold it weakly.
// `Stream` is beast::tcp_stream or beast::ssl_stream<beast::tcp_stream>.
template <typename Stream>
class WsSession : public WebSocketConnection,
                  public std::enable_shared_from_this<WsSession<Stream>> {
 public:
  // Caller keeps `state` alive until the session is destroyed. `registry_id` is the entry this
  // session takes over (removed by its destructor).
  WsSession(Stream&& stream, HttpServerState& state, const WebSocketOptions& options,
            WebSocketSession callbacks, uint64_t registry_id)
      : ws_(std::move(stream)),
        state_(state),
        options_(options),
        callbacks_(std::move(callbacks)),
        registry_id_(registry_id),
        close_timer_(ws_.get_executor()) {}

  ~WsSession() override {
    // End normally ran on_close on the strand; this covers a server torn down with the
    // connection still open (the io_context destroying the pending handlers).
    if (opened_ && callbacks_.on_close) callbacks_.on_close();
    state_.registry.Remove(registry_id_);
  }

  WsSession(const WsSession&) = delete;
  WsSession& operator=(const WsSession&) = delete;

  // Answers the upgrade `req` and runs the connection. REQUIRES: on the connection's strand.
  void Run(http::request<http::string_body> req) {
    req_ = std::move(req);
    const bool registered = state_.registry.Replace(registry_id_, [weak = this->weak_from_this()] {
      if (auto self = weak.lock()) {
        self->RequestClose(1001, "server shutting down",
                           std::min(self->options_.close_timeout, kWsStopCloseTimeout));
      }
    });
    if (!registered) return HardClose();  // Stop has begun
    beast::get_lowest_layer(ws_).expires_never();  // the websocket timeouts take over
    websocket::stream_base::timeout timeout =
        websocket::stream_base::timeout::suggested(beast::role_type::server);
    timeout.idle_timeout = 2 * options_.ping_interval;  // a ping after half of it
    timeout.keep_alive_pings = true;
    ws_.set_option(timeout);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "osprey"); }));
    ws_.read_message_max(options_.max_message_bytes);
    ws_.async_accept(req_,
                     beast::bind_front_handler(&WsSession::OnAccept, this->shared_from_this()));
  }

  bool Send(std::shared_ptr<const std::string> text, SendMode mode) override {
    if (text == nullptr) return false;
    bool post_flush = false;
    {
      MutexLock lock(&mu_);
      if (!open_ || close_requested_) return false;
      if (mode == SendMode::kDropWhenFull && queue_.size() >= options_.queue_limit) {
        ++lost_;
        ++unreported_lost_;
        if (lost_ <= options_.max_lost) return false;
        RequestCloseLocked(1008, "client too slow: " + std::to_string(lost_) + " messages lost",
                           options_.close_timeout);
      } else {
        if (unreported_lost_ > 0) {  // the notice goes where the gap is
          queue_.push_back(WsLostNotice(unreported_lost_));
          unreported_lost_ = 0;
        }
        queue_.push_back(std::move(text));
        if (flush_posted_) return true;
        flush_posted_ = true;
        post_flush = true;
      }
    }
    if (post_flush) {
      net::post(ws_.get_executor(),
                beast::bind_front_handler(&WsSession::Flush, this->shared_from_this()));
      return true;
    }
    net::post(ws_.get_executor(),
              beast::bind_front_handler(&WsSession::DoClose, this->shared_from_this()));
    return false;
  }

  void Close(uint16_t code, std::string reason) override {
    RequestClose(code, std::move(reason), options_.close_timeout);
  }

  uint64_t lost() const override {
    MutexLock lock(&mu_);
    return lost_;
  }

 private:
  void RequestClose(uint16_t code, std::string reason, std::chrono::milliseconds timeout) {
    {
      MutexLock lock(&mu_);
      if (close_requested_ || ended_) return;
      RequestCloseLocked(code, std::move(reason), timeout);
    }
    net::post(ws_.get_executor(),
              beast::bind_front_handler(&WsSession::DoClose, this->shared_from_this()));
  }

  void RequestCloseLocked(uint16_t code, std::string reason, std::chrono::milliseconds timeout)
      OSPREY_REQUIRES(mu_) {
    close_requested_ = true;
    close_code_ = code;
    if (reason.size() > kWsMaxCloseReasonBytes) reason.resize(kWsMaxCloseReasonBytes);
    close_reason_ = std::move(reason);
    close_timeout_ = timeout;
    queue_.clear();
  }

  void OnAccept(beast::error_code ec) {
    req_ = {};
    if (ec) return HttpLogFailure(ec, "websocket accept");
    ws_.text(true);
    {
      MutexLock lock(&mu_);
      open_ = true;
    }
    opened_ = true;
    if (callbacks_.on_open) {
      try {
        callbacks_.on_open(this->shared_from_this());
      } catch (const std::exception& e) {
        spdlog::error("websocket on_open threw: {}", e.what());
        Close(1011, "internal error");
      }
    }
    DoRead();
  }

  void DoRead() {
    ws_.async_read(read_buffer_,
                   beast::bind_front_handler(&WsSession::OnRead, this->shared_from_this()));
  }

  void OnRead(beast::error_code ec, std::size_t /*bytes*/) {
    if (ec) {
      HttpLogFailure(ec, "websocket read");
      return End();
    }
    const std::string message = beast::buffers_to_string(read_buffer_.data());
    read_buffer_.consume(read_buffer_.size());
    if (callbacks_.on_message) {
      try {
        callbacks_.on_message(message);
      } catch (const std::exception& e) {
        spdlog::error("websocket on_message threw: {}", e.what());
        Close(1011, "internal error");
      }
    }
    DoRead();
  }

  // Writes the next queued message, unless one is in flight; or starts a requested close.
  void Flush() {
    std::shared_ptr<const std::string> next;
    bool close = false;
    {
      MutexLock lock(&mu_);
      flush_posted_ = false;
      if (writing_ || ended_) return;
      if (close_requested_) {
        close = true;
      } else if (!queue_.empty()) {
        next = std::move(queue_.front());
        queue_.pop_front();
      } else if (unreported_lost_ > 0) {  // drained, and nothing came after the gap
        next = WsLostNotice(unreported_lost_);
        unreported_lost_ = 0;
      }
    }
    if (close) return StartClose();
    if (next == nullptr) return;
    writing_ = true;
    current_ = std::move(next);
    ws_.async_write(net::buffer(*current_),
                    beast::bind_front_handler(&WsSession::OnWrite, this->shared_from_this()));
  }

  void OnWrite(beast::error_code ec, std::size_t /*bytes*/) {
    writing_ = false;
    current_.reset();
    if (ec) {
      HttpLogFailure(ec, "websocket write");
      return HardClose();  // ends the read loop, hence the session
    }
    Flush();
  }

  // A close was requested: bound it in time, then close once the write in flight is done.
  void DoClose() {
    if (close_started_) return;
    if (!close_timer_started_) {
      std::chrono::milliseconds timeout;
      {
        MutexLock lock(&mu_);
        if (ended_) return;
        timeout = close_timeout_;
      }
      close_timer_started_ = true;
      close_timer_.expires_after(timeout);
      close_timer_.async_wait(
          beast::bind_front_handler(&WsSession::OnCloseTimeout, this->shared_from_this()));
    }
    if (!writing_) StartClose();  // else OnWrite -> Flush -> StartClose
  }

  void StartClose() {
    if (close_started_) return;
    if (!close_timer_started_) return DoClose();  // arms the timer, then comes back
    close_started_ = true;
    websocket::close_reason reason;
    {
      MutexLock lock(&mu_);
      reason.code = close_code_;
      reason.reason = close_reason_;
    }
    ws_.async_close(reason,
                    beast::bind_front_handler(&WsSession::OnClose, this->shared_from_this()));
  }

  void OnClose(beast::error_code ec) {
    if (ec) HttpLogFailure(ec, "websocket close");
    // The pending read completes (closed, or with the error) and ends the session.
  }

  void OnCloseTimeout(beast::error_code ec) {
    if (ec) return;  // cancelled: the session ended in time
    spdlog::debug("websocket close timed out; dropping the connection");
    HardClose();
  }

  // Drops the TCP connection; every pending operation completes with an error.
  void HardClose() {
    beast::error_code ec;
    // Best effort: the peer may be gone already, and nothing is left to do about an error.
    beast::get_lowest_layer(ws_).socket().shutdown(Tcp::socket::shutdown_both, ec);
    beast::get_lowest_layer(ws_).close();
  }

  // The read loop ended: the connection is over.
  void End() {
    {
      MutexLock lock(&mu_);
      ended_ = true;
      open_ = false;
      queue_.clear();
    }
    close_timer_.cancel();
    if (opened_ && callbacks_.on_close) {
      auto on_close = std::move(callbacks_.on_close);
      callbacks_.on_close = nullptr;
      on_close();
    }
    callbacks_ = {};
    if (!close_started_) HardClose();  // a failed read: make sure the socket goes too
  }

  // Strand-only.
  websocket::stream<Stream> ws_;
  HttpServerState& state_;
  const WebSocketOptions options_;  // Constant after construction
  WebSocketSession callbacks_;
  const uint64_t registry_id_;  // Constant after construction
  net::steady_timer close_timer_;
  http::request<http::string_body> req_;  // the upgrade request, until accepted
  beast::flat_buffer read_buffer_;
  std::shared_ptr<const std::string> current_;  // the message being written
  bool writing_ = false;
  bool opened_ = false;  // on_open was called
  bool close_timer_started_ = false;
  bool close_started_ = false;  // async_close issued

  mutable Mutex mu_;
  std::deque<std::shared_ptr<const std::string>> queue_ OSPREY_GUARDED_BY(mu_);
  bool open_ OSPREY_GUARDED_BY(mu_) = false;   // accepted and not ended: Send queues
  bool ended_ OSPREY_GUARDED_BY(mu_) = false;  // the read loop ended
  bool flush_posted_ OSPREY_GUARDED_BY(mu_) = false;
  uint64_t lost_ OSPREY_GUARDED_BY(mu_) = 0;
  uint64_t unreported_lost_ OSPREY_GUARDED_BY(mu_) = 0;
  bool close_requested_ OSPREY_GUARDED_BY(mu_) = false;
  uint16_t close_code_ OSPREY_GUARDED_BY(mu_) = 1000;
  std::string close_reason_ OSPREY_GUARDED_BY(mu_);
  std::chrono::milliseconds close_timeout_ OSPREY_GUARDED_BY(mu_){0};
};

// One accepted connection speaking HTTP/1.1. Every member function but Start and Close runs on
// the connection's strand. Owned by its completion handlers in flight (enable_shared_from_this):
// it ends when no operation is pending.
// `Stream` is beast::tcp_stream (plain HTTP) or beast::ssl_stream<beast::tcp_stream> (TLS).
template <typename Stream>
class HttpSession : public std::enable_shared_from_this<HttpSession<Stream>> {
 public:
  // Caller keeps `state` alive until the session is destroyed (the server's io_context is
  // destroyed before its state).
  HttpSession(Tcp::socket&& socket, HttpServerState& state)
      : stream_(MakeStream(std::move(socket), state)),
        executor_(stream_.get_executor()),
        state_(state) {}
  ~HttpSession() { state_.registry.Remove(registry_id_); }

  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;

  // Registers with the server and starts serving (or answers 503). Called once, by the acceptor.
  void Start() {
    HttpConnectionRegistry::Admission admission =
        state_.registry.Admit([weak = this->weak_from_this()] {
          if (auto self = weak.lock()) self->Close();
        });
    registry_id_ = admission.id;
    role_ = admission.role;
    beast::error_code ec;
    Tcp::socket& socket = beast::get_lowest_layer(stream_).socket();
    // Responses are written whole; Nagle would only hold back the next one (pipelining, 100
    // Continue) until the client's delayed ACK.
    socket.set_option(Tcp::no_delay(true), ec);
    if (ec) spdlog::debug("http set TCP_NODELAY: {}", ec.message());
    const Tcp::endpoint remote = socket.remote_endpoint(ec);
    remote_ip_ = ec ? std::string("unknown") : remote.address().to_string();
    if (role_ == HttpConnectionRole::kRefuse) return;  // the socket closes with this session
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&HttpSession::Begin, this->shared_from_this()));
  }

  // Thread-safe. Stops the connection: pending reads are cancelled; a response being written
  // is finished first, then the connection closes.
  void Close() {
    // executor_, not stream_: the stream may have been handed to a WsSession.
    net::post(executor_,
              beast::bind_front_handler(&HttpSession::DoClose, this->shared_from_this()));
  }

 private:
  // Logs an error that ends the connection. Clients going away and timeouts are routine.
  static void Fail(beast::error_code ec, const char* what) {
    if (ec == net::error::operation_aborted || ec == beast::error::timeout ||
        ec == http::error::end_of_stream || ec == http::error::partial_message ||
        ec == net::error::eof || ec == net::error::connection_reset ||
        ec == net::error::broken_pipe || ec == net::error::bad_descriptor ||
        ec == net::ssl::error::stream_truncated) {
      spdlog::debug("http {}: {}", what, ec.message());
      return;
    }
    spdlog::warn("http {}: {}", what, ec.message());
  }

  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  static Stream MakeStream(Tcp::socket&& socket, HttpServerState& state) {
    if constexpr (kTls) {
      return Stream(std::move(socket), *state.tls);
    } else {
      (void)state;
      return Stream(std::move(socket));
    }
  }

  // Serves (or rejects) the connection; with TLS, after the handshake.
  void Begin() {
    if constexpr (kTls) {
      // The handshake counts against the header budget: a client that stalls in it is dropped.
      beast::get_lowest_layer(stream_).expires_after(state_.header_timeout);
      beast::async_detect_ssl(
          beast::get_lowest_layer(stream_), buffer_,
          beast::bind_front_handler(&HttpSession::OnDetect, this->shared_from_this()));
    } else {
      Serve();
    }
  }

  void Serve() {
    if (role_ == HttpConnectionRole::kReject) return Reject();
    ReadRequest();
  }

  void OnDetect(beast::error_code ec, bool is_tls) {
    if (ec) return Fail(ec, "tls detect");
    if (!is_tls) return RejectPlainHttp();
    if constexpr (kTls) {
      stream_.async_handshake(
          net::ssl::stream_base::server, buffer_.data(),
          beast::bind_front_handler(&HttpSession::OnHandshake, this->shared_from_this()));
    }
  }

  void OnHandshake(beast::error_code ec, std::size_t bytes_used) {
    if (ec) {
      // A client that does not trust the certificate, or speaks an old protocol: routine.
      spdlog::debug("http tls handshake with {}: {}", remote_ip_, ec.message());
      return CloseSocket();
    }
    buffer_.consume(bytes_used);
    Serve();
  }

  // Plain HTTP on the TLS port: one plain-text answer saying so, then close.
  void RejectPlainHttp() {
    const HttpResponse error = HttpResponse::Error(
        400, "this port speaks only TLS: use https:// (plain HTTP is not served here)");
    plain_reply_ =
        "HTTP/1.1 400 Bad Request\r\nServer: osprey\r\nContent-Type: " + error.content_type +
        "\r\nContent-Length: " + std::to_string(error.body.size()) +
        "\r\nConnection: close\r\n\r\n" + error.body;
    writing_ = true;
    beast::get_lowest_layer(stream_).expires_after(state_.body_timeout);
    net::async_write(beast::get_lowest_layer(stream_), net::buffer(plain_reply_),
                     beast::bind_front_handler(&HttpSession::OnWrite, this->shared_from_this(),
                                               /*keep_alive=*/false, /*linger=*/true));
  }

  void ReadRequest() {
    if (closing_) return CloseSocket();
    parser_.emplace();
    parser_->header_limit(kHttpHeaderLimitBytes);
    parser_->body_limit(state_.max_body_bytes);
    // One budget for the idle wait and the whole header: a client that trickles header bytes is
    // dropped when it runs out. The body gets its own (body_timeout).
    beast::get_lowest_layer(stream_).expires_after(state_.header_timeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        beast::bind_front_handler(&HttpSession::OnReadHeader, this->shared_from_this()));
  }

  void OnReadHeader(beast::error_code ec, std::size_t /*bytes*/) {
    if (ec) return OnReadError(ec, "read header");
    if (parser_->is_done()) return HandleRequest();
    const auto& header = parser_->get();
    if (header.version() >= 11 && beast::iequals(header[http::field::expect], "100-continue")) {
      // The body fits the limit (else body_limit fired already): ask for it.
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      return net::async_write(
          stream_, net::buffer(kContinue.data(), kContinue.size()),
          beast::bind_front_handler(&HttpSession::OnContinueWritten, this->shared_from_this()));
    }
    ReadBody();
  }

  void OnContinueWritten(beast::error_code ec, std::size_t /*bytes*/) {
    if (ec) return Fail(ec, "write 100-continue");
    ReadBody();
  }

  void ReadBody() {
    beast::get_lowest_layer(stream_).expires_after(state_.body_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&HttpSession::OnReadBody, this->shared_from_this()));
  }

  void OnReadBody(beast::error_code ec, std::size_t /*bytes*/) {
    if (ec) return OnReadError(ec, "read body");
    HandleRequest();
  }

  // Answers what the client got wrong; ends the connection either way.
  void OnReadError(beast::error_code ec, const char* what) {
    if (ec == http::error::body_limit) {
      return SendErrorAndClose(413,
                               "request body exceeds " + std::to_string(state_.max_body_bytes) +
                                   " bytes (http.limits.max_body_bytes): send less per request");
    }
    if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
      return SendErrorAndClose(
          431, "request header exceeds " + std::to_string(kHttpHeaderLimitBytes) + " bytes");
    }
    if (IsHttpSyntaxError(ec)) {
      return SendErrorAndClose(400, "malformed HTTP request: " + ec.message());
    }
    return Fail(ec, what);
  }

  void HandleRequest() {
    http::request<http::string_body> beast_req = parser_->release();
    parser_.reset();

    HttpRequest req;
    req.method = ToStdString(beast_req.method_string());
    req.target = ToStdString(beast_req.target());
    const size_t question = req.target.find('?');
    req.path = req.target.substr(0, question);
    if (question != std::string::npos) req.query = req.target.substr(question + 1);
    req.headers.reserve(static_cast<size_t>(std::distance(beast_req.begin(), beast_req.end())));
    for (const auto& field : beast_req) {
      std::string name = ToStdString(field.name_string());
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      req.headers.emplace_back(std::move(name), ToStdString(field.value()));
    }
    req.body = std::move(beast_req.body());
    const bool head = beast_req.method() == http::verb::head;
    const bool upgrade = websocket::is_upgrade(beast_req);

    // Who is calling, how often, and whether they may.
    const HttpAccessDecision access = state_.access.Check(req, upgrade);
    if (state_.limiter != nullptr) {
      const int64_t retry_after_s = state_.limiter->Acquire(
          access.token_name.empty() ? "ip:" + remote_ip_ : "token:" + access.token_name);
      if (retry_after_s > 0) {
        HttpResponse limited = HttpResponse::Error(
            429, std::string("too many requests from ") +
                     (access.token_name.empty() ? "client " + remote_ip_
                                                : "token '" + access.token_name + "'") +
                     ": the limit is http.limits.requests_per_second; retry after " +
                     std::to_string(retry_after_s) + " s");
        limited.headers.emplace_back("Retry-After", std::to_string(retry_after_s));
        return Send(std::move(limited), beast_req.version(), head,
                    beast_req.keep_alive() && !closing_, /*linger=*/false);
      }
    }
    if (access.status != 0) {
      return Send(access.Refusal(), beast_req.version(), head, beast_req.keep_alive() && !closing_,
                  /*linger=*/false);
    }

    if (upgrade) {
      WebSocketOptions options;
      std::optional<WebSocketHandlerResult> result;
      try {
        result = state_.router.DispatchWebSocket(req, &options);
      } catch (const std::exception& e) {
        spdlog::error("websocket handler for {} threw: {}", req.path, e.what());
        result = HttpResponse::Error(500, std::string("handler failed: ") + e.what());
      } catch (...) {
        spdlog::error("websocket handler for {} threw a non-std exception", req.path);
        result = HttpResponse::Error(500, "handler failed: unknown exception");
      }
      if (result.has_value()) {
        if (auto* refusal = std::get_if<HttpResponse>(&*result)) {
          return Send(std::move(*refusal), beast_req.version(), /*head=*/false,
                      /*keep_alive=*/false, /*linger=*/false);
        }
        if (closing_) return CloseSocket();
        // The WsSession takes over the stream (and its strand) and the registry entry; this
        // session ends, as nothing of it is pending any more. Bytes the client sent after the
        // upgrade request (it should wait for the 101) are not passed on.
        handed_off_ = true;
        const uint64_t registry_id = std::exchange(registry_id_, 0);
        std::make_shared<WsSession<Stream>>(std::move(stream_), state_, options,
                                            std::get<WebSocketSession>(std::move(*result)),
                                            registry_id)
            ->Run(std::move(beast_req));
        return;
      }
    }

    HttpResponse response;
    try {
      response = state_.router.Dispatch(req);
    } catch (const std::exception& e) {
      spdlog::error("http handler for {} {} threw: {}", req.method, req.path, e.what());
      response = HttpResponse::Error(500, std::string("handler failed: ") + e.what());
    } catch (...) {
      spdlog::error("http handler for {} {} threw a non-std exception", req.method, req.path);
      response = HttpResponse::Error(500, "handler failed: unknown exception");
    }
    Send(std::move(response), beast_req.version(), head, beast_req.keep_alive() && !closing_,
         /*linger=*/false);
  }

  // Over max_connections: answer 503 without reading the request, then close.
  void Reject() {
    SendErrorAndClose(503, "too many connections (http.limits.max_connections = " +
                               std::to_string(state_.max_connections) + "): retry later");
  }

  void SendErrorAndClose(int status, const std::string& message) {
    Send(HttpResponse::Error(status, message), 11, /*head=*/false, /*keep_alive=*/false,
         /*linger=*/true);
  }

  // Writes `response`; then reads the next request if `keep_alive`, else closes (after
  // draining unread input if `linger`).
  void Send(HttpResponse response, unsigned version, bool head, bool keep_alive, bool linger) {
    if (response.status < 200 || response.status > 599) {
      spdlog::error("http handler returned status {}; answering 500", response.status);
      response = HttpResponse::Error(
          500, "handler returned invalid HTTP status " + std::to_string(response.status));
    }
    res_ = {};
    res_.version(version);
    res_.result(static_cast<unsigned>(response.status));
    res_.set(http::field::server, "osprey");
    if (!response.content_type.empty()) {
      res_.set(http::field::content_type, ToBeast(response.content_type));
    }
    for (const auto& [name, value] : response.headers) {
      if (IsServerOwnedHeader(name)) continue;
      if (!IsHttpToken(name) ||
          value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
        spdlog::warn("http handler for status {} set invalid header '{}'; dropped", response.status,
                     name);
        continue;
      }
      res_.insert(ToBeast(name), ToBeast(value));
    }
    // 204 and 304 have no body and (204 must not, 304 need not) no Content-Length.
    if (response.status != 204 && response.status != 304) {
      res_.content_length(response.body.size());  // for HEAD: the size GET would send
      if (!head) res_.body() = std::move(response.body);
    }
    res_.keep_alive(keep_alive);

    writing_ = true;
    beast::get_lowest_layer(stream_).expires_after(state_.body_timeout);
    http::async_write(stream_, res_,
                      beast::bind_front_handler(&HttpSession::OnWrite, this->shared_from_this(),
                                                keep_alive, linger));
  }

  void OnWrite(bool keep_alive, bool linger, beast::error_code ec, std::size_t /*bytes*/) {
    writing_ = false;
    if (ec) return Fail(ec, "write");
    res_ = {};
    if (linger && !closing_) return LingeringClose();
    if (!keep_alive || closing_) return CloseSocket();
    ReadRequest();
  }

  // Half-closes, then discards input until the client closes or kHttpLingerTimeout passes:
  // closing with unread input would reset the connection and could destroy the response
  // before the client reads it.
  void LingeringClose() {
    beast::error_code ec;
    beast::get_lowest_layer(stream_).socket().shutdown(Tcp::socket::shutdown_send, ec);
    if (ec) return CloseSocket();
    beast::get_lowest_layer(stream_).expires_after(kHttpLingerTimeout);
    buffer_.clear();
    Drain();
  }

  // Reads (and discards) raw bytes, below TLS: nothing of them is needed.
  void Drain() {
    beast::get_lowest_layer(stream_).async_read_some(
        buffer_.prepare(4096),
        beast::bind_front_handler(&HttpSession::OnDrain, this->shared_from_this()));
  }

  void OnDrain(beast::error_code ec, std::size_t /*bytes*/) {
    if (ec || closing_) return CloseSocket();  // EOF (expected), timeout, or Stop
    Drain();
  }

  void DoClose() {
    if (handed_off_) return;  // the WsSession is registered for closing now
    closing_ = true;
    if (!writing_) CloseSocket();  // else OnWrite closes
  }

  void CloseSocket() {
    beast::error_code ec;
    // Best effort: the peer may be gone already, and nothing is left to do about an error.
    // With TLS, no close_notify: every response is delimited by its Content-Length.
    beast::get_lowest_layer(stream_).socket().shutdown(Tcp::socket::shutdown_both, ec);
    beast::get_lowest_layer(stream_).close();
  }

  Stream stream_;
  const typename Stream::executor_type executor_;  // the connection's strand
  beast::flat_buffer buffer_;  // read buffer; may hold the start of the next request
  HttpServerState& state_;
  uint64_t registry_id_ = 0;
  HttpConnectionRole role_ = HttpConnectionRole::kRefuse;
  std::string remote_ip_;    // the client's address, the rate-limit key without a token
  std::string plain_reply_;  // RejectPlainHttp's response, while it is written
  std::optional<http::request_parser<http::string_body>> parser_;  // while reading a request
  http::response<http::string_body> res_;  // while writing; async_write needs it alive
  bool writing_ = false;                   // a response is being written
  bool closing_ = false;  // Stop closed the connection; end after the current write
  bool handed_off_ = false;  // stream_ now belongs to a WsSession
};

}  // namespace

struct HttpServer::Impl {
  Impl(const config::HttpOptions& options, HttpRouter router,
       std::unique_ptr<net::ssl::context> tls)
      : state(options, std::move(router), std::move(tls)),
        ioc(options.threads),
        acceptor(net::make_strand(ioc)),
        accept_retry_timer(acceptor.get_executor()) {}

  Status Listen(const Tcp::endpoint& endpoint) {
    auto io_error = [&endpoint](const char* what, const beast::error_code& ec) {
      return Status::IOError(std::string(what) + " " + FormatEndpoint(endpoint) + ": " +
                             ec.message());
    };
    beast::error_code ec;
    acceptor.open(endpoint.protocol(), ec);
    if (ec) return io_error("open", ec);
    acceptor.set_option(net::socket_base::reuse_address(true), ec);
    if (ec) return io_error("set SO_REUSEADDR on", ec);
    acceptor.bind(endpoint, ec);
    if (ec) return io_error("bind", ec);
    acceptor.listen(net::socket_base::max_listen_connections, ec);
    if (ec) return io_error("listen on", ec);
    const Tcp::endpoint local = acceptor.local_endpoint(ec);
    if (ec) return io_error("local address of", ec);
    port = local.port();
    address = FormatEndpoint(local);
    return Status::Ok();
  }

  // On the acceptor's strand, like everything that touches `acceptor`.
  void Accept() {
    acceptor.async_accept(net::make_strand(ioc), beast::bind_front_handler(&Impl::OnAccept, this));
  }

  void OnAccept(beast::error_code ec, Tcp::socket socket) {
    if (ec == net::error::operation_aborted) return;  // Stop closed the acceptor
    if (ec) {
      spdlog::warn("http accept on {}: {}; retrying", address, ec.message());
      accept_retry_timer.expires_after(kHttpAcceptRetryDelay);
      return accept_retry_timer.async_wait(beast::bind_front_handler(&Impl::OnAcceptRetry, this));
    }
    if (state.tls != nullptr) {
      std::make_shared<HttpSession<beast::ssl_stream<beast::tcp_stream>>>(std::move(socket), state)
          ->Start();
    } else {
      std::make_shared<HttpSession<beast::tcp_stream>>(std::move(socket), state)->Start();
    }
    if (acceptor.is_open()) Accept();
  }

  void OnAcceptRetry(beast::error_code ec) {
    if (ec || !acceptor.is_open()) return;  // Stop
    Accept();
  }

  void Stop() {
    {
      MutexLock lock(&stop_mu);
      if (stopped) return;
      stopped = true;
    }
    for (const std::thread& thread : threads) {
      OSPREY_CHECK(thread.get_id() != std::this_thread::get_id())
          << "HttpServer::Stop called from one of its handlers";
    }
    state.registry.CloseAll();
    net::post(acceptor.get_executor(), [this] {
      beast::error_code ec;
      acceptor.close(ec);  // An error here leaves nothing to do; the destructor retries.
      accept_retry_timer.cancel();
    });
    if (!state.registry.WaitEmpty(kHttpStopGrace)) {
      spdlog::warn("http server {}: connections still open after {} ms; abandoning them", address,
                   kHttpStopGrace.count());
    }
    ioc.stop();
    for (std::thread& thread : threads) thread.join();
    beast::error_code ec;
    acceptor.close(ec);  // no I/O thread is left; frees the port now
    spdlog::info("http server {} stopped", address);
  }

  // Destroyed last among the members that matter: sessions still pending when the io_context
  // is destroyed touch it.
  HttpServerState state;
  uint16_t port = 0;    // Constant after Listen
  std::string address;  // Constant after Listen
  net::io_context ioc;
  Tcp::acceptor acceptor;                // on its own strand
  net::steady_timer accept_retry_timer;  // on the acceptor's strand
  std::vector<std::thread> threads;      // Constant after Start

  Mutex stop_mu;
  bool stopped OSPREY_GUARDED_BY(stop_mu) = false;
};

namespace {

// The server's TLS context from the certificate and key files; errors name the key and the file.
Result<std::unique_ptr<net::ssl::context>> MakeTlsContext(const config::HttpTlsOptions& tls) {
  auto context = std::make_unique<net::ssl::context>(net::ssl::context::tls_server);
  beast::error_code ec;
  context->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                           net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                           net::ssl::context::no_tlsv1_1 | net::ssl::context::single_dh_use,
                       ec);
  if (ec) return Status::Internal("TLS context options: " + ec.message());
  const int min_version =
      tls.min_version == config::TlsVersion::kTls13 ? TLS1_3_VERSION : TLS1_2_VERSION;
  if (SSL_CTX_set_min_proto_version(context->native_handle(), min_version) != 1) {
    return Status::Internal("TLS context: cannot set the minimum protocol version");
  }
  auto file_error = [](const char* key, const std::string& path, std::string_view what,
                       const beast::error_code& error) {
    std::string reason = error.message();
    std::FILE* probe = std::fopen(path.c_str(), "rb");
    if (probe == nullptr) {
      reason = std::generic_category().message(errno);
    } else {
      std::fclose(probe);
    }
    return Status::InvalidArgument("http.tls." + std::string(key) + " '" + path +
                                   "': " + std::string(what) + ": " + reason);
  };
  context->use_certificate_chain_file(tls.cert_file, ec);
  if (ec) {
    return file_error("cert_file", tls.cert_file, "cannot load a PEM certificate chain", ec);
  }
  context->use_private_key_file(tls.key_file, net::ssl::context::pem, ec);
  if (ec && ec.category() == net::error::get_ssl_category() &&
      ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == X509_R_KEY_VALUES_MISMATCH) {
    ec = {};  // reported below, in words
  } else if (ec) {
    return file_error("key_file", tls.key_file, "cannot load a PEM private key", ec);
  }
  if (SSL_CTX_check_private_key(context->native_handle()) != 1) {
    return Status::InvalidArgument("http.tls.key_file '" + tls.key_file +
                                   "' is not the private key of http.tls.cert_file '" +
                                   tls.cert_file + "'");
  }
  return context;
}

}  // namespace

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const config::HttpOptions& options,
                                                      HttpRouter router) {
  if (options.threads < 1 || options.threads > 64) {
    return Status::InvalidArgument("http.threads must be in 1..64, got " +
                                   std::to_string(options.threads));
  }
  const config::HttpLimitOptions& limits = options.limits;
  if (limits.max_body_bytes < 1) {
    return Status::InvalidArgument("http.limits.max_body_bytes must be > 0, got " +
                                   std::to_string(limits.max_body_bytes));
  }
  if (limits.header_timeout_ms < 1 || limits.body_timeout_ms < 1) {
    return Status::InvalidArgument("http.limits.header_timeout_ms and body_timeout_ms must be > 0");
  }
  if (limits.max_connections < 1) {
    return Status::InvalidArgument("http.limits.max_connections must be > 0, got " +
                                   std::to_string(limits.max_connections));
  }
  if (!(limits.requests_per_second >= 0) || limits.burst < 0) {
    return Status::InvalidArgument(
        "http.limits.requests_per_second and burst must be >= 0 (0 = unlimited)");
  }
  if (options.tls.enabled() && (options.tls.cert_file.empty() || options.tls.key_file.empty())) {
    return Status::InvalidArgument("http.tls: TLS needs both cert_file and key_file");
  }
  for (const config::HttpTokenOptions& token : options.auth.tokens) {
    if (token.value.empty()) {
      return Status::InvalidArgument("http.auth.tokens: token '" + token.name +
                                     "' has an empty secret");
    }
  }
  std::unique_ptr<net::ssl::context> tls;
  if (options.tls.enabled()) {
    OSPREY_ASSIGN_OR_RETURN(tls, MakeTlsContext(options.tls));
  }
  for (const config::HttpTokenOptions& token : options.auth.tokens) {
    if (token.source == config::SecretSource::kLiteral) {
      spdlog::warn(
          "{}: http token '{}' has its secret in the config file; secrets belong in the "
          "environment (value_env) or a file (value_file)",
          token.location.ToString(), token.name);
    }
  }
  auto impl = std::make_unique<Impl>(options, std::move(router), std::move(tls));
  OSPREY_ASSIGN_OR_RETURN(const Tcp::endpoint endpoint,
                          ParseListenAddress(options.listen, impl->ioc));
  OSPREY_RETURN_IF_ERROR(impl->Listen(endpoint));
  impl->Accept();  // no I/O thread runs yet
  impl->threads.reserve(static_cast<size_t>(options.threads));
  for (int idx = 0; idx < options.threads; ++idx) {
    impl->threads.emplace_back([raw = impl.get()] { raw->ioc.run(); });
  }
  spdlog::info(
      "http server listening on {} ({}{} threads, auth {}, {})", impl->address,
      options.tls.enabled() ? "TLS, " : "", options.threads,
      options.auth.enabled() ? "on with " + std::to_string(options.auth.tokens.size()) + " tokens"
                             : std::string("off"),
      limits.requests_per_second > 0
          ? "at most " + std::to_string(limits.requests_per_second) + " requests/s per caller"
          : std::string("no rate limit"));
  // The constructor is private, so no make_unique.
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Stop(); }

uint16_t HttpServer::port() const { return impl_->port; }

const std::string& HttpServer::address() const { return impl_->address; }

void HttpServer::Stop() { impl_->Stop(); }

}  // namespace osprey::daemon
