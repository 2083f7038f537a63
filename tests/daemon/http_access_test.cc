// Tests for daemon/http_access.h: the route policy table, bearer-token decisions, and the token
// bucket (on a FakeClock). The same rules over real sockets: http_security_test.cc.
#include "daemon/http_access.h"

#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "tests/testing/fake_clock.h"

namespace osprey::daemon {
namespace {

constexpr char kReadSecret[] = "read-secret-0123456789abcdef";
constexpr char kAdminSecret[] = "admin-secret-0123456789abcdef";

config::HttpAuthOptions TwoTokens() {
  config::HttpAuthOptions auth;
  auth.tokens.push_back(
      {"ci", config::HttpRole::kRead, kReadSecret, config::SecretSource::kEnv, {}});
  auth.tokens.push_back(
      {"ops", config::HttpRole::kAdmin, kAdminSecret, config::SecretSource::kFile, {}});
  return auth;
}

HttpRequest Request(std::string target,
                    std::vector<std::pair<std::string, std::string>> headers = {}) {
  HttpRequest req;
  req.method = "GET";
  req.target = target;
  const size_t question = target.find('?');
  req.path = target.substr(0, question);
  if (question != std::string::npos) req.query = target.substr(question + 1);
  req.headers = std::move(headers);
  return req;
}

std::vector<std::pair<std::string, std::string>> Bearer(const std::string& token) {
  return {{"authorization", "Bearer " + token}};
}

TEST(HttpAccessTest, RouteTable) {
  struct Row {
    const char* path;
    RouteAccess access;
  };
  const Row rows[] = {
      {"/healthz", RouteAccess::kPublic},
      {"/readyz", RouteAccess::kPublic},
      {"/ping", RouteAccess::kPublic},
      {"/v2/health/live", RouteAccess::kPublic},
      {"/v2/health/ready", RouteAccess::kPublic},
      {"/", RouteAccess::kPublic},
      {"/static/app.js", RouteAccess::kPublic},
      {"/static", RouteAccess::kRead},  // only what is under /static/
      {"/healthz/x", RouteAccess::kRead},
      {"/metrics", RouteAccess::kRead},
      {"/v1/info", RouteAccess::kRead},
      {"/v1/alerts", RouteAccess::kRead},
      {"/v1/models", RouteAccess::kRead},
      {"/v1/models/m1:predict", RouteAccess::kRead},
      {"/v2/models/m1/infer", RouteAccess::kRead},
      {"/v1/administrator", RouteAccess::kRead},  // a prefix of the word is not the folder
      {"/no/such/route", RouteAccess::kRead},
      {"/v1/admin", RouteAccess::kAdmin},
      {"/v1/admin/reload", RouteAccess::kAdmin},
      {"/v1/admin/savepoints/s1", RouteAccess::kAdmin},
      {"/v1/%61dmin/reload", RouteAccess::kAdmin},  // percent-encoding does not hide it
      {"/v1%2Fadmin/config", RouteAccess::kAdmin},
  };
  for (const Row& row : rows) {
    EXPECT_EQ(RequiredAccess(row.path), row.access) << row.path;
  }
}

TEST(HttpAccessTest, NoTokensAllowsEverything) {
  HttpAccessPolicy policy{config::HttpAuthOptions{}};
  EXPECT_FALSE(policy.enabled());
  const HttpAccessDecision decision = policy.Check(Request("/v1/admin/reload"), false);
  EXPECT_EQ(decision.status, 0);
  EXPECT_EQ(decision.token_name, "");
}

TEST(HttpAccessTest, TokensAndRoles) {
  const HttpAccessPolicy policy(TwoTokens());
  ASSERT_TRUE(policy.enabled());

  HttpAccessDecision missing = policy.Check(Request("/v1/models"), false);
  EXPECT_EQ(missing.status, 401);
  EXPECT_FALSE(missing.token_presented);
  EXPECT_NE(missing.message.find("Authorization: Bearer <token>"), std::string::npos);
  HttpResponse refusal = missing.Refusal();
  EXPECT_EQ(refusal.status, 401);
  ASSERT_EQ(refusal.headers.size(), 1u);
  EXPECT_EQ(refusal.headers[0].first, "WWW-Authenticate");
  EXPECT_EQ(refusal.headers[0].second, R"(Bearer realm="osprey")");

  HttpAccessDecision wrong =
      policy.Check(Request("/v1/models", Bearer("nope-0123456789abcdef")), false);
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(wrong.token_name, "");
  EXPECT_EQ(wrong.Refusal().headers.at(0).second,
            R"(Bearer realm="osprey", error="invalid_token")");
  // A prefix or an extension of a valid secret is just as wrong.
  EXPECT_EQ(
      policy.Check(Request("/v1/models", Bearer(std::string(kReadSecret).substr(0, 20))), false)
          .status,
      401);
  EXPECT_EQ(
      policy.Check(Request("/v1/models", Bearer(std::string(kReadSecret) + "x")), false).status,
      401);

  HttpAccessDecision basic = policy.Check(
      Request("/v1/models", {{"authorization", std::string("Basic ") + kReadSecret}}), false);
  EXPECT_EQ(basic.status, 401);
  EXPECT_NE(basic.message.find("expected 'Authorization: Bearer <token>'"), std::string::npos);

  HttpAccessDecision read = policy.Check(Request("/v1/models", Bearer(kReadSecret)), false);
  EXPECT_EQ(read.status, 0);
  EXPECT_EQ(read.token_name, "ci");
  // The scheme is case-insensitive; extra spaces are tolerated.
  EXPECT_EQ(
      policy
          .Check(Request("/v1/models", {{"authorization", std::string("bearer   ") + kReadSecret}}),
                 false)
          .status,
      0);

  HttpAccessDecision forbidden =
      policy.Check(Request("/v1/admin/reload", Bearer(kReadSecret)), false);
  EXPECT_EQ(forbidden.status, 403);
  EXPECT_EQ(forbidden.message,
            "token 'ci' has role read; /v1/admin/reload needs a token with role admin");
  EXPECT_EQ(forbidden.Refusal().headers.at(0).second,
            R"(Bearer realm="osprey", error="insufficient_scope")");
  EXPECT_EQ(policy.Check(Request("/v1/admin/reload", Bearer(kAdminSecret)), false).status, 0);
  EXPECT_EQ(policy.Check(Request("/v1/models", Bearer(kAdminSecret)), false).status, 0);

  // Public routes need nothing, and still recognise a token (for the rate limit).
  EXPECT_EQ(policy.Check(Request("/healthz"), false).status, 0);
  EXPECT_EQ(policy.Check(Request("/healthz", Bearer("wrong-0123456789abcdef")), false).status, 0);
  EXPECT_EQ(policy.Check(Request("/healthz", Bearer(kAdminSecret)), false).token_name, "ops");

  // No presented or configured secret appears in any message.
  for (const HttpAccessDecision& d : {missing, wrong, basic, forbidden}) {
    for (const char* secret : {kReadSecret, kAdminSecret, "nope-0123456789abcdef"}) {
      EXPECT_EQ(d.message.find(secret), std::string::npos) << d.message;
    }
  }
}

TEST(HttpAccessTest, QueryTokenOnlyOnWebSocketUpgrades) {
  const HttpAccessPolicy policy(TwoTokens());
  const std::string target = std::string("/v1/alerts?since=3&access_token=") + kReadSecret;
  EXPECT_EQ(policy.Check(Request(target), /*websocket_upgrade=*/true).status, 0);
  EXPECT_EQ(policy.Check(Request(target), /*websocket_upgrade=*/true).token_name, "ci");
  EXPECT_EQ(policy.Check(Request(target), /*websocket_upgrade=*/false).status, 401);
  HttpAccessDecision no_token = policy.Check(Request("/v1/alerts"), true);
  EXPECT_EQ(no_token.status, 401);
  EXPECT_NE(no_token.message.find("access_token"), std::string::npos);
  EXPECT_EQ(policy.Check(Request("/v1/alerts?access_token=wrong-0123456789abcdef"), true).status,
            401);
}

TEST(HttpRateLimiterTest, BurstThenSustainedRate) {
  testing::FakeClock clock;
  HttpRateLimiter limiter(/*per_second=*/2, /*burst=*/3, clock);
  for (int idx = 0; idx < 3; ++idx) EXPECT_EQ(limiter.Acquire("token:a"), 0) << idx;
  EXPECT_EQ(limiter.Acquire("token:a"), 1);  // empty: 0.5 s to the next request, rounded up
  EXPECT_EQ(limiter.Acquire("token:b"), 0);  // buckets are per key
  clock.AdvanceMillis(499);
  EXPECT_EQ(limiter.Acquire("token:a"), 1);
  clock.AdvanceMillis(1);
  EXPECT_EQ(limiter.Acquire("token:a"), 0);
  EXPECT_EQ(limiter.Acquire("token:a"), 1);
  clock.AdvanceMillis(10'000);  // refills to the burst, not beyond
  for (int idx = 0; idx < 3; ++idx) EXPECT_EQ(limiter.Acquire("token:a"), 0) << idx;
  EXPECT_EQ(limiter.Acquire("token:a"), 1);

  HttpRateLimiter slow(/*per_second=*/0.1, /*burst=*/1, clock);
  EXPECT_EQ(slow.Acquire("ip:1.2.3.4"), 0);
  EXPECT_EQ(slow.Acquire("ip:1.2.3.4"), 10);  // Retry-After in whole seconds
  clock.AdvanceMillis(4'000);
  EXPECT_EQ(slow.Acquire("ip:1.2.3.4"), 6);
}

TEST(HttpRateLimiterTest, ForgetsRefilledBuckets) {
  testing::FakeClock clock;
  HttpRateLimiter limiter(/*per_second=*/10, /*burst=*/5, clock);
  for (int idx = 0; idx < 1000; ++idx) EXPECT_EQ(limiter.Acquire("ip:" + std::to_string(idx)), 0);
  EXPECT_EQ(limiter.size(), 1000u);
  clock.AdvanceMillis(1000);  // every bucket is full again
  for (int idx = 1000; idx < 1100; ++idx)
    EXPECT_EQ(limiter.Acquire("ip:" + std::to_string(idx)), 0);
  EXPECT_LT(limiter.size(), 1024u);  // the sweep at 1024 forgot the full ones
  // A bucket still draining is kept: its limit holds across the sweep.
  testing::FakeClock clock2;
  HttpRateLimiter strict(/*per_second=*/0.01, /*burst=*/1, clock2);
  EXPECT_EQ(strict.Acquire("ip:hot"), 0);
  for (int idx = 0; idx < 2000; ++idx) EXPECT_EQ(strict.Acquire("ip:" + std::to_string(idx)), 0);
  EXPECT_GT(strict.Acquire("ip:hot"), 0);
}

}  // namespace
}  // namespace osprey::daemon
