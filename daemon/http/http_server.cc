// Implements daemon/http_server.h: the router, the listen-address parser and the Boost.Beast
// server. This is the only file of osprey_daemon that includes Beast (STYLE.md §11); Asio and
// Beast themselves are compiled once, in osprey::asio.
//
// Shape (Beast's advanced server example): one acceptor on its own strand; one HttpSession per
// connection, on its own strand, that reads a request, runs its handler, writes the response
// and repeats while keep-alive. Sessions are owned by the completion handlers in flight
// (shared_ptr); an HttpConnectionRegistry knows them by weak reference so that Stop can close
// them and max_connections can be enforced.
#include "daemon/http_server.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
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
#include <spdlog/spdlog.h>

#include "config/base/check.h"
#include "config/base/json_writer.h"
#include "config/base/mutex.h"

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

namespace {

// Per segment: 2 literal, 1 parameter with verb, 0 parameter; compared lexicographically.
using HttpRouteScore = std::vector<uint8_t>;

}  // namespace

HttpResponse HttpRouter::Dispatch(HttpRequest& req) const {
  if (req.path.empty() || req.path.front() != '/') {
    return HttpResponse::Error(404, "no route for '" + req.path + "'");
  }
  const std::vector<std::string_view> parts = HttpSplitPath(req.path);

  // Matches `route` against `parts`; on success fills `params` and `score`.
  auto match = [&parts](const Route& route, std::map<std::string, std::string>& params,
                        HttpRouteScore& score) {
    if (route.segments.size() != parts.size()) return false;
    params.clear();
    score.clear();
    for (size_t idx = 0; idx < parts.size(); ++idx) {
      const Segment& segment = route.segments[idx];
      std::string_view part = parts[idx];
      switch (segment.kind) {
        case Segment::Kind::kLiteral:
          if (part != segment.text) return false;
          score.push_back(2);
          break;
        case Segment::Kind::kParam:
          if (part.empty()) return false;
          params[segment.text] = HttpPercentDecode(part, /*plus_is_space=*/false);
          score.push_back(0);
          break;
        case Segment::Kind::kParamVerb: {
          const size_t suffix_size = segment.verb.size() + 1;  // ":verb"
          if (part.size() <= suffix_size || !part.ends_with(segment.verb) ||
              part[part.size() - suffix_size] != ':') {
            return false;
          }
          params[segment.text] =
              HttpPercentDecode(part.substr(0, part.size() - suffix_size), false);
          score.push_back(1);
          break;
        }
      }
    }
    return true;
  };

  // The most specific route for `method`, or nullptr.
  std::map<std::string, std::string> params;
  HttpRouteScore score;
  auto find = [&](std::string_view method, std::map<std::string, std::string>& best_params) {
    const Route* best = nullptr;
    HttpRouteScore best_score;
    for (const Route& route : routes_) {
      if (route.method != method || !match(route, params, score)) continue;
      if (best == nullptr || score > best_score) {
        best = &route;
        best_score = score;
        best_params = params;
      }
    }
    return best;
  };

  std::map<std::string, std::string> best_params;
  const Route* route = find(req.method, best_params);
  if (route == nullptr && req.method == "HEAD") route = find("GET", best_params);
  if (route != nullptr) {
    req.path_params = std::move(best_params);
    return route->handler(req);
  }

  std::set<std::string> allowed;
  for (const Route& candidate : routes_) {
    if (match(candidate, params, score)) allowed.insert(candidate.method);
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

// ------------------------------------------------------------------------------------------
// The server.

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
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
  HttpServerState(const config::HttpOptions& options, HttpRouter router_in)
      : router(std::move(router_in)),
        max_body_bytes(static_cast<uint64_t>(options.max_body_bytes)),
        read_timeout(options.read_timeout_ms),
        registry(options.max_connections) {}

  const HttpRouter router;
  const uint64_t max_body_bytes;
  const std::chrono::milliseconds read_timeout;
  HttpConnectionRegistry registry;
};

// One accepted connection speaking HTTP/1.1. Every member function but Start and Close runs on
// the connection's strand. Owned by its completion handlers in flight (enable_shared_from_this):
// it ends when no operation is pending.
class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  // Caller keeps `state` alive until the session is destroyed (the server's io_context is
  // destroyed before its state).
  HttpSession(Tcp::socket&& socket, HttpServerState& state)
      : stream_(std::move(socket)), state_(state) {}
  ~HttpSession() { state_.registry.Remove(registry_id_); }

  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;

  // Registers with the server and starts serving (or answers 503). Called once, by the acceptor.
  void Start() {
    HttpConnectionRegistry::Admission admission = state_.registry.Admit([weak = weak_from_this()] {
      if (auto self = weak.lock()) self->Close();
    });
    registry_id_ = admission.id;
    beast::error_code ec;
    // Responses are written whole; Nagle would only hold back the next one (pipelining, 100
    // Continue) until the client's delayed ACK.
    stream_.socket().set_option(Tcp::no_delay(true), ec);
    if (ec) spdlog::debug("http set TCP_NODELAY: {}", ec.message());
    switch (admission.role) {
      case HttpConnectionRole::kServe:
        net::dispatch(stream_.get_executor(),
                      beast::bind_front_handler(&HttpSession::ReadRequest, shared_from_this()));
        break;
      case HttpConnectionRole::kReject:
        net::dispatch(stream_.get_executor(),
                      beast::bind_front_handler(&HttpSession::Reject, shared_from_this()));
        break;
      case HttpConnectionRole::kRefuse:
        break;  // the socket closes with this session
    }
  }

  // Thread-safe. Stops the connection: pending reads are cancelled; a response being written
  // is finished first, then the connection closes.
  void Close() {
    net::post(stream_.get_executor(),
              beast::bind_front_handler(&HttpSession::DoClose, shared_from_this()));
  }

 private:
  // Logs an error that ends the connection. Clients going away and timeouts are routine.
  static void Fail(beast::error_code ec, const char* what) {
    if (ec == net::error::operation_aborted || ec == beast::error::timeout ||
        ec == http::error::end_of_stream || ec == http::error::partial_message ||
        ec == net::error::eof || ec == net::error::connection_reset ||
        ec == net::error::broken_pipe || ec == net::error::bad_descriptor) {
      spdlog::debug("http {}: {}", what, ec.message());
      return;
    }
    spdlog::warn("http {}: {}", what, ec.message());
  }

  void ReadRequest() {
    if (closing_) return CloseSocket();
    parser_.emplace();
    parser_->header_limit(kHttpHeaderLimitBytes);
    parser_->body_limit(state_.max_body_bytes);
    // One budget for the idle wait, the header and the body (and a 100-continue in between):
    // a client that trickles bytes is dropped when it runs out.
    stream_.expires_after(state_.read_timeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        beast::bind_front_handler(&HttpSession::OnReadHeader, shared_from_this()));
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
          beast::bind_front_handler(&HttpSession::OnContinueWritten, shared_from_this()));
    }
    ReadBody();
  }

  void OnContinueWritten(beast::error_code ec, std::size_t /*bytes*/) {
    if (ec) return Fail(ec, "write 100-continue");
    ReadBody();
  }

  void ReadBody() {
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&HttpSession::OnReadBody, shared_from_this()));
  }

  void OnReadBody(beast::error_code ec, std::size_t /*bytes*/) {
    if (ec) return OnReadError(ec, "read body");
    HandleRequest();
  }

  // Answers what the client got wrong; ends the connection either way.
  void OnReadError(beast::error_code ec, const char* what) {
    if (ec == http::error::body_limit) {
      return SendErrorAndClose(
          413, "request body exceeds " + std::to_string(state_.max_body_bytes) + " bytes");
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

    // WebSocket upgrade hook (not implemented yet). A route that upgrades is recognised here,
    // before routing:
    //   if (websocket::is_upgrade(beast_req) && <path is a WebSocket route>) {
    //     std::make_shared<WsSession>(std::move(stream_), std::move(buffer_), state_)
    //         ->Run(std::move(beast_req));  // calls websocket::stream::async_accept(beast_req)
    //     return;  // this session then ends: no operation is pending on it
    //   }
    // The WsSession registers itself with state_.registry (Admit: Close closes the WebSocket)
    // before this session's destructor Removes its own entry, so the connection stays counted.
    // stream_ and buffer_ are plain movable members for this reason; nothing else holds them.

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
  void Reject() { SendErrorAndClose(503, "too many connections"); }

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
    stream_.expires_after(state_.read_timeout);
    http::async_write(
        stream_, res_,
        beast::bind_front_handler(&HttpSession::OnWrite, shared_from_this(), keep_alive, linger));
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
    stream_.socket().shutdown(Tcp::socket::shutdown_send, ec);
    if (ec) return CloseSocket();
    stream_.expires_after(kHttpLingerTimeout);
    buffer_.clear();
    Drain();
  }

  void Drain() {
    stream_.async_read_some(buffer_.prepare(4096),
                            beast::bind_front_handler(&HttpSession::OnDrain, shared_from_this()));
  }

  void OnDrain(beast::error_code ec, std::size_t /*bytes*/) {
    if (ec || closing_) return CloseSocket();  // EOF (expected), timeout, or Stop
    Drain();
  }

  void DoClose() {
    closing_ = true;
    if (!writing_) CloseSocket();  // else OnWrite closes
  }

  void CloseSocket() {
    beast::error_code ec;
    // Best effort: the peer may be gone already, and nothing is left to do about an error.
    stream_.socket().shutdown(Tcp::socket::shutdown_both, ec);
    stream_.close();
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;  // read buffer; may hold the start of the next request
  HttpServerState& state_;
  uint64_t registry_id_ = 0;
  std::optional<http::request_parser<http::string_body>> parser_;  // while reading a request
  http::response<http::string_body> res_;  // while writing; async_write needs it alive
  bool writing_ = false;                   // a response is being written
  bool closing_ = false;  // Stop closed the connection; end after the current write
};

}  // namespace

struct HttpServer::Impl {
  Impl(const config::HttpOptions& options, HttpRouter router)
      : state(options, std::move(router)),
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
    std::make_shared<HttpSession>(std::move(socket), state)->Start();
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

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const config::HttpOptions& options,
                                                      HttpRouter router) {
  if (options.threads < 1 || options.threads > 64) {
    return Status::InvalidArgument("http.threads must be in 1..64, got " +
                                   std::to_string(options.threads));
  }
  if (options.max_body_bytes < 1) {
    return Status::InvalidArgument("http.max_body_bytes must be > 0, got " +
                                   std::to_string(options.max_body_bytes));
  }
  if (options.read_timeout_ms < 1) {
    return Status::InvalidArgument("http.read_timeout_ms must be > 0, got " +
                                   std::to_string(options.read_timeout_ms));
  }
  if (options.max_connections < 1) {
    return Status::InvalidArgument("http.max_connections must be > 0, got " +
                                   std::to_string(options.max_connections));
  }
  auto impl = std::make_unique<Impl>(options, std::move(router));
  OSPREY_ASSIGN_OR_RETURN(const Tcp::endpoint endpoint,
                          ParseListenAddress(options.listen, impl->ioc));
  OSPREY_RETURN_IF_ERROR(impl->Listen(endpoint));
  impl->Accept();  // no I/O thread runs yet
  impl->threads.reserve(static_cast<size_t>(options.threads));
  for (int idx = 0; idx < options.threads; ++idx) {
    impl->threads.emplace_back([raw = impl.get()] { raw->ioc.run(); });
  }
  spdlog::info("http server listening on {} ({} threads)", impl->address, options.threads);
  // The constructor is private, so no make_unique.
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Stop(); }

uint16_t HttpServer::port() const { return impl_->port; }

const std::string& HttpServer::address() const { return impl_->address; }

void HttpServer::Stop() { impl_->Stop(); }

}  // namespace osprey::daemon
