// Implements daemon/http_access.h. OpenSSL provides SHA-256 and CRYPTO_memcmp.
#include "daemon/http_access.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "config/base/check.h"

namespace osprey::daemon {

namespace {

int AccessHexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string AccessPercentDecode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t pos = 0; pos < in.size(); ++pos) {
    if (in[pos] == '%' && pos + 2 < in.size()) {
      const int hi = AccessHexDigit(in[pos + 1]);
      const int lo = AccessHexDigit(in[pos + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        pos += 2;
        continue;
      }
    }
    out += in[pos];
  }
  return out;
}

bool AccessIEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

const char* RoleName(config::HttpRole role) {
  return role == config::HttpRole::kAdmin ? "admin" : "read";
}

}  // namespace

RouteAccess RequiredAccess(std::string_view path) {
  for (std::string_view open :
       {"/healthz", "/readyz", "/ping", "/v2/health/live", "/v2/health/ready", "/"}) {
    if (path == open) return RouteAccess::kPublic;
  }
  if (path.starts_with("/static/")) return RouteAccess::kPublic;
  const std::string decoded = AccessPercentDecode(path);
  if (decoded == "/v1/admin" || decoded.starts_with("/v1/admin/")) return RouteAccess::kAdmin;
  return RouteAccess::kRead;
}

HttpResponse HttpAccessDecision::Refusal() const {
  HttpResponse response = HttpResponse::Error(status, message);
  if (status == 401) {
    // RFC 6750 §3: an error code only when a token was presented.
    response.headers.emplace_back(
        "WWW-Authenticate", token_presented ? R"(Bearer realm="osprey", error="invalid_token")"
                                            : R"(Bearer realm="osprey")");
  } else if (status == 403) {
    response.headers.emplace_back("WWW-Authenticate",
                                  R"(Bearer realm="osprey", error="insufficient_scope")");
  }
  return response;
}

HttpAccessPolicy::HttpAccessPolicy(const config::HttpAuthOptions& auth) {
  tokens_.reserve(auth.tokens.size());
  for (const config::HttpTokenOptions& option : auth.tokens) {
    Token token{option.name, option.role, {}};
    unsigned int size = 0;
    OSPREY_CHECK(EVP_Digest(option.value.data(), option.value.size(), token.digest.data(), &size,
                            EVP_sha256(), nullptr) == 1 &&
                 size == token.digest.size())
        << "SHA-256 failed";
    tokens_.push_back(std::move(token));
  }
}

const HttpAccessPolicy::Token* HttpAccessPolicy::Find(std::string_view presented) const {
  Digest digest{};
  unsigned int size = 0;
  if (EVP_Digest(presented.data(), presented.size(), digest.data(), &size, EVP_sha256(), nullptr) !=
      1) {
    return nullptr;
  }
  const Token* found = nullptr;
  for (const Token& token : tokens_) {  // no early exit: the time does not tell which matched
    const bool equal = CRYPTO_memcmp(digest.data(), token.digest.data(), digest.size()) == 0;
    if (equal && found == nullptr) found = &token;
  }
  return found;
}

HttpAccessDecision HttpAccessPolicy::Check(const HttpRequest& req, bool websocket_upgrade) const {
  HttpAccessDecision decision;
  if (tokens_.empty()) return decision;
  const RouteAccess need = RequiredAccess(req.path);

  // The presented token: the Authorization header, else (upgrades only) ?access_token=.
  std::optional<std::string> presented;
  bool malformed = false;
  if (const std::string* header = req.Header("authorization")) {
    std::string_view value = *header;
    const size_t space = value.find(' ');
    if (space != std::string_view::npos && AccessIEquals(value.substr(0, space), "bearer")) {
      value.remove_prefix(space);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
      if (!value.empty()) presented = std::string(value);
    }
    malformed = !presented.has_value();
  } else if (websocket_upgrade) {
    presented = req.QueryParam("access_token");
  }

  const Token* token = presented ? Find(*presented) : nullptr;
  decision.token_presented = presented.has_value() || malformed;
  if (token != nullptr) decision.token_name = token->name;
  if (need == RouteAccess::kPublic) return decision;

  if (token == nullptr) {
    decision.status = 401;
    if (malformed) {
      decision.message =
          "invalid Authorization header: expected 'Authorization: Bearer <token>' (one of the "
          "tokens in http.auth.tokens)";
    } else if (presented) {
      decision.message =
          "invalid bearer token: it matches none of the tokens in http.auth.tokens; check the "
          "value (and that it was not cut or padded)";
    } else {
      decision.message =
          std::string("missing bearer token: send 'Authorization: Bearer <token>'") +
          (websocket_upgrade ? " or, on a WebSocket upgrade, '?access_token=<token>'" : "") +
          " with a token from http.auth.tokens";
    }
    return decision;
  }
  if (need == RouteAccess::kAdmin && token->role != config::HttpRole::kAdmin) {
    decision.status = 403;
    decision.message = "token '" + token->name + "' has role " + RoleName(token->role) + "; " +
                       std::string(req.path) + " needs a token with role admin";
  }
  return decision;
}

HttpRateLimiter::HttpRateLimiter(double per_second, int burst, const Clock& clock)
    : per_second_(per_second), burst_(burst), clock_(clock) {
  OSPREY_CHECK(per_second > 0 && burst >= 1) << "rate " << per_second << ", burst " << burst;
}

int64_t HttpRateLimiter::Acquire(std::string_view key) {
  const int64_t now_ns = clock_.MonotonicNanos();
  MutexLock lock(&mu_);
  auto [it, inserted] = buckets_.try_emplace(std::string(key), Bucket{burst_, now_ns});
  Bucket& bucket = it->second;
  if (!inserted) {
    const double elapsed_s =
        static_cast<double>(std::max<int64_t>(now_ns - bucket.updated_ns, 0)) / 1e9;
    bucket.tokens = std::min(burst_, bucket.tokens + elapsed_s * per_second_);
    bucket.updated_ns = now_ns;
  }
  if (bucket.tokens >= 1.0) {
    bucket.tokens -= 1.0;
    if (buckets_.size() >= sweep_at_) Sweep(now_ns);
    return 0;
  }
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil((1.0 - bucket.tokens) / per_second_)));
}

void HttpRateLimiter::Sweep(int64_t now_ns) {
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    const double elapsed_s =
        static_cast<double>(std::max<int64_t>(now_ns - it->second.updated_ns, 0)) / 1e9;
    if (it->second.tokens + elapsed_s * per_second_ >= burst_) {
      it = buckets_.erase(it);
    } else {
      ++it;
    }
  }
  sweep_at_ = std::max<size_t>(1024, 2 * buckets_.size());
}

size_t HttpRateLimiter::size() const {
  MutexLock lock(&mu_);
  return buckets_.size();
}

}  // namespace osprey::daemon
