#include "daemon/http_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace osprey::daemon {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

Result<HttpClientResponse> HttpRequestOnce(
    const std::string& method, const std::string& url, const std::string& target,
    const std::string& body, const std::vector<std::pair<std::string, std::string>>& headers,
    std::chrono::milliseconds timeout) {
  constexpr std::string_view kScheme = "http://";
  if (url.rfind(kScheme, 0) != 0) {
    return Status::InvalidArgument("URL '" + url + "': expected http://host:port");
  }
  std::string rest = url.substr(kScheme.size());
  std::string base_path;
  if (auto slash = rest.find('/'); slash != std::string::npos) {
    base_path = rest.substr(slash);
    rest = rest.substr(0, slash);
    while (!base_path.empty() && base_path.back() == '/') base_path.pop_back();
  }
  auto colon = rest.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == rest.size()) {
    return Status::InvalidArgument("URL '" + url + "': expected http://host:port");
  }
  std::string host = rest.substr(0, colon);
  std::string port = rest.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }

  boost::asio::io_context ioc;
  beast::error_code ec;
  tcp::resolver resolver(ioc);
  auto endpoints = resolver.resolve(host, port, ec);
  if (ec) return Status::Unavailable("resolving " + rest + ": " + ec.message());
  beast::tcp_stream stream(ioc);
  stream.expires_after(timeout);
  stream.connect(endpoints, ec);
  if (ec) return Status::Unavailable("connecting to " + rest + ": " + ec.message());

  http::verb verb = http::string_to_verb(method);
  if (verb == http::verb::unknown) return Status::InvalidArgument("unknown method " + method);
  http::request<http::string_body> req{verb, base_path + target, 11};
  req.set(http::field::host, rest);
  req.set(http::field::user_agent, "osprey-cli");
  for (const auto& [name, value] : headers) req.set(name, value);
  if (!body.empty()) req.set(http::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  http::write(stream, req, ec);
  if (ec) return Status::Unavailable("sending to " + rest + ": " + ec.message());

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 << 20);
  http::read(stream, buffer, parser, ec);
  if (ec) return Status::Unavailable("reading the response of " + rest + ": " + ec.message());
  HttpClientResponse out;
  out.status = static_cast<int>(parser.get().result_int());
  out.body = std::move(parser.get().body());
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  return out;
}

}  // namespace osprey::daemon
