// The dashboard's data inside the daemon: records flow through a real broker and the pipelines;
// a client watching one key on /v1/pipelines/{p}/keys/{k}/live gets exactly that key's results
// in order, and GET /v1/pipelines lists the keys with their counts and last values.
#include <chrono>
#include <string>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "daemon/daemon.h"
#include "daemon/kafka/embedded_broker.h"
#include "tests/integration/harness.h"
#include "tests/integration/kafka_test_util.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/http_client.h"

namespace osprey {
namespace {

namespace net = boost::asio;
namespace websocket = boost::beast::websocket;

TEST(DashboardInDaemonTest, LiveFeedCarriesOneKeysResultsAndPipelinesListsKeys) {
  auto broker = testing::StartBroker({{"in", 2}, {"out", 1}, {"dlq", 1}});
  ASSERT_NE(broker, nullptr);
  const std::string bootstrap = broker->bootstrap_servers();
  testing::TempDir dir;
  auto d = testing::StartDaemon(R"(
kafka:
  bootstrap_servers: ")" + bootstrap +
                                    R"("
  consumer_properties: {session.timeout.ms: "6000"}
sources:
  m:
    topics: [in]
    key_field: host
    value_fields: [v]
    timestamp: {field: ts, format: epoch_ms}
    dead_letter: dlq
sinks:
  out: {topic: out}
  dlq: {topic: dlq}
pipelines:
  detect:
    source: m
    operators: [{type: baseline, warmup_events: 5, alert_threshold: 8}]
    sinks: [out]
http: {listen: "127.0.0.1:0"}
state: {dir: ")" + dir.path() + R"("}
)",
                                "dashboard.yaml");
  ASSERT_NE(d, nullptr);

  net::io_context ioc;
  websocket::stream<net::ip::tcp::socket> ws(ioc);
  ws.next_layer().connect(
      net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), d->http_port()));
  timeval tv{30, 0};
  ::setsockopt(ws.next_layer().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ws.handshake("127.0.0.1", "/v1/pipelines/detect/keys/web-1/live");
  boost::beast::flat_buffer buffer;
  boost::beast::error_code ec;
  ws.read(buffer, ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(boost::beast::buffers_to_string(buffer.data()),
            R"({"type":"history","pipeline":"detect","key":"web-1","points":[]})");

  constexpr int kRecords = 100;
  std::vector<testing::KafkaRecord> records;
  for (int i = 0; i < kRecords; ++i) {
    testing::KafkaRecord r;
    r.topic = "in";
    r.partition = 0;  // one partition: the results of a key come in record order
    const std::string host = i % 2 == 0 ? "web-1" : "db-1";
    r.key = host;
    r.value = R"({"host":")" + host + R"(","ts":)" + std::to_string(1700000000000 + i) +
              R"(,"v":)" + std::to_string(i) + "}";
    records.push_back(std::move(r));
  }
  ASSERT_TRUE(testing::ProduceAll(bootstrap, records));

  for (int i = 0; i < kRecords; i += 2) {  // web-1's records only, in order
    buffer.clear();
    ws.read(buffer, ec);
    ASSERT_FALSE(ec) << ec.message() << " after " << i / 2 << " results";
    const std::string message = boost::beast::buffers_to_string(buffer.data());
    EXPECT_EQ(
        message.rfind(R"({"type":"result","event_time":)" + std::to_string(1700000000000 + i) +
                          R"(,"values":{"v":)" + std::to_string(i) + "},",
                      0),
        0u)
        << message;
  }

  // db-1's last record follows web-1's last one: poll until the table shows it.
  const std::string db1 = R"({"key":"db-1","count":50,"alerts":0,"watchers":0,"event_time":)" +
                          std::to_string(1700000000000 + kRecords - 1) + R"(,"values":{"v":99})";
  testing::HttpResult pipelines;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  do {
    pipelines = testing::HttpGet(d->http_port(), "/v1/pipelines");
    if (pipelines.body.find(db1) != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  } while (std::chrono::steady_clock::now() < deadline);
  ASSERT_EQ(pipelines.status, 200);
  EXPECT_NE(pipelines.body.find(db1), std::string::npos) << pipelines.body;
  EXPECT_NE(pipelines.body.find(R"({"key":"web-1","count":50,"alerts":0,"watchers":1,)"),
            std::string::npos)
      << pipelines.body;

  ws.close(websocket::close_code::normal, ec);
  EXPECT_TRUE(d->Shutdown().ok());
}

}  // namespace
}  // namespace osprey
