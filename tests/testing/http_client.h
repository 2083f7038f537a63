// A minimal blocking HTTP/1.1 client over POSIX sockets, for tests that talk to a real server
// on loopback. One request per connection ("Connection: close"). Thread-compatible.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace osprey::testing {

struct HttpResult {
  int status = 0;  // 0 when the connection failed
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

// `extra_headers` are sent as given ("Name", "value"), after Content-Type.
HttpResult HttpCall(uint16_t port, const std::string& method, const std::string& target,
                    const std::string& body = "", const std::string& content_type = "",
                    const std::string& host = "127.0.0.1",
                    const std::vector<std::pair<std::string, std::string>>& extra_headers = {});

inline HttpResult HttpGet(uint16_t port, const std::string& target) {
  return HttpCall(port, "GET", target);
}

// A TCP port that was free a moment ago (bind to 0, read, close).
uint16_t PickFreePort();

}  // namespace osprey::testing
