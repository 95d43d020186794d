#pragma once

#include <string>
#include <string_view>

#include "admin/admin_server.hpp"

namespace egress::admin {

/// What the admin endpoint answers to one request, before HTTP framing.
struct Response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::string allow;  ///< the Allow header of a 405
};

/// Content type of GET /metrics (Prometheus text exposition format 0.0.4).
inline constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

/// The admin endpoint's routing as a pure function: GET/HEAD /metrics, /healthz, /readyz,
/// /policy (a query string is ignored); 405 with Allow for other methods on those paths; 404 for
/// any other path; 500 when a handler throws. Never throws.
Response route(const Handlers& handlers, std::string_view method, std::string_view target);

}  // namespace egress::admin
