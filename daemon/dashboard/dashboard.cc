// Implements daemon/dashboard/dashboard.h.
#include "daemon/dashboard/dashboard.h"

#include <string>

#include "daemon/dashboard/assets.h"
#include "daemon/http_server.h"

namespace osprey::daemon {

namespace {

constexpr char kContentSecurityPolicy[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

// True when an If-None-Match header value lists `etag` (or is "*"). A weak W/"..." form
// matches too (If-None-Match uses weak comparison, RFC 9110 §13.1.2).
bool EtagMatches(const std::string& header, std::string_view etag) {
  return header.find('*') != std::string::npos || header.find(etag) != std::string::npos;
}

HttpResponse Serve(const DashboardAsset& asset, const HttpRequest& req) {
  HttpResponse response;
  response.content_type = std::string(asset.content_type);
  response.headers.emplace_back("ETag", std::string(asset.etag));
  response.headers.emplace_back(
      "Cache-Control", asset.immutable ? "public, max-age=31536000, immutable" : "no-cache");
  response.headers.emplace_back("X-Content-Type-Options", "nosniff");
  if (asset.url_path == "/") {
    response.headers.emplace_back("Content-Security-Policy", kContentSecurityPolicy);
    response.headers.emplace_back("Referrer-Policy", "no-referrer");
  }
  const std::string* if_none_match = req.Header("if-none-match");
  if (if_none_match != nullptr && EtagMatches(*if_none_match, asset.etag)) {
    response.status = 304;
    return response;
  }
  response.status = 200;
  response.body = std::string(asset.body);
  return response;
}

}  // namespace

void AddDashboardRoutes(HttpRouter& router) {
  for (const DashboardAsset& asset : DashboardAssets()) {
    router.Add("GET", std::string(asset.url_path),
               [&asset](const HttpRequest& req) { return Serve(asset, req); });
  }
}

}  // namespace osprey::daemon
