// Tests for the GET /v1/alerts WebSocket feed (daemon/alert_hub.h AddAlertFeed over the
// WebSocket routes of daemon/http_server.h), over real loopback sockets with a Beast WebSocket
// client (Beast may appear in this test TU; it links osprey::asio).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <gtest/gtest.h>

#include "daemon/alert_hub.h"
#include "daemon/http_server.h"

namespace osprey::daemon {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace websocket = beast::websocket;
using Tcp = net::ip::tcp;
using Millis = std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

Alert MakeAlert(std::string pipeline, std::string key, std::optional<double> grade = 0.9) {
  Alert alert;
  alert.pipeline = std::move(pipeline);
  alert.key = std::move(key);
  alert.event_time_ms = 1714564800000;
  alert.score = 2.5;
  alert.grade = grade;
  alert.values_json = R"({"cpu":0.97,"mem":0.41})";
  alert.source_topic = "metrics";
  alert.partition = 0;
  alert.offset = 1;
  return alert;
}

std::string MessageType(const std::string& json) {
  const std::string_view prefix = R"({"type":")";
  if (json.compare(0, prefix.size(), prefix) != 0) return "";
  return json.substr(prefix.size(), json.find('"', prefix.size()) - prefix.size());
}

// The integer after "name": in `json`, or -1.
int64_t IntField(const std::string& json, std::string_view name) {
  const std::string needle = "\"" + std::string(name) + "\":";
  const size_t pos = json.find(needle);
  if (pos == std::string::npos) return -1;
  return std::stoll(json.substr(pos + needle.size()));
}

// A blocking-with-timeouts WebSocket client on its own io_context.
class WsClient {
 public:
  // Connects to 127.0.0.1:port and handshakes on `target`. `receive_buffer_bytes` > 0 sets a
  // small SO_RCVBUF before connecting (a slow client).
  bool Connect(uint16_t port, const std::string& target, int receive_buffer_bytes = 0) {
    beast::error_code ec;
    Tcp::socket& socket = ws_.next_layer();
    socket.open(Tcp::v4(), ec);
    if (ec) return false;
    if (receive_buffer_bytes > 0) {
      socket.set_option(net::socket_base::receive_buffer_size(receive_buffer_bytes), ec);
      if (ec) return false;
    }
    socket.connect(Tcp::endpoint(net::ip::make_address("127.0.0.1"), port), ec);
    if (ec) return false;
    ws_.handshake("127.0.0.1", target, ec);
    return !ec;
  }

  // The next message; nullopt when the connection ended (see close_code, error) or nothing came
  // within `timeout`.
  std::optional<std::string> Read(Millis timeout = Millis(10000)) {
    bool done = false;
    beast::error_code result;
    buffer_.clear();
    ws_.async_read(buffer_, [&](beast::error_code ec, std::size_t) {
      done = true;
      result = ec;
    });
    ioc_.restart();
    ioc_.run_for(timeout);
    if (!done) {
      beast::get_lowest_layer(ws_).cancel();
      ioc_.restart();
      ioc_.run();
      error_ = beast::error::timeout;
      return std::nullopt;
    }
    if (result) {
      error_ = result;
      return std::nullopt;
    }
    return beast::buffers_to_string(buffer_.data());
  }

  void CloseNormally() {
    beast::error_code ec;
    ws_.close(websocket::close_code::normal, ec);
  }

  // The code of the server's close frame (0 if none came).
  uint16_t close_code() const { return ws_.reason().code; }
  beast::error_code error() const { return error_; }

 private:
  net::io_context ioc_;
  websocket::stream<Tcp::socket> ws_{ioc_};
  beast::flat_buffer buffer_;
  beast::error_code error_;
};

// A plain HTTP exchange (optionally with the WebSocket upgrade headers).
http::response<http::string_body> HttpGet(uint16_t port, const std::string& target,
                                          bool upgrade, http::verb method = http::verb::get) {
  net::io_context ioc;
  Tcp::socket socket(ioc);
  socket.connect(Tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  http::request<http::string_body> req(method, target, 11);
  req.set(http::field::host, "127.0.0.1");
  if (upgrade) {
    req.set(http::field::connection, "Upgrade");
    req.set(http::field::upgrade, "websocket");
    req.set(http::field::sec_websocket_version, "13");
    req.set(http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
  }
  http::write(socket, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(socket, buffer, res);
  return res;
}

class AlertFeedTest : public ::testing::Test {
 protected:
  void StartServer(const WebSocketOptions& ws_options = {}) {
    HttpRouter router;
    AddAlertFeed(router, hub_, ws_options);
    config::HttpOptions options;
    options.listen = "127.0.0.1:0";
    options.threads = 2;
    options.limits.max_connections = 16;
    options.limits.header_timeout_ms = 2000;
    options.limits.body_timeout_ms = 2000;
    options.limits.max_body_bytes = 1024;
    auto server = HttpServer::Start(options, std::move(router));
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
  }

  // The server subscribes after the handshake's 101 is out: wait for it.
  bool WaitSubscribers(size_t count, Millis timeout = Millis(5000)) {
    const auto deadline = SteadyClock::now() + timeout;
    while (hub_.subscriber_count() != count) {
      if (SteadyClock::now() > deadline) return false;
      std::this_thread::sleep_for(Millis(2));
    }
    return true;
  }

  uint16_t port() const { return server_->port(); }

  AlertHub hub_;                         // outlives the server
  std::unique_ptr<HttpServer> server_;  // destroyed first
};

TEST_F(AlertFeedTest, DeliversAlertsInOrderWithSeq) {
  StartServer();
  WsClient client;
  ASSERT_TRUE(client.Connect(port(), "/v1/alerts"));
  ASSERT_TRUE(WaitSubscribers(1));
  for (int idx = 0; idx < 200; ++idx) hub_.Publish(MakeAlert("p", "k" + std::to_string(idx)));
  for (int idx = 0; idx < 200; ++idx) {
    std::optional<std::string> message = client.Read();
    ASSERT_TRUE(message) << client.error().message();
    EXPECT_EQ(*message, RenderAlertJson(MakeAlert("p", "k" + std::to_string(idx)),
                                        static_cast<uint64_t>(idx + 1)));
  }
  client.CloseNormally();
  EXPECT_TRUE(WaitSubscribers(0));  // on_close released the subscription
}

TEST_F(AlertFeedTest, FiltersByPipelineKeyGlobAndMinGrade) {
  StartServer();
  WsClient client;
  ASSERT_TRUE(client.Connect(port(), "/v1/alerts?pipeline=p1&key=host-*&min_grade=0.5"));
  ASSERT_TRUE(WaitSubscribers(1));
  hub_.Publish(MakeAlert("p2", "host-1"));                // 1: other pipeline
  hub_.Publish(MakeAlert("p1", "db-1"));                  // 2: key does not match
  hub_.Publish(MakeAlert("p1", "host-1", 0.2));           // 3: grade too low
  hub_.Publish(MakeAlert("p1", "host-2", 0.8));           // 4
  hub_.Publish(MakeAlert("p1", "host-3", std::nullopt));  // 5: no grade counts as 1.0
  hub_.Publish(MakeAlert("p1", "host-4", 0.5));           // 6
  for (int64_t expected : {4, 5, 6}) {
    std::optional<std::string> message = client.Read();
    ASSERT_TRUE(message) << client.error().message();
    EXPECT_EQ(IntField(*message, "seq"), expected) << *message;
  }
}

TEST_F(AlertFeedTest, ResumesFromSeqAfterReconnect) {
  StartServer();
  {
    WsClient first;
    ASSERT_TRUE(first.Connect(port(), "/v1/alerts"));
    ASSERT_TRUE(WaitSubscribers(1));
    for (int idx = 0; idx < 3; ++idx) hub_.Publish(MakeAlert("p", "k"));
    for (int64_t expected = 1; expected <= 3; ++expected) {
      std::optional<std::string> message = first.Read();
      ASSERT_TRUE(message);
      EXPECT_EQ(IntField(*message, "seq"), expected);
    }
    first.CloseNormally();
    ASSERT_TRUE(WaitSubscribers(0));
  }
  for (int idx = 0; idx < 3; ++idx) hub_.Publish(MakeAlert("p", "k"));  // 4..6, nobody listens

  WsClient second;
  ASSERT_TRUE(second.Connect(port(), "/v1/alerts?since=3"));
  ASSERT_TRUE(WaitSubscribers(1));
  hub_.Publish(MakeAlert("p", "k"));  // 7, live
  for (int64_t expected = 4; expected <= 7; ++expected) {
    std::optional<std::string> message = second.Read();
    ASSERT_TRUE(message) << second.error().message();
    EXPECT_EQ(IntField(*message, "seq"), expected);
  }
}

TEST_F(AlertFeedTest, SlowClientIsCutOffWithoutSlowingThePipelineOrAFastClient) {
  WebSocketOptions options;  // queue 1024, max_lost 10000: the defaults
  options.close_timeout = Millis(30000);  // the slow client reads only after publishing ends
  StartServer(options);

  constexpr int kAlerts = 50000;
  constexpr int kBatch = 1000;  // < queue_limit: the fast client never drops
  WsClient slow;
  ASSERT_TRUE(slow.Connect(port(), "/v1/alerts", /*receive_buffer_bytes=*/4096));
  WsClient fast;
  ASSERT_TRUE(fast.Connect(port(), "/v1/alerts"));
  ASSERT_TRUE(WaitSubscribers(2));

  std::atomic<int> fast_received{0};
  std::atomic<bool> fast_in_order{true};
  std::thread fast_reader([&] {
    for (int64_t expected = 1; expected <= kAlerts; ++expected) {
      std::optional<std::string> message = fast.Read();
      if (!message || IntField(*message, "seq") != expected) {
        fast_in_order = false;
        return;
      }
      fast_received.store(static_cast<int>(expected));
    }
  });

  SteadyClock::duration publish_time{};
  for (int batch = 0; batch < kAlerts / kBatch; ++batch) {
    const auto start = SteadyClock::now();
    for (int idx = 0; idx < kBatch; ++idx) hub_.Publish(MakeAlert("p", "k"));
    publish_time += SteadyClock::now() - start;
    // Pace only the test, outside the measured time, so that the fast client is not dropping.
    const auto deadline = SteadyClock::now() + Millis(20000);
    while (fast_received.load() < (batch + 1) * kBatch && fast_in_order.load() &&
           SteadyClock::now() < deadline) {
      std::this_thread::sleep_for(Millis(1));
    }
  }
  fast_reader.join();
  EXPECT_TRUE(fast_in_order.load());
  EXPECT_EQ(fast_received.load(), kAlerts);
  EXPECT_LT(std::chrono::duration_cast<Millis>(publish_time).count(), 1000)
      << "Publish waited for a client";

  // The slow client now reads what was in flight, then the close frame.
  int alerts = 0;
  int lost_notices = 0;
  while (std::optional<std::string> message = slow.Read()) {
    const std::string type = MessageType(*message);
    if (type == "alert") ++alerts;
    if (type == "lost") ++lost_notices;
  }
  EXPECT_EQ(slow.error(), websocket::error::closed) << slow.error().message();
  EXPECT_EQ(slow.close_code(), 1008);
  EXPECT_LT(alerts, kAlerts - 10000);
  EXPECT_TRUE(WaitSubscribers(1));  // the slow one's subscription is released; the fast one stays
}

TEST_F(AlertFeedTest, LostNoticeMarksTheGap) {
  WebSocketOptions options;
  options.queue_limit = 16;
  options.max_lost = 1000000;  // never cut off
  StartServer(options);
  WsClient slow;
  ASSERT_TRUE(slow.Connect(port(), "/v1/alerts", /*receive_buffer_bytes=*/4096));
  ASSERT_TRUE(WaitSubscribers(1));

  constexpr int64_t kAlerts = 20000;
  const auto start = SteadyClock::now();
  for (int64_t idx = 0; idx < kAlerts; ++idx) hub_.Publish(MakeAlert("p", "k"));
  EXPECT_LT(std::chrono::duration_cast<Millis>(SteadyClock::now() - start).count(), 1000);

  // Every seq is either received or covered by a lost notice at its place.
  int64_t next = 1;
  int64_t lost = 0;
  while (next <= kAlerts) {
    std::optional<std::string> message = slow.Read();
    ASSERT_TRUE(message) << slow.error().message() << " at seq " << next;
    if (MessageType(*message) == "lost") {
      const int64_t count = IntField(*message, "count");
      ASSERT_GT(count, 0);
      lost += count;
      next += count;
    } else {
      ASSERT_EQ(IntField(*message, "seq"), next) << *message;
      ++next;
    }
  }
  EXPECT_EQ(next, kAlerts + 1);
  EXPECT_GT(lost, 0);
}

TEST_F(AlertFeedTest, BadQueryIs400BeforeTheUpgrade) {
  StartServer();
  for (const char* target : {"/v1/alerts?min_grade=abc", "/v1/alerts?min_grade=1.5",
                             "/v1/alerts?since=-1", "/v1/alerts?since=", "/v1/alerts?pipeline="}) {
    auto res = HttpGet(port(), target, /*upgrade=*/true);
    EXPECT_EQ(res.result_int(), 400u) << target;
    EXPECT_EQ(res[http::field::content_type], "application/json");
    EXPECT_NE(res.body().find(R"("code":400)"), std::string::npos) << res.body();
  }
  WsClient client;
  EXPECT_FALSE(client.Connect(port(), "/v1/alerts?min_grade=abc"));
  EXPECT_EQ(hub_.subscriber_count(), 0u);
}

TEST_F(AlertFeedTest, PlainGetIs426AndOtherMethods405) {
  StartServer();
  auto res = HttpGet(port(), "/v1/alerts", /*upgrade=*/false);
  EXPECT_EQ(res.result_int(), 426u);
  EXPECT_EQ(res[http::field::upgrade], "websocket");
  EXPECT_EQ(res[http::field::content_type], "application/json");
  EXPECT_NE(res.body().find("WebSocket"), std::string::npos) << res.body();

  auto post = HttpGet(port(), "/v1/alerts", /*upgrade=*/false, http::verb::post);
  EXPECT_EQ(post.result_int(), 405u);
  // An upgrade elsewhere is routed as plain HTTP.
  EXPECT_EQ(HttpGet(port(), "/v1/other", /*upgrade=*/true).result_int(), 404u);
}

TEST_F(AlertFeedTest, StopClosesWith1001AndReleasesSubscriptions) {
  StartServer();
  WsClient client;
  ASSERT_TRUE(client.Connect(port(), "/v1/alerts"));
  ASSERT_TRUE(WaitSubscribers(1));
  std::thread reader([&] {
    while (client.Read()) {
    }
  });
  server_->Stop();
  reader.join();
  EXPECT_EQ(client.close_code(), 1001);
  EXPECT_EQ(hub_.subscriber_count(), 0u);
}

}  // namespace
}  // namespace osprey::daemon
