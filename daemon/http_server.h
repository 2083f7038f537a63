// The daemon's HTTP/1.1 server: plain request/response structs, a route table (HTTP and WebSocket
// routes), and a server (Boost.Beast behind a pimpl; no Boost type appears here, so including
// this header is cheap).
// HttpRequest/HttpResponse/HttpRouter are thread-compatible. HttpServer and WebSocketConnection
// are thread-safe; the server calls handlers on its I/O threads, concurrently for different
// connections.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "config/base/status.h"
#include "config/options.h"

namespace osprey::daemon {

struct HttpRequest {
  std::string method;  // as sent, e.g. "GET"
  std::string target;  // request-target as sent: path and query, still percent-encoded
  std::string path;    // target before '?', still percent-encoded
  std::string query;   // target after '?', without the '?'; empty if none
  // In arrival order; names lowercased, values as sent.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // Filled by HttpRouter::Dispatch from the route's {name} segments, percent-decoded.
  std::map<std::string, std::string> path_params;

  // Value of the first header with this name, or nullptr. REQUIRES: `lower_name` is lowercase.
  const std::string* Header(std::string_view lower_name) const;
  // Percent-decoded value ('+' = space) of the first `name=` in the query; "" for a bare `name`;
  // nullopt when absent.
  std::optional<std::string> QueryParam(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  // Sent as Content-Type unless empty.
  std::string content_type = "application/json";
  std::string body;
  // Extra headers. The server sets Content-Length, Content-Type (from content_type), Server,
  // Connection and Transfer-Encoding itself and ignores those names here; a header whose name
  // is not an HTTP token or whose value holds CR, LF or NUL is dropped.
  std::vector<std::pair<std::string, std::string>> headers;

  static HttpResponse Json(int status, std::string body);
  static HttpResponse Text(int status, std::string body,
                           std::string content_type = "text/plain; charset=utf-8");
  // Body {"error":{"code":status,"message":"..."}}.
  static HttpResponse Error(int status, std::string_view message);
};

// Runs on an I/O thread: must be quick, must not block, and must be safe to call concurrently.
// An exception it throws becomes a 500 JSON error; the server keeps running.
using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

// ---------------------------------------------------------------------------------------------
// WebSocket routes

// Per-route WebSocket limits.
struct WebSocketOptions {
  // Messages queued per connection (one more is being written) beyond which Send with
  // kDropWhenFull drops and counts the message as lost. Default: 1024. Must be > 0.
  size_t queue_limit = 1024;
  // Total lost messages past which the server closes the connection with code 1008 (policy
  // violation: the client does not keep up with the feed; reconnecting at once would only
  // repeat it, resuming from its last seq can). Default: 10000.
  uint64_t max_lost = 10000;
  // Keep-alive: a ping after this long without a frame from the client; the connection is
  // dropped when nothing (no pong either) arrives for twice as long. Default: 20 s.
  std::chrono::milliseconds ping_interval{20000};
  // Largest client message; larger ones close the connection (1009). Default: 64 KiB.
  size_t max_message_bytes = 64 * 1024;
  // Budget for a server-initiated close (finishing the write in flight, then the close
  // handshake) before the TCP connection is dropped. Default: 5 s.
  std::chrono::milliseconds close_timeout{5000};
};

// One accepted WebSocket connection, as its route's callbacks see it. Thread-safe: Send and
// Close may be called from any thread, also after the connection ended (they then do nothing).
//
// Outgoing messages go through a bounded queue with one write in flight (Beast allows only
// one). Send never blocks. When the queue holds queue_limit messages, Send(kDropWhenFull) drops
// the message and counts it; before the next message that fits (or, if none comes, once the
// queue has drained) the server sends the text message {"type":"lost","count":N}, N = messages
// dropped since the previous notice, at the place of the gap. Past max_lost dropped messages in
// total the server closes the connection with code 1008 and reason "client too slow: N
// messages lost", discarding the queue.
class WebSocketConnection {
 public:
  enum class SendMode {
    kDropWhenFull,  // drop (and count) when the queue is full
    kAlwaysQueue,   // queue even past queue_limit: for a bounded burst, e.g. a replay
  };

  virtual ~WebSocketConnection() = default;

  // Queues a text message. Returns false if it was dropped (queue full, or the connection is
  // closing or closed).
  virtual bool Send(std::shared_ptr<const std::string> text,
                    SendMode mode = SendMode::kDropWhenFull) = 0;
  // Starts the closing handshake with `code` (RFC 6455 §7.4) and `reason` (cut to 123 bytes);
  // queued messages are discarded. Idempotent: the first code wins.
  virtual void Close(uint16_t code, std::string reason) = 0;
  // Messages dropped so far by Send.
  virtual uint64_t lost() const = 0;
};

// What a WebSocket route does with an accepted connection. The callbacks of one connection run
// on its I/O strand, one at a time; they must be quick and must not block. Each may be empty.
struct WebSocketSession {
  // After the handshake, once. The connection may be kept (prefer a weak_ptr, as owning it
  // from something the connection owns leaks until on_close).
  std::function<void(const std::shared_ptr<WebSocketConnection>&)> on_open;
  // A complete client message (text or binary).
  std::function<void(std::string_view message)> on_message;
  // Once, after on_open, when the connection has ended (closed by either side, failed, or the
  // server stopped). Release here whatever on_open set up.
  std::function<void()> on_close;
};

// Answers an upgrade request on a WebSocket route: an HttpResponse refuses it (sent as a plain
// HTTP response, typically a 4xx error), a WebSocketSession accepts it. Runs on an I/O thread,
// like HttpHandler. An exception becomes a 500 JSON error.
using WebSocketHandlerResult = std::variant<HttpResponse, WebSocketSession>;
using WebSocketHandler = std::function<WebSocketHandlerResult(const HttpRequest&)>;

// Route table: method + path pattern. A pattern is "/"-separated segments, each a literal
// ("models"), a parameter ("{name}", matches one non-empty segment), or a parameter with a
// custom-verb suffix ("{name}:predict", matches "m1:predict" with name = "m1").
// When several patterns match, the most specific wins, segment by segment:
// literal > parameter with verb > parameter. HEAD falls back to the GET route.
// Thread-compatible: build with Add, then Dispatch may be called concurrently.
class HttpRouter {
 public:
  // REQUIRES: `pattern` starts with '/', braces are well formed, and (method, pattern) was not
  // added before (programmer errors: checked, abort).
  void Add(std::string method, std::string pattern, HttpHandler handler);

  // Registers `pattern` as a WebSocket endpoint: a GET with a valid WebSocket upgrade goes to
  // `handler`; any other GET is answered 426 (Upgrade Required) JSON with "Upgrade: websocket";
  // other methods 405. REQUIRES: as Add, and no GET route with this pattern.
  void AddWebSocket(std::string pattern, WebSocketHandler handler, WebSocketOptions options = {});

  // For the server: if `req` (a WebSocket upgrade request) matches a WebSocket route, fills
  // req.path_params, sets *options to the route's and returns its handler's answer
  // (exceptions propagate); else nullopt.
  std::optional<WebSocketHandlerResult> DispatchWebSocket(HttpRequest& req,
                                                          WebSocketOptions* options) const;

  // Fills req.path_params and runs the matching handler (exceptions propagate to the caller).
  // Unknown path: 404 JSON. Known path, other method: 405 JSON with an Allow header. For HEAD
  // the body is returned as for GET; the server sends only its Content-Length.
  HttpResponse Dispatch(HttpRequest& req) const;

 private:
  struct Segment {
    enum class Kind { kLiteral, kParam, kParamVerb };
    Kind kind = Kind::kLiteral;
    std::string text;  // literal text, or the parameter name
    std::string verb;  // kParamVerb: the suffix after ':' (without ':')
  };
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<Segment> segments;
    HttpHandler handler;
    int websocket_index = -1;  // into websocket_routes_, for the GET of a WebSocket route
  };
  struct WebSocketRoute {
    WebSocketHandler handler;
    WebSocketOptions options;
  };

  // The most specific route for `method` matching the split path `parts`, or nullptr; fills
  // *params from it.
  const Route* Find(std::string_view method, const std::vector<std::string_view>& parts,
                    std::map<std::string, std::string>* params) const;
  static bool Match(const Route& route, const std::vector<std::string_view>& parts,
                    std::map<std::string, std::string>* params, std::vector<uint8_t>* score);

  std::vector<Route> routes_;
  std::vector<WebSocketRoute> websocket_routes_;  // each also in routes_ as GET (answers 426)
};

// Serves an HttpRouter over HTTP/1.1 with keep-alive (over TLS when options.tls is set: then
// only TLS; a plain-HTTP request is answered 400, naming https://). Limits, from
// options.limits (config/options.h):
// - max_body_bytes: a larger body is answered 413 and the connection closed;
// - header_timeout_ms: budget for the TLS handshake and for reading a request's header,
//   counted from when the server starts waiting for it (so also for an idle keep-alive
//   connection); body_timeout_ms: for reading its body, and for writing a response; on expiry
//   the connection is dropped without a response (the client is too slow to be answered);
// - max_connections: past it, a new connection is answered 503 and closed;
// - requests_per_second/burst: a token bucket per caller (its token's name, else its IP);
//   an empty bucket is answered 429 with Retry-After (seconds);
// - a request header over 16 KiB is answered 431, malformed HTTP 400, both closing.
// With options.auth tokens, every request is checked by HttpAccessPolicy (daemon/http_access.h)
// before its handler runs: 401 with WWW-Authenticate: Bearer without a valid token, 403 when the
// token's role is too low. The rate limit is applied first, so failed attempts are limited too.
// Every response carries Content-Length and "Server: osprey"; errors are JSON.
// An upgraded WebSocket connection keeps counting against max_connections; it is limited by
// its route's WebSocketOptions instead of the read timeouts. Stop closes it with code 1001.
// Thread-safe.
class HttpServer {
 public:
  // Binds `options.listen` ("host:port", "[v6addr]:port"; port 0 picks a free port) and starts
  // `options.threads` I/O threads. Errors: kInvalidArgument (bad options or address, a TLS
  // certificate or key that does not load or match: the message names the key and the file),
  // kIOError (bind/listen failed).
  static Result<std::unique_ptr<HttpServer>> Start(const config::HttpOptions& options,
                                                   HttpRouter router);
  ~HttpServer();  // Stop()s.

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The bound port (the chosen one when the configured port was 0).
  uint16_t port() const;
  // The bound endpoint as "ip:port" ("[ip]:port" for IPv6).
  const std::string& address() const;

  // Idempotent. Closes the acceptor and every connection (a response being written is finished
  // first, within a short grace period), then joins the I/O threads.
  // REQUIRES: not called from a handler (it would join its own thread).
  void Stop();

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

}  // namespace osprey::daemon
