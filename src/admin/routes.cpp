#include "admin/routes.hpp"

#include <exception>

namespace egress::admin {
namespace {

Response text(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

Response serve(const Handlers& handlers, std::string_view path) {
  if (path == "/healthz") return text(200, "ok\n");
  if (path == "/readyz") {
    const auto reason = handlers.not_ready_reason ? handlers.not_ready_reason() : std::nullopt;
    return reason ? text(503, "not ready: " + *reason + "\n") : text(200, "ok\n");
  }
  if (path == "/metrics") {
    Response r = text(200, handlers.metrics ? handlers.metrics() : std::string{});
    r.content_type = kMetricsContentType;
    return r;
  }
  Response r = text(200, handlers.policy_json ? handlers.policy_json() : std::string("{}"));
  r.content_type = "application/json";
  if (r.body.empty() || r.body.back() != '\n') r.body += '\n';
  return r;
}

}  // namespace

Response route(const Handlers& handlers, std::string_view method, std::string_view target) {
  const std::string_view path = target.substr(0, target.find('?'));
  if (path != "/metrics" && path != "/healthz" && path != "/readyz" && path != "/policy") {
    return text(404, "not found\n");
  }
  if (method != "GET" && method != "HEAD") {
    Response r = text(405, "method not allowed\n");
    r.allow = "GET, HEAD";
    return r;
  }
  try {
    return serve(handlers, path);
  } catch (const std::exception& e) {
    return text(500, std::string("internal error: ") + e.what() + "\n");
  } catch (...) {
    return text(500, "internal error\n");
  }
}

}  // namespace egress::admin
