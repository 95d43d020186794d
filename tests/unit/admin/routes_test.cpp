#include "admin/routes.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

namespace egress::admin {
namespace {

Handlers handlers() {
  Handlers h;
  h.metrics = [] { return std::string("egress_up 1\n"); };
  h.not_ready_reason = [] { return std::optional<std::string>{}; };
  h.policy_json = [] { return std::string(R"({"version":"v1"})"); };
  return h;
}

TEST(AdminRoutes, EachPath) {
  const auto h = handlers();
  auto r = route(h, "GET", "/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok\n");
  r = route(h, "GET", "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(r.body, "egress_up 1\n");
  r = route(h, "GET", "/readyz");
  EXPECT_EQ(r.status, 200);
  r = route(h, "GET", "/policy");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(r.body, "{\"version\":\"v1\"}\n");
  r = route(h, "HEAD", "/metrics?name[]=x");
  EXPECT_EQ(r.status, 200) << "a query string is ignored";
}

TEST(AdminRoutes, NotReadyIs503WithTheReason) {
  auto h = handlers();
  h.not_ready_reason = [] { return std::optional<std::string>("audit log not writable"); };
  const auto r = route(h, "GET", "/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body, "not ready: audit log not writable\n");
  EXPECT_EQ(route(h, "GET", "/healthz").status, 200) << "alive even when not ready";
}

TEST(AdminRoutes, UnknownPathsAndMethods) {
  const auto h = handlers();
  EXPECT_EQ(route(h, "GET", "/").status, 404);
  EXPECT_EQ(route(h, "GET", "/metrics/").status, 404);
  EXPECT_EQ(route(h, "GET", "http://x/metrics").status, 404);
  EXPECT_EQ(route(h, "POST", "/nope").status, 404);
  const auto r = route(h, "POST", "/metrics");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.allow, "GET, HEAD");
  EXPECT_EQ(route(h, "DELETE", "/policy").status, 405);
}

TEST(AdminRoutes, AThrowingHandlerIs500AndEmptyHandlersAreSafe) {
  Handlers h;
  h.metrics = []() -> std::string { throw std::runtime_error("boom"); };
  const auto r = route(h, "GET", "/metrics");
  EXPECT_EQ(r.status, 500);
  EXPECT_NE(r.body.find("boom"), std::string::npos);
  EXPECT_EQ(route(h, "GET", "/readyz").status, 200);
  EXPECT_EQ(route(h, "GET", "/policy").body, "{}\n");
}

}  // namespace
}  // namespace egress::admin
