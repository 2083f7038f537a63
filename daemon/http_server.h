// The daemon's HTTP/1.1 server: plain request/response structs, a route table, and a server
// (Boost.Beast behind a pimpl; no Boost type appears here, so including this header is cheap).
// HttpRequest/HttpResponse/HttpRouter are thread-compatible. HttpServer is thread-safe; it calls
// handlers on its I/O threads, concurrently for different connections.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
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
  };

  std::vector<Route> routes_;
};

// Serves an HttpRouter over HTTP/1.1 with keep-alive, with these limits from HttpOptions:
// - max_body_bytes: a larger body is answered 413 and the connection closed;
// - read_timeout_ms: budget for reading one request's header and body (and for an idle
//   keep-alive connection to start the next one, and for writing a response); on expiry the
//   connection is dropped without a response;
// - max_connections: past it, a new connection is answered 503 and closed;
// - a request header over 16 KiB is answered 431, malformed HTTP 400, both closing.
// Every response carries Content-Length and "Server: osprey"; errors are JSON.
// Thread-safe.
class HttpServer {
 public:
  // Binds `options.listen` ("host:port", "[v6addr]:port"; port 0 picks a free port) and starts
  // `options.threads` I/O threads. Errors: kInvalidArgument (bad options or address),
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
