// Access control and rate limiting of the HTTP server: which role a route needs (one table, by
// path, so that routes need no registration of their own), who a request's bearer token says
// the caller is (constant-time comparison), and a token bucket per caller. No Boost here; the
// server (daemon/http/http_server.cc) applies these to every request.
// HttpAccessPolicy is immutable after construction and thread-safe. HttpRateLimiter is
// thread-safe.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/base/clock.h"
#include "config/base/mutex.h"
#include "config/options.h"
#include "daemon/http_server.h"

namespace osprey::daemon {

// What a route needs, decided by its path alone:
// - kPublic: /healthz, /readyz, /ping, /v2/health/live, /v2/health/ready, / and /static/*
//   (the dashboard page; its data calls need tokens);
// - kAdmin: /v1/admin and everything under it;
// - kRead: everything else (also paths no route serves, so that probing learns nothing).
// `path` is as sent (percent-encoded); it is decoded before the admin prefix is checked, so
// "/v1/%61dmin/x" needs admin too.
enum class RouteAccess { kPublic, kRead, kAdmin };
RouteAccess RequiredAccess(std::string_view path);

// The outcome of checking one request against the policy.
struct HttpAccessDecision {
  // 0 = allowed; else 401 (no valid token) or 403 (valid token, role too low).
  int status = 0;
  std::string message;  // for the JSON error; never contains a secret
  // The name of the valid token presented, or "" (none, or auth off).
  std::string token_name;
  // Some credential was presented (valid or not).
  bool token_presented = false;
  // The response to send when refused (JSON error, WWW-Authenticate).
  HttpResponse Refusal() const;
};

// Bearer-token authentication and role checks (config::HttpAuthOptions). With no tokens
// configured every request is allowed. Immutable; thread-safe.
class HttpAccessPolicy {
 public:
  // Keeps only SHA-256 digests of the secrets.
  explicit HttpAccessPolicy(const config::HttpAuthOptions& auth);

  bool enabled() const { return !tokens_.empty(); }

  // Checks `req` (its path, its Authorization header, and, when `websocket_upgrade`, its
  // access_token query parameter, for browsers that cannot set headers on a WebSocket).
  // A presented token is recognised (token_name set) even on a public route.
  HttpAccessDecision Check(const HttpRequest& req, bool websocket_upgrade) const;

 private:
  using Digest = std::array<unsigned char, 32>;
  struct Token {
    std::string name;
    config::HttpRole role;
    Digest digest;
  };

  // The token whose secret is `presented`, or nullptr. Takes the same time whichever token
  // matches (or none): every digest is compared, with CRYPTO_memcmp, and digests have one length
  // whatever the secret's.
  const Token* Find(std::string_view presented) const;

  std::vector<Token> tokens_;  // Constant after construction
};

// Token buckets keyed by caller ("token:<name>" or "ip:<address>"): each holds up to `burst`
// requests and refills at `per_second`. Buckets that have refilled completely are forgotten
// (they equal a fresh one), so memory is bounded by the callers active within burst/per_second
// seconds. Thread-safe.
class HttpRateLimiter {
 public:
  // REQUIRES: per_second > 0, burst >= 1. Caller keeps `clock` alive for the lifetime of this
  // object (its MonotonicNanos is used).
  HttpRateLimiter(double per_second, int burst, const Clock& clock);

  // Takes one request from `key`'s bucket. Returns 0 when allowed; else the whole seconds until
  // the bucket holds a request again (>= 1, for Retry-After), taking nothing.
  int64_t Acquire(std::string_view key) OSPREY_EXCLUDES(mu_);

  // Buckets currently remembered (for tests).
  size_t size() const OSPREY_EXCLUDES(mu_);

 private:
  struct Bucket {
    double tokens;
    int64_t updated_ns;
  };

  // Forgets full buckets. REQUIRES: mu_ held.
  void Sweep(int64_t now_ns) OSPREY_REQUIRES(mu_);

  const double per_second_;  // Constant after construction
  const double burst_;       // Constant after construction
  const Clock& clock_;

  mutable Mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_ OSPREY_GUARDED_BY(mu_);
  size_t sweep_at_ OSPREY_GUARDED_BY(mu_) = 1024;  // sweep when buckets_ grows to this size
};

}  // namespace osprey::daemon
