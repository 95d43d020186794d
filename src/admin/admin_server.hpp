#pragma once

// CONTRACT between egressd's main (which knows the workers, the policy store and the audit log)
// and the admin HTTP endpoint (Boost.Beast), which only serves what these callbacks return.

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "net/ip_address.hpp"

namespace egress::admin {

struct Handlers {
  /// Prometheus text exposition format (version 0.0.4) for GET /metrics.
  std::function<std::string()> metrics;
  /// nullopt when ready; otherwise why not (GET /readyz answers 503 with it).
  std::function<std::optional<std::string>()> not_ready_reason;
  /// JSON document for GET /policy.
  std::function<std::string()> policy_json;
};

/// Serves /metrics, /healthz, /readyz, /policy on one address; 404/405 for anything else.
/// Bounded header size, read timeouts, at most a few concurrent admin connections.
class AdminServer {
 public:
  /// Binds immediately; throws std::system_error with a clear message if it cannot.
  AdminServer(boost::asio::io_context& io, const net::Endpoint& address, Handlers handlers);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  /// The bound address (useful with port 0).
  net::Endpoint local_endpoint() const;
  /// Stops accepting and closes open admin connections.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace egress::admin
