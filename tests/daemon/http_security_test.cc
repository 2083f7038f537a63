// Contract tests of the HTTP server's security and limits over real loopback sockets: bearer
// tokens and roles (HTTP and WebSocket), body size, slow clients, connection cap, per-token rate
// limit, and TLS (a self-signed certificate made at run time, a real TLS client). Every client
// operation runs on the test's own io_context with a deadline, so a bug fails instead of hanging.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include "daemon/http_server.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/tls_certificate.h"

namespace osprey::daemon {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
namespace websocket = beast::websocket;
using Tcp = net::ip::tcp;
using Millis = std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

constexpr char kReadToken[] = "read-token-0123456789abcdef";
constexpr char kAdminToken[] = "admin-token-0123456789abcdef";
constexpr Millis kDeadline(5000);

Millis Since(SteadyClock::time_point start) {
  return std::chrono::duration_cast<Millis>(SteadyClock::now() - start);
}

// ---------------------------------------------------------------------------------------------
// A client connection, plain or TLS.

struct Reply {
  int status = 0;
  std::map<std::string, std::string> headers;  // lowercased names
  std::string body;
  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

// Trust settings of a TLS client.
struct TlsClientOptions {
  std::string trusted_cert_file;  // "" = trust nothing (verification must fail)
  int max_version = 0;            // 0 = library default; e.g. TLS1_2_VERSION
};

class Client {
 public:
  // Plain TCP; `tls` set: TLS on top. Connect() must succeed before anything else.
  explicit Client(uint16_t port, std::optional<TlsClientOptions> tls = std::nullopt)
      : port_(port), tls_enabled_(tls.has_value()) {
    if (tls) {
      context_.set_verify_mode(ssl::verify_peer);
      if (!tls->trusted_cert_file.empty()) context_.load_verify_file(tls->trusted_cert_file);
      if (tls->max_version != 0) {
        SSL_CTX_set_max_proto_version(context_.native_handle(), tls->max_version);
      }
    }
    stream_.emplace(ioc_, context_);  // after the context is set up: SSL_new copies it
  }

  // Connects (and handshakes, with TLS). The error, if any.
  beast::error_code Connect() {
    beast::error_code ec = Run([&](auto done) {
      stream_->next_layer().async_connect(Tcp::endpoint(net::ip::make_address("127.0.0.1"), port_),
                                          [done](beast::error_code error) { done(error); });
    });
    if (ec || !tls_enabled_) return ec;
    return Run([&](auto done) {
      stream_->async_handshake(ssl::stream_base::client,
                               [done](beast::error_code error) { done(error); });
    });
  }

  beast::error_code SendRaw(const std::string& bytes) {
    raw_ = bytes;
    return Run([&](auto done) {
      auto handler = [done](beast::error_code error, std::size_t) { done(error); };
      if (tls_enabled_) {
        net::async_write(*stream_, net::buffer(raw_), handler);
      } else {
        net::async_write(stream_->next_layer(), net::buffer(raw_), handler);
      }
    });
  }

  // One request; nullopt when no complete response came (closed, timed out).
  std::optional<Reply> Request(http::verb method, const std::string& target,
                               const std::string& token = "", const std::string& body = "",
                               const std::map<std::string, std::string>& headers = {}) {
    request_ = {method, target, 11};
    request_.set(http::field::host, "localhost");
    for (const auto& [name, value] : headers) request_.set(name, value);
    if (!token.empty()) request_.set(http::field::authorization, "Bearer " + token);
    if (!body.empty()) request_.body() = body;
    request_.prepare_payload();
    beast::error_code ec = Run([&](auto done) {
      auto handler = [done](beast::error_code error, std::size_t) { done(error); };
      if (tls_enabled_) {
        http::async_write(*stream_, request_, handler);
      } else {
        http::async_write(stream_->next_layer(), request_, handler);
      }
    });
    if (ec) return std::nullopt;
    return ReadReply();
  }

  std::optional<Reply> Get(const std::string& target, const std::string& token = "") {
    return Request(http::verb::get, target, token);
  }

  // A WebSocket upgrade request, for the answers that refuse it.
  std::optional<Reply> Upgrade(const std::string& target, const std::string& token = "") {
    return Request(http::verb::get, target, token, "",
                   {{"Connection", "Upgrade"},
                    {"Upgrade", "websocket"},
                    {"Sec-WebSocket-Version", "13"},
                    {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}});
  }

  std::optional<Reply> ReadReply() {
    response_ = {};
    beast::error_code ec = Run([&](auto done) {
      auto handler = [done](beast::error_code error, std::size_t) { done(error); };
      if (tls_enabled_) {
        http::async_read(*stream_, buffer_, response_, handler);
      } else {
        http::async_read(stream_->next_layer(), buffer_, response_, handler);
      }
    });
    if (ec) return std::nullopt;
    Reply reply;
    reply.status = static_cast<int>(response_.result_int());
    for (const auto& field : response_) {
      std::string name(field.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      reply.headers[name] = std::string(field.value());
    }
    reply.body = response_.body();
    return reply;
  }

  // True when the server ends the connection (EOF, reset, TLS truncation) within `timeout`.
  bool WaitClosed(Millis timeout) {
    const auto deadline = SteadyClock::now() + timeout;
    while (SteadyClock::now() < deadline) {
      char scratch[4096];
      beast::error_code ec = Run(
          [&](auto done) {
            stream_->next_layer().async_read_some(
                net::buffer(scratch),
                [done](beast::error_code error, std::size_t) { done(error); });
          },
          std::chrono::duration_cast<Millis>(deadline - SteadyClock::now()));
      if (ec && ec != beast::error::timeout) return true;
    }
    return false;
  }

 private:
  // Starts an operation with start(done) and runs the io_context until done(ec) or `timeout`
  // (then the operation is cancelled and beast::error::timeout returned).
  template <typename Start>
  beast::error_code Run(Start start, Millis timeout = kDeadline) {
    bool finished = false;
    beast::error_code result;
    start([&finished, &result](beast::error_code ec) {
      finished = true;
      result = ec;
    });
    ioc_.restart();
    ioc_.run_for(timeout);
    if (finished) return result;
    stream_->next_layer().cancel();
    ioc_.restart();
    ioc_.run();
    return beast::error::timeout;
  }

  const uint16_t port_;
  const bool tls_enabled_;
  net::io_context ioc_;
  ssl::context context_{ssl::context::tls_client};
  std::optional<beast::ssl_stream<beast::tcp_stream>> stream_;  // next_layer() when plain
  beast::flat_buffer buffer_;
  std::string raw_;
  http::request<http::string_body> request_;
  http::response<http::string_body> response_;
};

// ---------------------------------------------------------------------------------------------
// The server under test.

class HttpSecurityTest : public ::testing::Test {
 protected:
  static config::HttpOptions Options() {
    config::HttpOptions options;
    options.listen = "127.0.0.1:0";
    options.threads = 2;
    options.limits.max_body_bytes = 1024;
    options.limits.header_timeout_ms = 2000;
    options.limits.body_timeout_ms = 2000;
    options.auth.tokens.push_back(
        {"ci", config::HttpRole::kRead, kReadToken, config::SecretSource::kEnv, {}});
    options.auth.tokens.push_back(
        {"ops", config::HttpRole::kAdmin, kAdminToken, config::SecretSource::kEnv, {}});
    return options;
  }

  static HttpRouter Routes() {
    HttpRouter router;
    for (const char* path : {"/healthz", "/v1/info", "/v1/admin/reload"}) {
      router.Add("GET", path, [path](const HttpRequest&) {
        return HttpResponse::Json(200, std::string(R"({"route":")") + path + "\"}");
      });
    }
    router.Add("POST", "/v1/models/{name}:predict", [](const HttpRequest& req) {
      return HttpResponse::Json(200, R"({"bytes":)" + std::to_string(req.body.size()) + "}");
    });
    router.AddWebSocket("/v1/alerts", [](const HttpRequest&) -> WebSocketHandlerResult {
      WebSocketSession session;
      session.on_open = [](const std::shared_ptr<WebSocketConnection>& connection) {
        connection->Send(std::make_shared<const std::string>(R"({"type":"hello"})"));
      };
      return session;
    });
    return router;
  }

  void StartServer(const config::HttpOptions& options) {
    auto server = HttpServer::Start(options, Routes());
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
  }

  // A TLS server with a fresh self-signed certificate; returns the client's trust settings.
  TlsClientOptions StartTlsServer(config::HttpOptions options = Options()) {
    const testing::TlsCertificate cert = testing::MakeSelfSignedCertificate(dir_.path(), "server");
    options.tls.cert_file = cert.cert_file;
    options.tls.key_file = cert.key_file;
    StartServer(options);
    return TlsClientOptions{cert.cert_file, 0};
  }

  uint16_t port() const { return server_->port(); }

  testing::TempDir dir_;
  std::unique_ptr<HttpServer> server_;
};

// The status of a reply; 0 when none came (instead of dereferencing an empty optional).
int StatusOf(const std::optional<Reply>& reply) { return reply ? reply->status : 0; }

void ExpectJsonError(const std::optional<Reply>& reply, int status) {
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->status, status);
  EXPECT_EQ(reply->Header("content-type"), "application/json");
  const std::string prefix = R"({"error":{"code":)" + std::to_string(status) + R"(,"message":")";
  EXPECT_EQ(reply->body.compare(0, prefix.size(), prefix), 0) << reply->body;
}

TEST_F(HttpSecurityTest, TokensAndRoles) {
  StartServer(Options());
  Client client(port());
  ASSERT_FALSE(client.Connect());

  auto missing = client.Get("/v1/info");
  ASSERT_NO_FATAL_FAILURE(ExpectJsonError(missing, 401));
  EXPECT_EQ(missing->Header("www-authenticate"), R"(Bearer realm="osprey")");
  EXPECT_NE(missing->body.find("Authorization: Bearer <token>"), std::string::npos);

  auto wrong = client.Get("/v1/info", "wrong-token-0123456789abcdef");
  ASSERT_NO_FATAL_FAILURE(ExpectJsonError(wrong, 401));
  EXPECT_EQ(wrong->Header("www-authenticate"), R"(Bearer realm="osprey", error="invalid_token")");
  EXPECT_EQ(wrong->body.find("wrong-token"), std::string::npos);  // not echoed

  auto read = client.Get("/v1/info", kReadToken);  // the connection survives refusals
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(read->status, 200);
  EXPECT_EQ(read->body, R"({"route":"/v1/info"})");

  auto forbidden = client.Get("/v1/admin/reload", kReadToken);
  ASSERT_NO_FATAL_FAILURE(ExpectJsonError(forbidden, 403));
  EXPECT_NE(forbidden->body.find("needs a token with role admin"), std::string::npos);

  auto admin = client.Get("/v1/admin/reload", kAdminToken);
  ASSERT_TRUE(admin.has_value());
  EXPECT_EQ(admin->status, 200);
  EXPECT_EQ(StatusOf(client.Get("/v1/info", kAdminToken)), 200);  // admin may do what read may

  auto health = client.Get("/healthz");  // public
  ASSERT_TRUE(health.has_value());
  EXPECT_EQ(health->status, 200);

  // Unknown paths need a token too, so that probing without one learns nothing.
  ASSERT_NO_FATAL_FAILURE(ExpectJsonError(client.Get("/v1/secret-things"), 401));
  ASSERT_NO_FATAL_FAILURE(ExpectJsonError(client.Get("/v1/secret-things", kReadToken), 404));
}

TEST_F(HttpSecurityTest, OversizedBodyIs413) {
  StartServer(Options());
  Client client(port());
  ASSERT_FALSE(client.Connect());
  auto fits =
      client.Request(http::verb::post, "/v1/models/m:predict", kReadToken, std::string(1024, 'x'));
  ASSERT_TRUE(fits.has_value());
  EXPECT_EQ(fits->status, 200);
  EXPECT_EQ(fits->body, R"({"bytes":1024})");
  auto too_big =
      client.Request(http::verb::post, "/v1/models/m:predict", kReadToken, std::string(1025, 'x'));
  ASSERT_NO_FATAL_FAILURE(ExpectJsonError(too_big, 413));
  EXPECT_NE(too_big->body.find("exceeds 1024 bytes"), std::string::npos);
  EXPECT_TRUE(client.WaitClosed(Millis(2000)));
}

TEST_F(HttpSecurityTest, SlowHeaderAndSlowBodyAreCutOff) {
  config::HttpOptions options = Options();
  options.limits.header_timeout_ms = 300;
  options.limits.body_timeout_ms = 300;
  StartServer(options);

  // Header bytes trickling in, each well within any per-read timeout: the header budget is
  // for the whole header.
  auto start = SteadyClock::now();  // before connecting: the budget starts at the accept
  Client header(port());
  ASSERT_FALSE(header.Connect());
  ASSERT_FALSE(header.SendRaw("GET /v1/info HTTP/1.1\r\n"));
  bool closed = false;
  while (!closed && Since(start) < Millis(3000)) {
    header.SendRaw("X-Slow: y\r\n").clear();  // fails once the server has closed
    closed = header.WaitClosed(Millis(50));
  }
  EXPECT_TRUE(closed);
  EXPECT_GE(Since(start).count(), 250);
  EXPECT_LT(Since(start).count(), 2500);

  // A complete header, then a body that trickles.
  Client body(port());
  ASSERT_FALSE(body.Connect());
  start = SteadyClock::now();
  ASSERT_FALSE(body.SendRaw(std::string("POST /v1/models/m:predict HTTP/1.1\r\nHost: x\r\n") +
                            "Authorization: Bearer " + kReadToken +
                            "\r\nContent-Length: 500\r\n\r\n"));
  closed = false;
  while (!closed && Since(start) < Millis(3000)) {
    body.SendRaw("x").clear();
    closed = body.WaitClosed(Millis(50));
  }
  EXPECT_TRUE(closed);
  EXPECT_GE(Since(start).count(), 250);
  EXPECT_LT(Since(start).count(), 2500);

  // An idle connection that never sends anything is closed too.
  Client idle(port());
  ASSERT_FALSE(idle.Connect());
  EXPECT_TRUE(idle.WaitClosed(Millis(2500)));

  // Others are served meanwhile and afterwards.
  Client fine(port());
  ASSERT_FALSE(fine.Connect());
  EXPECT_EQ(StatusOf(fine.Get("/v1/info", kReadToken)), 200);
}

TEST_F(HttpSecurityTest, RateLimitPerTokenIs429WithRetryAfter) {
  config::HttpOptions options = Options();
  options.limits.requests_per_second = 0.5;
  options.limits.burst = 2;
  StartServer(options);
  Client client(port());
  ASSERT_FALSE(client.Connect());

  EXPECT_EQ(StatusOf(client.Get("/v1/info", kReadToken)), 200);
  EXPECT_EQ(StatusOf(client.Get("/v1/info", kReadToken)), 200);
  auto limited = client.Get("/v1/info", kReadToken);
  ASSERT_NO_FATAL_FAILURE(ExpectJsonError(limited, 429));
  EXPECT_EQ(limited->Header("retry-after"), "2");
  EXPECT_NE(limited->body.find("token 'ci'"), std::string::npos) << limited->body;

  // Another token has its own bucket; so has a caller without a token (by IP), who is limited
  // on public routes and on failed attempts alike.
  EXPECT_EQ(StatusOf(client.Get("/v1/info", kAdminToken)), 200);
  EXPECT_EQ(StatusOf(client.Get("/healthz")), 200);
  ASSERT_NO_FATAL_FAILURE(ExpectJsonError(client.Get("/v1/info", "guess-0123456789abcdef"), 401));
  auto by_ip = client.Get("/healthz");
  ASSERT_NO_FATAL_FAILURE(ExpectJsonError(by_ip, 429));
  EXPECT_NE(by_ip->body.find("client 127.0.0.1"), std::string::npos) << by_ip->body;

  // The bucket refills at the configured rate. (A new connection: the idle one has been closed
  // by the header timeout meanwhile.)
  std::this_thread::sleep_for(Millis(2100));
  Client later(port());
  ASSERT_FALSE(later.Connect());
  EXPECT_EQ(StatusOf(later.Get("/v1/info", kReadToken)), 200);
}

TEST_F(HttpSecurityTest, RateLimitWithoutAuthIsPerClient) {
  config::HttpOptions options = Options();
  options.auth.tokens.clear();
  options.limits.requests_per_second = 0.5;
  options.limits.burst = 1;
  StartServer(options);
  Client first(port());
  ASSERT_FALSE(first.Connect());
  EXPECT_EQ(StatusOf(first.Get("/v1/admin/reload")), 200);  // auth off: no token needed
  Client second(port());  // same client IP, new connection: same bucket
  ASSERT_FALSE(second.Connect());
  auto limited = second.Get("/v1/info");
  ASSERT_NO_FATAL_FAILURE(ExpectJsonError(limited, 429));
  EXPECT_EQ(limited->Header("retry-after"), "2");
}

TEST_F(HttpSecurityTest, WebSocketUpgradeWithAndWithoutToken) {
  StartServer(Options());
  net::io_context ioc;
  auto upgrade = [&](const std::string& target, const std::string& header_token,
                     websocket::response_type* response) {
    auto ws = std::make_unique<websocket::stream<beast::tcp_stream>>(ioc);
    beast::error_code ec;
    beast::get_lowest_layer(*ws).expires_after(kDeadline);
    beast::get_lowest_layer(*ws).socket().connect(
        Tcp::endpoint(net::ip::make_address("127.0.0.1"), port()), ec);
    EXPECT_FALSE(ec) << ec.message();
    if (!header_token.empty()) {
      ws->set_option(
          websocket::stream_base::decorator([header_token](websocket::request_type& req) {
            req.set(http::field::authorization, "Bearer " + header_token);
          }));
    }
    ws->handshake(*response, "localhost", target, ec);
    return std::make_pair(std::move(ws), ec);
  };
  auto read_one = [](websocket::stream<beast::tcp_stream>& ws) {
    beast::flat_buffer buffer;
    beast::error_code ec;
    ws.read(buffer, ec);
    return ec ? "error: " + ec.message() : beast::buffers_to_string(buffer.data());
  };

  websocket::response_type refused;
  auto [no_token, no_token_ec] = upgrade("/v1/alerts", "", &refused);
  EXPECT_EQ(no_token_ec, websocket::error::upgrade_declined);
  auto [bad, bad_ec] = upgrade("/v1/alerts?access_token=wrong-0123456789abcdef", "", &refused);
  EXPECT_EQ(bad_ec, websocket::error::upgrade_declined);
  // What the refusals say, seen with a raw upgrade request.
  Client raw(port());
  ASSERT_FALSE(raw.Connect());
  auto anonymous = raw.Upgrade("/v1/alerts");
  ASSERT_NO_FATAL_FAILURE(ExpectJsonError(anonymous, 401));
  EXPECT_EQ(anonymous->Header("www-authenticate"), R"(Bearer realm="osprey")");
  EXPECT_NE(anonymous->body.find("access_token"), std::string::npos) << anonymous->body;
  ASSERT_NO_FATAL_FAILURE(
      ExpectJsonError(raw.Upgrade("/v1/alerts?access_token=wrong-0123456789abcdef"), 401));

  websocket::response_type accepted;
  auto [query, query_ec] =
      upgrade(std::string("/v1/alerts?access_token=") + kReadToken, "", &accepted);
  ASSERT_FALSE(query_ec) << query_ec.message();
  EXPECT_EQ(accepted.result_int(), 101u);
  EXPECT_EQ(read_one(*query), R"({"type":"hello"})");

  websocket::response_type by_header;
  auto [header, header_ec] = upgrade("/v1/alerts", kReadToken, &by_header);
  ASSERT_FALSE(header_ec) << header_ec.message();
  EXPECT_EQ(read_one(*header), R"({"type":"hello"})");

  // The query token is for upgrades only: a plain GET with it is refused.
  Client client(port());
  ASSERT_FALSE(client.Connect());
  ASSERT_NO_FATAL_FAILURE(
      ExpectJsonError(client.Get(std::string("/v1/info?access_token=") + kReadToken), 401));
}

TEST_F(HttpSecurityTest, TlsHandshakeAndRequests) {
  const TlsClientOptions trust = StartTlsServer();
  Client client(port(), trust);
  ASSERT_FALSE(client.Connect());
  auto info = client.Get("/v1/info", kReadToken);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->status, 200);
  ASSERT_NO_FATAL_FAILURE(ExpectJsonError(client.Get("/v1/admin/reload", kReadToken), 403));
  ASSERT_NO_FATAL_FAILURE(ExpectJsonError(
      client.Request(http::verb::post, "/v1/models/m:predict", kReadToken, std::string(2000, 'x')),
      413));

  // A client that does not trust the certificate refuses the handshake.
  Client untrusting(port(), TlsClientOptions{});
  const beast::error_code ec = untrusting.Connect();
  EXPECT_TRUE(ec);
  EXPECT_EQ(ec.category(), net::error::get_ssl_category()) << ec.message();

  // Plain HTTP to the TLS port: a plain 400 that says what to do, then the connection closes.
  Client plain(port());
  ASSERT_FALSE(plain.Connect());
  auto refused = plain.Get("/v1/info", kReadToken);
  ASSERT_NO_FATAL_FAILURE(ExpectJsonError(refused, 400));
  EXPECT_NE(refused->body.find("use https://"), std::string::npos) << refused->body;
  EXPECT_TRUE(plain.WaitClosed(Millis(2000)));

  // The server is fine afterwards.
  Client again(port(), trust);
  ASSERT_FALSE(again.Connect());
  EXPECT_EQ(StatusOf(again.Get("/healthz")), 200);
}

TEST_F(HttpSecurityTest, TlsMinimumVersion) {
  config::HttpOptions options = Options();
  options.tls.min_version = config::TlsVersion::kTls13;
  const TlsClientOptions trust = StartTlsServer(options);
  Client old_client(port(), TlsClientOptions{trust.trusted_cert_file, TLS1_2_VERSION});
  EXPECT_TRUE(old_client.Connect());
  Client new_client(port(), trust);
  ASSERT_FALSE(new_client.Connect());
  EXPECT_EQ(StatusOf(new_client.Get("/healthz")), 200);
}

TEST_F(HttpSecurityTest, TlsSlowHandshakeIsCutOff) {
  config::HttpOptions options = Options();
  options.limits.header_timeout_ms = 300;
  StartTlsServer(options);

  // A TCP connection that never starts the handshake is dropped after the header budget.
  const auto start = SteadyClock::now();
  Client silent(port());
  ASSERT_FALSE(silent.Connect());
  EXPECT_TRUE(silent.WaitClosed(Millis(2500)));
  EXPECT_GE(Since(start).count(), 250);
}

TEST_F(HttpSecurityTest, ConnectionsBeyondTheMaximumGet503OverTls) {
  config::HttpOptions options = Options();
  options.limits.max_connections = 2;
  const TlsClientOptions trust = StartTlsServer(options);
  Client first(port(), trust);
  Client second(port(), trust);
  ASSERT_FALSE(first.Connect());
  ASSERT_FALSE(second.Connect());
  EXPECT_EQ(StatusOf(first.Get("/healthz")), 200);
  EXPECT_EQ(StatusOf(second.Get("/healthz")), 200);
  Client third(port(), trust);
  ASSERT_FALSE(third.Connect());
  auto refused = third.ReadReply();  // answered without a request
  ASSERT_NO_FATAL_FAILURE(ExpectJsonError(refused, 503));
  EXPECT_TRUE(third.WaitClosed(Millis(2000)));
}

TEST_F(HttpSecurityTest, WebSocketOverTlsWithToken) {
  const TlsClientOptions trust = StartTlsServer();
  net::io_context ioc;
  ssl::context context(ssl::context::tls_client);
  context.set_verify_mode(ssl::verify_peer);
  context.load_verify_file(trust.trusted_cert_file);
  auto connect = [&](const std::string& target, websocket::response_type* response) {
    auto ws =
        std::make_unique<websocket::stream<beast::ssl_stream<beast::tcp_stream>>>(ioc, context);
    beast::error_code ec;
    beast::get_lowest_layer(*ws).socket().connect(
        Tcp::endpoint(net::ip::make_address("127.0.0.1"), port()), ec);
    if (!ec) ws->next_layer().handshake(ssl::stream_base::client, ec);
    if (!ec) ws->handshake(*response, "localhost", target, ec);
    return std::make_pair(std::move(ws), ec);
  };
  websocket::response_type refused;
  auto [anonymous, anonymous_ec] = connect("/v1/alerts", &refused);
  EXPECT_EQ(anonymous_ec, websocket::error::upgrade_declined);
  Client raw(port(), trust);
  ASSERT_FALSE(raw.Connect());
  ASSERT_NO_FATAL_FAILURE(ExpectJsonError(raw.Upgrade("/v1/alerts"), 401));

  websocket::response_type accepted;
  auto [ws, ec] = connect(std::string("/v1/alerts?access_token=") + kAdminToken, &accepted);
  ASSERT_FALSE(ec) << ec.message();
  beast::flat_buffer buffer;
  ws->read(buffer, ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(beast::buffers_to_string(buffer.data()), R"({"type":"hello"})");
}

TEST(HttpSecurityStartTest, BadCertificateOrKeyFailsAtStart) {
  testing::TempDir dir;
  const testing::TlsCertificate one = testing::MakeSelfSignedCertificate(dir.path(), "one");
  const testing::TlsCertificate two = testing::MakeSelfSignedCertificate(dir.path(), "two");
  auto start = [](const std::string& cert, const std::string& key) {
    config::HttpOptions options;
    options.listen = "127.0.0.1:0";
    options.tls.cert_file = cert;
    options.tls.key_file = key;
    return HttpServer::Start(options, HttpRouter()).status();
  };
  EXPECT_TRUE(start(one.cert_file, one.key_file).ok());

  const Status missing = start(dir.path() + "/nope.crt", one.key_file);
  EXPECT_EQ(missing.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(missing.message(), "http.tls.cert_file '" + dir.path() +
                                   "/nope.crt': cannot load a PEM certificate chain: No such file "
                                   "or directory");

  const Status key_as_cert = start(one.key_file, one.key_file);
  EXPECT_EQ(key_as_cert.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(
      key_as_cert.message().rfind(
          "http.tls.cert_file '" + one.key_file + "': cannot load a PEM certificate chain: ", 0),
      0u)
      << key_as_cert.message();

  const Status mismatch = start(one.cert_file, two.key_file);
  EXPECT_EQ(mismatch.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(mismatch.message(), "http.tls.key_file '" + two.key_file +
                                    "' is not the private key of http.tls.cert_file '" +
                                    one.cert_file + "'");

  const Status half = start(one.cert_file, "");
  EXPECT_EQ(half.message(), "http.tls: TLS needs both cert_file and key_file");
}

}  // namespace
}  // namespace osprey::daemon
