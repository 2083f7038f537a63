// Tests for the dashboard's routes over real loopback sockets: GET /v1/pipelines and the
// WebSocket /v1/pipelines/{p}/keys/{k}/live (daemon/live_hub.h AddLiveRoutes), and the page and
// its static files (daemon/dashboard/dashboard.h). Beast may appear in this test TU (it links
// osprey::asio).
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
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
#include "daemon/dashboard/assets.h"
#include "daemon/dashboard/dashboard.h"
#include "daemon/http_server.h"
#include "daemon/live_hub.h"

namespace osprey::daemon {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace websocket = beast::websocket;
using Tcp = net::ip::tcp;
using Millis = std::chrono::milliseconds;

http::response<http::string_body> Get(uint16_t port, const std::string& target,
                                      const std::string& if_none_match = "") {
  net::io_context ioc;
  Tcp::socket socket(ioc);
  socket.connect(Tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  http::request<http::string_body> req(http::verb::get, target, 11);
  req.set(http::field::host, "127.0.0.1");
  if (!if_none_match.empty()) req.set(http::field::if_none_match, if_none_match);
  http::write(socket, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(socket, buffer, res);
  return res;
}

class LiveFeedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pipeline_ = &live_.AddPipeline({"rcf", "metrics", {{"rcf", "rcf"}}});
    HttpRouter router;
    AddLiveRoutes(router, live_, alerts_);
    AddDashboardRoutes(router);
    config::HttpOptions options;
    options.listen = "127.0.0.1:0";
    options.threads = 2;
    auto server = HttpServer::Start(options, std::move(router));
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
  }

  void Record(const std::string& key, int64_t t, double v, bool alert = false) {
    static const auto kSchema = [] {
      auto schema = std::make_shared<operators::Schema>();
      schema->value_names = {"cpu"};
      return schema;
    }();
    const double values[] = {v};
    pipeline_->Record({key, t, values, v / 10, 0.5, alert}, kSchema);
  }

  bool WaitWatchers(size_t count) {
    const auto deadline = std::chrono::steady_clock::now() + Millis(5000);
    while (pipeline_->watch_count() != count) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(Millis(2));
    }
    return true;
  }

  uint16_t port() const { return server_->port(); }

  AlertHub alerts_;  // outlive the server
  LiveHub live_;
  LiveHub::Pipeline* pipeline_ = nullptr;
  std::unique_ptr<HttpServer> server_;  // destroyed first
};

TEST_F(LiveFeedTest, PipelinesRouteListsKeysAndTheAlertSeq) {
  Record("host-1", 1000, 42);
  Alert alert;
  alert.pipeline = "rcf";
  alert.key = "host-1";
  alerts_.Publish(alert);
  auto res = Get(port(), "/v1/pipelines");
  ASSERT_EQ(res.result_int(), 200);
  EXPECT_EQ(res[http::field::content_type], "application/json");
  EXPECT_EQ(
      res.body(),
      R"({"pipelines":[{"name":"rcf","source":"metrics","operators":[{"name":"rcf","type":)"
      R"("rcf"}],"keys":[{"key":"host-1","count":1,"alerts":0,"watchers":0,"event_time":1000,)"
      R"("values":{"cpu":42},"score":4.2,"grade":0.5,"alert":false}],"keys_forgotten":0}],)"
      R"("alerts_last_seq":1})");
}

TEST_F(LiveFeedTest, LiveFeedSendsHistoryThenResultsOverAWebSocket) {
  Record("host/1", 1000, 1);  // a key with a '/' travels percent-encoded in the path
  net::io_context ioc;
  websocket::stream<Tcp::socket> ws(ioc);
  ws.next_layer().connect(Tcp::endpoint(net::ip::make_address("127.0.0.1"), port()));
  beast::error_code ec;
  ws.handshake("127.0.0.1", "/v1/pipelines/rcf/keys/host%2F1/live", ec);
  ASSERT_FALSE(ec) << ec.message();
  beast::flat_buffer buffer;
  ws.read(buffer, ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(beast::buffers_to_string(buffer.data()),
            R"({"type":"history","pipeline":"rcf","key":"host/1","points":[{"event_time":1000,)"
            R"("values":{"cpu":1},"score":0.1,"grade":0.5,"alert":false}]})");
  ASSERT_TRUE(WaitWatchers(1));
  Record("other", 1001, 5);
  Record("host/1", 1002, 20, true);
  buffer.clear();
  ws.read(buffer, ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(beast::buffers_to_string(buffer.data()),
            R"({"type":"result","event_time":1002,"values":{"cpu":20},"score":2,"grade":0.5,)"
            R"("alert":true})");
  ws.close(websocket::close_code::normal, ec);
  EXPECT_TRUE(WaitWatchers(0));  // on_close released the watch
}

TEST_F(LiveFeedTest, UnknownPipelineIsA404BeforeTheUpgrade) {
  net::io_context ioc;
  Tcp::socket socket(ioc);
  socket.connect(Tcp::endpoint(net::ip::make_address("127.0.0.1"), port()));
  http::request<http::string_body> req(http::verb::get, "/v1/pipelines/nope/keys/k/live", 11);
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::connection, "Upgrade");
  req.set(http::field::upgrade, "websocket");
  req.set(http::field::sec_websocket_version, "13");
  req.set(http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
  http::write(socket, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(socket, buffer, res);
  EXPECT_EQ(res.result_int(), 404);
  EXPECT_NE(res.body().find("no pipeline named 'nope'"), std::string::npos) << res.body();
  // A plain GET of the feed asks for the upgrade.
  EXPECT_EQ(Get(port(), "/v1/pipelines/rcf/keys/k/live").result_int(), 426);
}

TEST_F(LiveFeedTest, ServesThePageAndStaticFilesWithTypesAndCaching) {
  auto page = Get(port(), "/");
  ASSERT_EQ(page.result_int(), 200);
  EXPECT_EQ(page[http::field::content_type], "text/html; charset=utf-8");
  EXPECT_EQ(page[http::field::cache_control], "no-cache");
  EXPECT_NE(page["Content-Security-Policy"].find("script-src 'self'"), beast::string_view::npos);
  EXPECT_NE(page.body().find("/static/app.js"), std::string::npos);
  const std::string etag(page[http::field::etag]);
  ASSERT_FALSE(etag.empty());

  auto again = Get(port(), "/", etag);
  EXPECT_EQ(again.result_int(), 304);
  EXPECT_TRUE(again.body().empty());
  EXPECT_EQ(Get(port(), "/", "\"other\"").result_int(), 200);

  auto script = Get(port(), "/static/app.js");
  ASSERT_EQ(script.result_int(), 200);
  EXPECT_EQ(script[http::field::content_type], "text/javascript; charset=utf-8");
  EXPECT_EQ(script["X-Content-Type-Options"], "nosniff");

  auto uplot = Get(port(), "/static/vendor/uplot/uPlot.iife.min.js?v=1.6.32");
  ASSERT_EQ(uplot.result_int(), 200);
  EXPECT_EQ(uplot[http::field::cache_control], "public, max-age=31536000, immutable");
  EXPECT_EQ(Get(port(), "/static/vendor/uplot/uPlot.min.css")[http::field::content_type],
            "text/css; charset=utf-8");
  EXPECT_NE(Get(port(), "/static/vendor/uplot/LICENSE").body().find("MIT"), std::string::npos);
  EXPECT_EQ(Get(port(), "/static/nope.js").result_int(), 404);
}

TEST(DashboardAssetsTest, EveryAssetIsNonEmptyAndLoadedByThePage) {
  std::string_view page;
  for (const DashboardAsset& asset : DashboardAssets()) {
    EXPECT_FALSE(asset.body.empty()) << asset.url_path;
    if (asset.url_path == "/") page = asset.body;
  }
  ASSERT_FALSE(page.empty());
  for (const DashboardAsset& asset : DashboardAssets()) {
    if (asset.url_path == "/" || asset.url_path.ends_with("LICENSE")) continue;
    EXPECT_NE(page.find(asset.url_path), std::string_view::npos)
        << asset.url_path << " is embedded but the page does not load it";
  }
}

}  // namespace
}  // namespace osprey::daemon
