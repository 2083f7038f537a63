// HttpClient: one blocking HTTP/1.1 request to an ospreyd (for the `osprey` CLI: savepoints and
// other admin calls). Plain http:// only; Boost.Beast stays in daemon/http/http_client.cc.
// Thread-safe (no shared state).
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "config/base/status.h"

namespace osprey::daemon {

struct HttpClientResponse {
  int status = 0;
  std::string body;
};

// Sends `method` `url` (http://host:port[/path]; the path of `target` is appended) with `body`
// as application/json and the extra `headers`. Unavailable when the server cannot be reached,
// InvalidArgument for a URL that is not http://host:port.
Result<HttpClientResponse> HttpRequestOnce(
    const std::string& method, const std::string& url, const std::string& target,
    const std::string& body, const std::vector<std::pair<std::string, std::string>>& headers,
    std::chrono::milliseconds timeout);

}  // namespace osprey::daemon
