#include "daemon/model_export.h"

#include <chrono>
#include <ctime>
#include <map>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include "config/base/json_writer.h"
#include "daemon/model_registry.h"

namespace osprey::daemon {

namespace {

namespace http = boost::beast::http;

struct Url {
  std::string host;
  std::string port;
};

Result<Url> ParseUrl(const std::string& url) {
  constexpr std::string_view kScheme = "http://";
  if (url.rfind(kScheme, 0) != 0) {
    return Status::InvalidArgument("--url must be http://host:port, got '" + url + "'");
  }
  std::string rest = url.substr(kScheme.size());
  if (const size_t slash = rest.find('/'); slash != std::string::npos) rest.resize(slash);
  const size_t colon = rest.rfind(':');
  Url out;
  if (colon == std::string::npos || rest.back() == ']') {
    out.host = rest;
    out.port = "80";
  } else {
    out.host = rest.substr(0, colon);
    out.port = rest.substr(colon + 1);
  }
  if (out.host.size() > 2 && out.host.front() == '[' && out.host.back() == ']') {
    out.host = out.host.substr(1, out.host.size() - 2);
  }
  if (out.host.empty() || out.port.empty()) {
    return Status::InvalidArgument("--url must be http://host:port, got '" + url + "'");
  }
  return out;
}

// Percent-encodes one path segment.
std::string Segment(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string DefaultName(const std::string& pipeline, const std::string& key) {
  std::string name = pipeline + "-" + key;
  for (char& c : name) {
    if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '.' && c != '_' && c != '-') {
      c = '_';
    }
  }
  if (!name.empty() && std::isalnum(static_cast<unsigned char>(name[0])) == 0) name[0] = 'm';
  return name.substr(0, 128);
}

std::string NowRfc3339() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

Result<int64_t> ExportModel(const ModelExportOptions& options) {
  if (options.pipeline.empty() || options.key.empty() || options.registry_dir.empty()) {
    return Status::InvalidArgument("--pipeline, --key and --registry are required");
  }
  OSPREY_ASSIGN_OR_RETURN(Url url, ParseUrl(options.url));
  const std::string name =
      options.name.empty() ? DefaultName(options.pipeline, options.key) : options.name;

  boost::asio::io_context io;
  boost::beast::tcp_stream stream(io);
  boost::system::error_code ec;
  boost::asio::ip::tcp::resolver resolver(io);
  auto endpoints = resolver.resolve(url.host, url.port, ec);
  if (ec) return Status::Unavailable(options.url + ": resolve: " + ec.message());
  stream.expires_after(std::chrono::milliseconds(options.timeout_ms));
  stream.connect(endpoints, ec);
  if (ec) return Status::Unavailable(options.url + ": connect: " + ec.message());
  const std::string target = "/v1/admin/pipelines/" + Segment(options.pipeline) + "/keys/" +
                             Segment(options.key) + "/model";
  http::request<http::empty_body> req(http::verb::get, target, 11);
  req.set(http::field::host, url.host);
  req.set(http::field::user_agent, "osprey-model-export");
  if (!options.token.empty()) req.set(http::field::authorization, "Bearer " + options.token);
  http::write(stream, req, ec);
  if (ec) return Status::Unavailable(options.url + ": write: " + ec.message());
  boost::beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(uint64_t{2} << 30);
  http::read(stream, buffer, parser, ec);
  if (ec) return Status::Unavailable(options.url + ": read: " + ec.message());
  stream.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
  const auto& res = parser.get();
  if (res.result_int() != 200) {
    const std::string message =
        "GET " + target + ": " + std::to_string(res.result_int()) + " " + res.body();
    return res.result_int() == 404 ? Status::NotFound(message) : Status::InvalidArgument(message);
  }

  std::string metadata;
  JsonWriter w(&metadata);
  w.BeginObject();
  w.Key("format_version").Int(1);
  w.Key("name").String(name);
  w.Key("version").String(std::to_string(NextModelVersion(options.registry_dir, name)));
  w.Key("kind").String("rcf");
  w.Key("task").String("anomaly");
  w.Key("created").String(NowRfc3339());
  w.Key("model_file").String("model.bin");
  w.Key("inputs").BeginArray();
  std::string inputs(res["X-Osprey-Inputs"]);
  while (!inputs.empty()) {
    const size_t comma = inputs.find(',');
    w.BeginObject().Key("name").String(inputs.substr(0, comma)).Key("type").String("numeric");
    w.EndObject();
    inputs = comma == std::string::npos ? "" : inputs.substr(comma + 1);
  }
  w.EndArray();
  w.Key("metrics").BeginObject().EndObject();
  w.Key("hyperparameters").BeginObject().EndObject();
  w.Key("source").BeginObject();
  w.Key("pipeline").String(options.pipeline);
  w.Key("key").String(options.key);
  w.Key("daemon").String(options.url);
  w.Key("exported_at").String(NowRfc3339());
  w.EndObject();
  w.EndObject();
  return PublishModelVersion(options.registry_dir, name,
                             {{"metadata.json", metadata}, {"model.bin", res.body()}});
}

}  // namespace osprey::daemon
