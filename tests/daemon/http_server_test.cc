// Tests for daemon/http_server.h: the router directly, and the server over real loopback sockets
// through a tiny blocking POSIX client (keep-alive, raw bytes, partial requests).
#include "daemon/http_server.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace osprey::daemon {
namespace {

using Millis = std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

Millis Since(SteadyClock::time_point start) {
  return std::chrono::duration_cast<Millis>(SteadyClock::now() - start);
}

// ---------------------------------------------------------------------------------------------
// Router

HttpHandler EchoParams() {
  return [](const HttpRequest& req) {
    std::string body;
    for (const auto& [name, value] : req.path_params)
      body.append(name).append("=").append(value).append(";");
    return HttpResponse::Text(200, body);
  };
}

HttpHandler Fixed(std::string body) {
  return [body = std::move(body)](const HttpRequest&) { return HttpResponse::Text(200, body); };
}

HttpRequest MakeRequest(std::string method, std::string path) {
  HttpRequest req;
  req.method = std::move(method);
  req.path = path;
  req.target = std::move(path);
  return req;
}

TEST(HttpRouterTest, MatchesParamsAndVerbSuffix) {
  HttpRouter router;
  router.Add("GET", "/v1/models/{name}", EchoParams());
  router.Add("POST", "/v1/models/{name}:predict", EchoParams());
  router.Add("GET", "/v1/pipelines/{pipeline}/keys/{key}", EchoParams());

  HttpRequest get = MakeRequest("GET", "/v1/models/m%201");
  EXPECT_EQ(router.Dispatch(get).body, "name=m 1;");

  HttpRequest predict = MakeRequest("POST", "/v1/models/m1:predict");
  HttpResponse response = router.Dispatch(predict);
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "name=m1;");

  HttpRequest keys = MakeRequest("GET", "/v1/pipelines/p/keys/host%3A01");
  EXPECT_EQ(router.Dispatch(keys).body, "key=host:01;pipeline=p;");

  // A verb segment needs a non-empty name and the exact verb.
  HttpRequest no_name = MakeRequest("POST", "/v1/models/:predict");
  EXPECT_EQ(router.Dispatch(no_name).status, 405);  // GET /v1/models/{name} matches the path
  HttpRequest other_verb = MakeRequest("POST", "/v1/models/m1:explain");
  EXPECT_EQ(router.Dispatch(other_verb).status, 405);
  HttpRequest empty_param = MakeRequest("GET", "/v1/models/");
  EXPECT_EQ(router.Dispatch(empty_param).status, 404);
}

TEST(HttpRouterTest, MostSpecificRouteWins) {
  HttpRouter router;
  router.Add("GET", "/v1/{kind}/{name}", Fixed("param"));
  router.Add("GET", "/v1/models/{name}", Fixed("literal"));
  router.Add("GET", "/v1/models/{name}:status", Fixed("verb"));
  router.Add("GET", "/v1/models:list", Fixed("literal-verb"));

  HttpRequest a = MakeRequest("GET", "/v1/models/m");
  EXPECT_EQ(router.Dispatch(a).body, "literal");
  HttpRequest b = MakeRequest("GET", "/v1/models/m:status");
  EXPECT_EQ(router.Dispatch(b).body, "verb");
  HttpRequest c = MakeRequest("GET", "/v1/sinks/s");
  EXPECT_EQ(router.Dispatch(c).body, "param");
  HttpRequest d = MakeRequest("GET", "/v1/models:list");
  EXPECT_EQ(router.Dispatch(d).body, "literal-verb");
}

TEST(HttpRouterTest, UnknownPathIs404AndWrongMethodIs405WithAllow) {
  HttpRouter router;
  router.Add("GET", "/v1/models/{name}", Fixed("get"));
  router.Add("DELETE", "/v1/models/{name}", Fixed("delete"));

  HttpRequest unknown = MakeRequest("GET", "/v2/nothing");
  HttpResponse not_found = router.Dispatch(unknown);
  EXPECT_EQ(not_found.status, 404);
  EXPECT_EQ(not_found.content_type, "application/json");
  EXPECT_EQ(not_found.body, R"({"error":{"code":404,"message":"no route for '/v2/nothing'"}})");

  HttpRequest post = MakeRequest("POST", "/v1/models/m");
  HttpResponse not_allowed = router.Dispatch(post);
  EXPECT_EQ(not_allowed.status, 405);
  EXPECT_NE(not_allowed.body.find(R"({"error":{"code":405,"message":)"), std::string::npos);
  ASSERT_EQ(not_allowed.headers.size(), 1u);
  EXPECT_EQ(not_allowed.headers[0].first, "Allow");
  EXPECT_EQ(not_allowed.headers[0].second, "DELETE, GET, HEAD");

  HttpRequest head = MakeRequest("HEAD", "/v1/models/m");
  EXPECT_EQ(router.Dispatch(head).body, "get");  // HEAD falls back to GET
}

TEST(HttpRouterTest, RequestAccessors) {
  HttpRequest req;
  req.headers = {{"content-type", "application/json"}, {"x-a", "1"}, {"x-a", "2"}};
  req.query = "q=a%20b+c&flag&empty=&q=second";
  ASSERT_NE(req.Header("x-a"), nullptr);
  EXPECT_EQ(*req.Header("x-a"), "1");
  EXPECT_EQ(req.Header("x-b"), nullptr);
  EXPECT_EQ(req.QueryParam("q"), "a b c");
  EXPECT_EQ(req.QueryParam("flag"), "");
  EXPECT_EQ(req.QueryParam("empty"), "");
  EXPECT_EQ(req.QueryParam("missing"), std::nullopt);

  EXPECT_EQ(HttpResponse::Error(400, "bad \"x\"").body,
            R"({"error":{"code":400,"message":"bad \"x\""}})");
  EXPECT_EQ(HttpResponse::Json(201, "{}").content_type, "application/json");
  EXPECT_EQ(HttpResponse::Text(200, "x").content_type, "text/plain; charset=utf-8");
}

TEST(HttpRouterDeathTest, BadPatternsAreProgrammerErrors) {
  HttpRouter router;
  router.Add("GET", "/a/{name}", Fixed(""));
  EXPECT_DEATH(router.Add("GET", "no-slash", Fixed("")), "must start with");
  EXPECT_DEATH(router.Add("GET", "/a/{name", Fixed("")), "bad parameter");
  EXPECT_DEATH(router.Add("GET", "/a/{other}", Fixed("")), "duplicates");
}

// ---------------------------------------------------------------------------------------------
// Server, over loopback

struct RawResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lowercased names
  std::string body;

  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

// A blocking client connection. Reads time out after 3 s so that a bug fails instead of hanging.
class TestConnection {
 public:
  explicit TestConnection(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      ::close(fd_);
      fd_ = -1;
      return;
    }
    timeval timeout{3, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  ~TestConnection() { Close(); }
  TestConnection(const TestConnection&) = delete;
  TestConnection& operator=(const TestConnection&) = delete;

  bool connected() const { return fd_ >= 0; }

  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  bool Send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // One response (a 100 Continue counts as one). `head`: the response has no body.
  std::optional<RawResponse> Read(bool head = false) {
    size_t header_end;
    while ((header_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return std::nullopt;
    }
    RawResponse response;
    if (buffer_.compare(0, 5, "HTTP/") != 0) return std::nullopt;
    response.status = std::stoi(buffer_.substr(buffer_.find(' ') + 1, 3));
    size_t pos = buffer_.find("\r\n") + 2;
    while (pos < header_end) {
      size_t eol = buffer_.find("\r\n", pos);
      std::string line = buffer_.substr(pos, eol - pos);
      size_t colon = line.find(':');
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      size_t value_begin = line.find_first_not_of(' ', colon + 1);
      response.headers[name] = value_begin == std::string::npos ? "" : line.substr(value_begin);
      pos = eol + 2;
    }
    buffer_.erase(0, header_end + 4);
    if (!head && response.headers.count("content-length") != 0) {
      const size_t length = std::stoul(response.headers["content-length"]);
      while (buffer_.size() < length) {
        if (!Fill()) return std::nullopt;
      }
      response.body = buffer_.substr(0, length);
      buffer_.erase(0, length);
    }
    return response;
  }

  std::optional<RawResponse> RoundTrip(std::string_view request, bool head = false) {
    if (!Send(request)) return std::nullopt;
    return Read(head);
  }

  // True when the server closes the connection (EOF or reset) within `timeout`; data received
  // meanwhile is discarded.
  bool WaitClosed(Millis timeout) {
    const auto deadline = SteadyClock::now() + timeout;
    while (SteadyClock::now() < deadline) {
      pollfd pfd{fd_, POLLIN, 0};
      const auto left = std::chrono::duration_cast<Millis>(deadline - SteadyClock::now());
      if (::poll(&pfd, 1, static_cast<int>(std::max<int64_t>(left.count(), 1))) <= 0) continue;
      char scratch[4096];
      ssize_t n = ::recv(fd_, scratch, sizeof(scratch), 0);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return true;
    }
    return false;
  }

 private:
  bool Fill() {
    char chunk[16384];
    ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  std::string buffer_;  // received, not yet parsed
};

std::string Get(std::string_view target, std::string_view extra_headers = "") {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: test\r\n" + std::string(extra_headers) +
         "\r\n";
}

std::string Post(std::string_view target, std::string_view body) {
  return "POST " + std::string(target) +
         " HTTP/1.1\r\nHost: test\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
         std::string(body);
}

class HttpServerTest : public ::testing::Test {
 protected:
  static config::HttpOptions Options() {
    config::HttpOptions options;
    options.listen = "127.0.0.1:0";
    options.limits.max_body_bytes = 1024;
    options.limits.header_timeout_ms = 2000;
    options.limits.body_timeout_ms = 2000;
    options.limits.max_connections = 64;
    options.threads = 2;
    return options;
  }

  HttpRouter Routes() {
    HttpRouter router;
    router.Add("GET", "/v1/models/{name}", [](const HttpRequest& req) {
      return HttpResponse::Json(200, R"({"name":")" + req.path_params.at("name") + R"("})");
    });
    router.Add("POST", "/v1/models/{name}:predict", [](const HttpRequest& req) {
      return HttpResponse::Json(200, req.path_params.at("name") + ":" + req.body);
    });
    router.Add("POST", "/echo", [](const HttpRequest& req) {
      HttpResponse response = HttpResponse::Text(201, req.body);
      const std::string* type = req.Header("x-type");
      response.headers.emplace_back("X-Echo-Type", type != nullptr ? *type : "-");
      response.headers.emplace_back("Content-Length", "999");        // ignored: the server's own
      response.headers.emplace_back("X-Bad", "a\r\nInjected: yes");  // dropped
      return response;
    });
    router.Add("GET", "/count", [this](const HttpRequest&) {
      return HttpResponse::Text(200, std::to_string(++count_));
    });
    router.Add("GET", "/throw",
               [](const HttpRequest&) -> HttpResponse { throw std::runtime_error("boom"); });
    router.Add("GET", "/slow", [this](const HttpRequest&) {
      slow_entered_ = true;
      std::this_thread::sleep_for(Millis(150));
      return HttpResponse::Text(200, "slow");
    });
    router.Add("DELETE", "/empty", [](const HttpRequest&) { return HttpResponse::Text(204, ""); });
    return router;
  }

  void StartServer(const config::HttpOptions& options = Options()) {
    auto server = HttpServer::Start(options, Routes());
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    ASSERT_NE(server_->port(), 0);
  }

  uint16_t port() const { return server_->port(); }

  std::atomic<int> count_{0};
  std::atomic<bool> slow_entered_{false};
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, ServesRoutesWithParamsAndVerbSuffix) {
  StartServer();
  EXPECT_EQ(server_->address(), "127.0.0.1:" + std::to_string(port()));
  TestConnection conn(port());
  ASSERT_TRUE(conn.connected());

  auto get = conn.RoundTrip(Get("/v1/models/m%201"));
  ASSERT_TRUE(get.has_value());
  EXPECT_EQ(get->status, 200);
  EXPECT_EQ(get->body, R"({"name":"m 1"})");
  EXPECT_EQ(get->Header("content-type"), "application/json");
  EXPECT_EQ(get->Header("content-length"), "14");
  EXPECT_EQ(get->Header("server"), "osprey");

  auto predict = conn.RoundTrip(Post("/v1/models/m1:predict", "[1,2]"));
  ASSERT_TRUE(predict.has_value());
  EXPECT_EQ(predict->status, 200);
  EXPECT_EQ(predict->body, "m1:[1,2]");

  auto echo = conn.RoundTrip(
      "POST /echo HTTP/1.1\r\nHost: t\r\nX-Type: abc\r\nContent-Length: 3\r\n\r\nxyz");
  ASSERT_TRUE(echo.has_value());
  EXPECT_EQ(echo->status, 201);
  EXPECT_EQ(echo->body, "xyz");
  EXPECT_EQ(echo->Header("content-length"), "3");
  EXPECT_EQ(echo->Header("content-type"), "text/plain; charset=utf-8");
  EXPECT_EQ(echo->Header("x-echo-type"), "abc");
  EXPECT_EQ(echo->headers.count("x-bad"), 0u);
  EXPECT_EQ(echo->headers.count("injected"), 0u);

  auto no_content = conn.RoundTrip("DELETE /empty HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_TRUE(no_content.has_value());
  EXPECT_EQ(no_content->status, 204);
  EXPECT_EQ(no_content->headers.count("content-length"), 0u);

  // Chunked request bodies are accepted.
  auto chunked = conn.RoundTrip(
      "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
  ASSERT_TRUE(chunked.has_value());
  EXPECT_EQ(chunked->body, "abcde");
}

TEST_F(HttpServerTest, UnknownPathIs404AndWrongMethodIs405) {
  StartServer();
  TestConnection conn(port());
  auto not_found = conn.RoundTrip(Get("/nope"));
  ASSERT_TRUE(not_found.has_value());
  EXPECT_EQ(not_found->status, 404);
  EXPECT_EQ(not_found->Header("content-type"), "application/json");
  EXPECT_EQ(not_found->body, R"({"error":{"code":404,"message":"no route for '/nope'"}})");

  auto not_allowed = conn.RoundTrip(Post("/v1/models/m", "{}"));
  ASSERT_TRUE(not_allowed.has_value());
  EXPECT_EQ(not_allowed->status, 405);
  EXPECT_EQ(not_allowed->Header("allow"), "GET, HEAD");
  EXPECT_EQ(not_allowed->body.rfind(R"({"error":{"code":405,)", 0), 0u);
}

TEST_F(HttpServerTest, KeepAliveServesManyRequestsOnOneConnection) {
  StartServer();
  TestConnection conn(port());
  for (int idx = 1; idx <= 5; ++idx) {
    auto response = conn.RoundTrip(Get("/count"));
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->body, std::to_string(idx));
    EXPECT_NE(response->Header("connection"), "close");
  }
  // Pipelined: two requests in one write, answered in order.
  ASSERT_TRUE(conn.Send(Get("/count") + Get("/v1/models/x")));
  auto first = conn.Read();
  auto second = conn.Read();
  ASSERT_TRUE(first.has_value() && second.has_value());
  EXPECT_EQ(first->body, "6");
  EXPECT_EQ(second->body, R"({"name":"x"})");

  // HEAD: GET's Content-Length, no body (the next response parses only if none was sent).
  auto head = conn.RoundTrip("HEAD /v1/models/x HTTP/1.1\r\nHost: t\r\n\r\n", /*head=*/true);
  ASSERT_TRUE(head.has_value());
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->Header("content-length"), "12");
  auto after_head = conn.RoundTrip(Get("/count"));
  ASSERT_TRUE(after_head.has_value());
  EXPECT_EQ(after_head->body, "7");

  // "Connection: close" is honoured.
  auto last = conn.RoundTrip(Get("/count", "Connection: close\r\n"));
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->Header("connection"), "close");
  EXPECT_TRUE(conn.WaitClosed(Millis(1000)));
}

TEST_F(HttpServerTest, OversizedBodyIs413) {
  StartServer();  // max_body_bytes = 1024
  {
    TestConnection conn(port());
    auto response = conn.RoundTrip(Post("/echo", std::string(2000, 'x')));
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 413);
    EXPECT_EQ(response->Header("content-type"), "application/json");
    EXPECT_EQ(response->body, R"({"error":{"code":413,"message":"request body exceeds 1024 bytes )"
                              R"((http.limits.max_body_bytes): send less per request"}})");
    EXPECT_EQ(response->Header("connection"), "close");
    EXPECT_TRUE(conn.WaitClosed(Millis(1000)));
  }
  {  // Chunked: the limit applies while reading.
    TestConnection conn(port());
    std::string chunk(700, 'y');
    auto response = conn.RoundTrip(
        "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2bc\r\n" + chunk +
        "\r\n2bc\r\n" + chunk + "\r\n0\r\n\r\n");
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 413);
  }
  {  // Exactly at the limit is fine.
    TestConnection conn(port());
    auto response = conn.RoundTrip(Post("/echo", std::string(1024, 'z')));
    ASSERT_TRUE(response.has_value());
    EXPECT_EQ(response->status, 201);
    EXPECT_EQ(response->body.size(), 1024u);
  }
}

TEST_F(HttpServerTest, ExpectContinue) {
  StartServer();
  TestConnection conn(port());
  ASSERT_TRUE(conn.Send(
      "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
  auto interim = conn.Read(/*head=*/true);
  ASSERT_TRUE(interim.has_value());
  EXPECT_EQ(interim->status, 100);
  auto response = conn.RoundTrip("hello");
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 201);
  EXPECT_EQ(response->body, "hello");

  // Too large: 413 right away, without asking for the body.
  auto rejected = conn.RoundTrip(
      "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n");
  ASSERT_TRUE(rejected.has_value());
  EXPECT_EQ(rejected->status, 413);
}

TEST_F(HttpServerTest, MalformedRequestIs400AndOversizedHeaderIs431) {
  StartServer();
  for (const std::string& garbage :
       {std::string("NOT HTTP AT ALL\r\n\r\n"), std::string("GET / HTTP/1.1\r\nNo colon\r\n\r\n"),
        std::string("GET / HTTP/1.1\r\nContent-Length: abc\r\n\r\n")}) {
    TestConnection conn(port());
    auto response = conn.RoundTrip(garbage);
    ASSERT_TRUE(response.has_value()) << garbage;
    EXPECT_EQ(response->status, 400) << garbage;
    EXPECT_EQ(response->body.rfind(R"({"error":{"code":400,"message":"malformed HTTP request)", 0),
              0u)
        << response->body;
    EXPECT_TRUE(conn.WaitClosed(Millis(1000)));
  }
  TestConnection conn(port());
  auto response = conn.RoundTrip(Get("/count", "X-Big: " + std::string(20000, 'h') + "\r\n"));
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 431);
  EXPECT_EQ(response->Header("content-type"), "application/json");
  EXPECT_TRUE(conn.WaitClosed(Millis(1000)));
}

TEST_F(HttpServerTest, HandlerExceptionIs500AndServerKeepsRunning) {
  StartServer();
  TestConnection conn(port());
  auto response = conn.RoundTrip(Get("/throw"));
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 500);
  EXPECT_EQ(response->body, R"({"error":{"code":500,"message":"handler failed: boom"}})");
  auto next = conn.RoundTrip(Get("/count"));  // same connection still works
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->status, 200);
}

TEST_F(HttpServerTest, ReadTimeoutDropsSlowClients) {
  config::HttpOptions options = Options();
  options.limits.header_timeout_ms = 200;
  options.limits.body_timeout_ms = 200;
  StartServer(options);

  // A client that starts a request and stalls.
  TestConnection stalled(port());
  ASSERT_TRUE(stalled.Send("GET /count HTTP/1.1\r\nHost: t\r\n"));
  auto start = SteadyClock::now();
  EXPECT_TRUE(stalled.WaitClosed(Millis(2000)));
  EXPECT_GE(Since(start).count(), 150);
  EXPECT_LT(Since(start).count(), 1500);

  // A client that trickles header bytes: the budget covers the whole header, so it is dropped too.
  TestConnection trickler(port());
  ASSERT_TRUE(trickler.Send("GET /count HTTP/1.1\r\n"));
  start = SteadyClock::now();
  bool closed = false;
  while (!closed && Since(start) < Millis(2000)) {
    trickler.Send("X-A: b\r\n");
    closed = trickler.WaitClosed(Millis(50));
  }
  EXPECT_TRUE(closed);
  EXPECT_LT(Since(start).count(), 1500);

  // The server is fine afterwards.
  TestConnection conn(port());
  auto response = conn.RoundTrip(Get("/count"));
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
}

TEST_F(HttpServerTest, MaxConnectionsAnswers503) {
  config::HttpOptions options = Options();
  options.limits.max_connections = 2;
  StartServer(options);

  auto first = std::make_unique<TestConnection>(port());
  TestConnection second(port());
  ASSERT_TRUE(first->RoundTrip(Get("/count")).has_value());  // both accepted and counted
  ASSERT_TRUE(second.RoundTrip(Get("/count")).has_value());

  TestConnection third(port());
  auto refused = third.RoundTrip(Get("/count"));
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->status, 503);
  EXPECT_EQ(refused->body, R"({"error":{"code":503,"message":"too many connections )"
                           R"((http.limits.max_connections = 2): retry later"}})");
  EXPECT_EQ(refused->Header("connection"), "close");
  EXPECT_TRUE(third.WaitClosed(Millis(1000)));

  // Closing a connection frees its slot (once the server notices).
  first.reset();
  int status = 0;
  const auto start = SteadyClock::now();
  while (status != 200 && Since(start) < Millis(2000)) {
    TestConnection retry(port());
    auto response = retry.RoundTrip(Get("/count"));
    status = response.has_value() ? response->status : 0;
    if (status != 200) std::this_thread::sleep_for(Millis(10));
  }
  EXPECT_EQ(status, 200);
}

TEST_F(HttpServerTest, ConcurrentClients) {
  StartServer();
  constexpr int kThreads = 8;
  constexpr int kRequestsPerThread = 50;
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  clients.reserve(kThreads);
  for (int thread_idx = 0; thread_idx < kThreads; ++thread_idx) {
    clients.emplace_back([&, thread_idx] {
      std::unique_ptr<TestConnection> conn;
      for (int request_idx = 0; request_idx < kRequestsPerThread; ++request_idx) {
        if (request_idx % 10 == 0) conn = std::make_unique<TestConnection>(port());  // reconnect
        const std::string body = std::to_string(thread_idx) + "-" + std::to_string(request_idx);
        auto response = conn->RoundTrip(Post("/v1/models/m:predict", body));
        if (response.has_value() && response->status == 200 && response->body == "m:" + body) {
          ++ok;
        }
      }
    });
  }
  for (std::thread& client : clients) client.join();
  EXPECT_EQ(ok.load(), kThreads * kRequestsPerThread);
}

TEST_F(HttpServerTest, StopClosesOpenConnections) {
  StartServer();
  TestConnection idle(port());
  ASSERT_TRUE(idle.RoundTrip(Get("/count")).has_value());
  TestConnection partial(port());
  ASSERT_TRUE(partial.Send("GET /count HTTP/1.1\r\nHost: t\r\n"));

  std::optional<RawResponse> in_flight;
  std::thread slow_client([&] {
    TestConnection slow(port());
    in_flight = slow.RoundTrip(Get("/slow"));
  });
  const auto wait_start = SteadyClock::now();
  while (!slow_entered_ && Since(wait_start) < Millis(2000)) {
    std::this_thread::sleep_for(Millis(1));
  }
  ASSERT_TRUE(slow_entered_);

  const auto stop_start = SteadyClock::now();
  server_->Stop();
  EXPECT_LT(Since(stop_start).count(), 1000);
  slow_client.join();

  // The request in flight was answered; everything else was closed.
  ASSERT_TRUE(in_flight.has_value());
  EXPECT_EQ(in_flight->status, 200);
  EXPECT_EQ(in_flight->body, "slow");
  EXPECT_TRUE(idle.WaitClosed(Millis(500)));
  EXPECT_TRUE(partial.WaitClosed(Millis(500)));
  EXPECT_FALSE(TestConnection(port()).connected());  // the port is closed

  server_->Stop();  // idempotent
  server_.reset();
}

TEST_F(HttpServerTest, StartRejectsBadOptions) {
  for (const char* listen : {"nonsense", "127.0.0.1", "127.0.0.1:99999", "127.0.0.1:12ab", "::1:80",
                             ":8080", "[::1:80"}) {
    config::HttpOptions options = Options();
    options.listen = listen;
    auto server = HttpServer::Start(options, HttpRouter());
    ASSERT_FALSE(server.ok()) << listen;
    EXPECT_EQ(server.status().code(), Status::Code::kInvalidArgument) << listen;
  }
  config::HttpOptions no_threads = Options();
  no_threads.threads = 0;
  EXPECT_EQ(HttpServer::Start(no_threads, HttpRouter()).status().code(),
            Status::Code::kInvalidArgument);

  StartServer();
  config::HttpOptions taken = Options();
  taken.listen = "127.0.0.1:" + std::to_string(port());
  auto second = HttpServer::Start(taken, HttpRouter());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Status::Code::kIOError);
  EXPECT_NE(second.status().message().find("bind"), std::string::npos)
      << second.status().ToString();

  config::HttpOptions by_name = Options();
  by_name.listen = "localhost:0";
  auto named = HttpServer::Start(by_name, HttpRouter());
  ASSERT_TRUE(named.ok()) << named.status().ToString();
  EXPECT_NE((*named)->port(), 0);
}

}  // namespace
}  // namespace osprey::daemon
