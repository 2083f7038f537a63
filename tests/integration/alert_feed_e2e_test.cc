// The WebSocket alert feed inside the daemon: a client subscribes to /v1/alerts with a filter,
// records flow through a real broker, and the planted spike arrives as an Alertmanager-style
// alert with Osprey's fields.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <fstream>
#include <string>

#include "config/loader.h"
#include "daemon/daemon.h"
#include "daemon/kafka/embedded_broker.h"
#include "tests/integration/harness.h"
#include "tests/integration/kafka_test_util.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/tls_certificate.h"

namespace osprey {
namespace {

namespace net = boost::asio;
namespace websocket = boost::beast::websocket;

TEST(AlertFeedInDaemonTest, SpikeArrivesOnTheWebSocketFeed) {
  auto broker = testing::StartBroker({{"in", 1}, {"out", 1}, {"dlq", 1}});
  ASSERT_NE(broker, nullptr);
  const std::string bootstrap = broker->bootstrap_servers();
  testing::TempDir dir;
  auto d = testing::StartDaemon(R"(
kafka:
  bootstrap_servers: ")" + bootstrap + R"("
  consumer_properties: {session.timeout.ms: "6000"}
sources:
  m: {topics: [in], key_field: host, value_fields: [v], dead_letter: dlq}
sinks:
  out: {topic: out}
  dlq: {topic: dlq}
pipelines:
  detect:
    source: m
    operators: [{type: baseline, warmup_events: 20, alert_threshold: 8}]
    sinks: [out]
  other:
    source: m
    operators: [{type: baseline, warmup_events: 20, alert_threshold: 8}]
    sinks: [out]
http: {listen: "127.0.0.1:0"}
state: {dir: ")" + dir.path() + R"("}
)",
                                "feed.yaml");
  ASSERT_NE(d, nullptr);

  net::io_context ioc;
  websocket::stream<net::ip::tcp::socket> ws(ioc);
  ws.next_layer().connect(
      net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), d->http_port()));
  timeval tv{30, 0};
  ::setsockopt(ws.next_layer().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ws.handshake("127.0.0.1", "/v1/alerts?pipeline=detect&key=web-*");

  std::vector<testing::KafkaRecord> records;
  for (int i = 0; i < 300; ++i) {
    testing::KafkaRecord r;
    r.topic = "in";
    std::string host = i % 2 == 0 ? "web-1" : "db-1";
    double v = 10 + (i % 5) + (i == 250 ? 100 : 0) + (i == 251 ? 100 : 0);
    r.value = R"({"host":")" + host + R"(","v":)" + std::to_string(v) + "}";
    records.push_back(std::move(r));
  }
  ASSERT_TRUE(testing::ProduceAll(bootstrap, records));

  boost::beast::flat_buffer buffer;
  boost::beast::error_code ec;
  ws.read(buffer, ec);
  ASSERT_FALSE(ec) << ec.message();
  std::string alert = boost::beast::buffers_to_string(buffer.data());
  EXPECT_NE(alert.find("\"status\":\"firing\""), std::string::npos) << alert;
  EXPECT_NE(alert.find("\"pipeline\":\"detect\""), std::string::npos) << alert;
  EXPECT_NE(alert.find("\"key\":\"web-1\""), std::string::npos) << alert;
  EXPECT_NE(alert.find("\"seq\":"), std::string::npos) << alert;
  EXPECT_NE(alert.find("\"offset\":250"), std::string::npos) << alert;
  EXPECT_NE(alert.find("\"v\":110"), std::string::npos) << alert;
  ws.close(websocket::close_code::normal, ec);
  EXPECT_TRUE(d->Shutdown().ok());
}

// The same feed with the HTTP API locked down: TLS, and a read token passed the way browsers
// must (?access_token=); without it the upgrade is refused.
TEST(AlertFeedInDaemonTest, FeedWorksOverTlsWithAToken) {
  auto broker = testing::StartBroker({{"in", 1}, {"out", 1}, {"dlq", 1}});
  ASSERT_NE(broker, nullptr);
  const std::string bootstrap = broker->bootstrap_servers();
  testing::TempDir dir;
  const testing::TlsCertificate cert = testing::MakeSelfSignedCertificate(dir.path(), "server");
  const std::string token = "feed-reader-0123456789abcdef";
  std::ofstream(dir.path() + "/token") << token << "\n";
  auto d = testing::StartDaemon(R"(
kafka:
  bootstrap_servers: ")" + bootstrap + R"("
  consumer_properties: {session.timeout.ms: "6000"}
sources:
  m: {topics: [in], key_field: host, value_fields: [v], dead_letter: dlq}
sinks:
  out: {topic: out}
  dlq: {topic: dlq}
pipelines:
  detect:
    source: m
    operators: [{type: baseline, warmup_events: 20, alert_threshold: 8}]
    sinks: [out]
http:
  listen: "127.0.0.1:0"
  auth:
    tokens: [{name: dashboard, role: read, value_file: ")" + dir.path() + R"(/token"}]
  tls: {cert_file: ")" + cert.cert_file + R"(", key_file: ")" + cert.key_file + R"("}
state: {dir: ")" + dir.path() + R"("}
)",
                                "secure-feed.yaml");
  ASSERT_NE(d, nullptr);

  net::io_context ioc;
  net::ssl::context tls(net::ssl::context::tls_client);
  tls.set_verify_mode(net::ssl::verify_peer);
  tls.load_verify_file(cert.cert_file);
  using WssStream = websocket::stream<boost::beast::ssl_stream<net::ip::tcp::socket>>;
  auto connect = [&](WssStream& ws, const std::string& target) {
    boost::beast::error_code ec;
    ws.next_layer().next_layer().connect(
        net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), d->http_port()), ec);
    timeval tv{30, 0};
    ::setsockopt(ws.next_layer().next_layer().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv,
                 sizeof(tv));
    if (!ec) ws.next_layer().handshake(net::ssl::stream_base::client, ec);
    if (!ec) ws.handshake("localhost", target, ec);
    return ec;
  };
  WssStream anonymous(ioc, tls);
  EXPECT_EQ(connect(anonymous, "/v1/alerts?pipeline=detect"), websocket::error::upgrade_declined);

  WssStream ws(ioc, tls);
  ASSERT_FALSE(connect(ws, "/v1/alerts?pipeline=detect&access_token=" + token));

  std::vector<testing::KafkaRecord> records;
  for (int i = 0; i < 300; ++i) {
    testing::KafkaRecord r;
    r.topic = "in";
    const double v = 10 + (i % 5) + (i == 250 ? 100 : 0);
    r.value = R"({"host":"web-1","v":)" + std::to_string(v) + "}";
    records.push_back(std::move(r));
  }
  ASSERT_TRUE(testing::ProduceAll(bootstrap, records));

  boost::beast::flat_buffer buffer;
  boost::beast::error_code ec;
  ws.read(buffer, ec);
  ASSERT_FALSE(ec) << ec.message();
  const std::string alert = boost::beast::buffers_to_string(buffer.data());
  EXPECT_NE(alert.find("\"pipeline\":\"detect\""), std::string::npos) << alert;
  EXPECT_NE(alert.find("\"offset\":250"), std::string::npos) << alert;
  ws.close(websocket::close_code::normal, ec);
  EXPECT_TRUE(d->Shutdown().ok());
}

}  // namespace
}  // namespace osprey
