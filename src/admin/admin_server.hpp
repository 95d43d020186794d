#pragma once

// The admin HTTP endpoint (Boost.Beast). egressd's main, which knows the workers, the policy
// store and the audit log, gives it callbacks; it serves only what they return.

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "base/ip_address.hpp"

namespace egress::admin {

struct Handlers {
  /// Prometheus text exposition format (version 0.0.4) for GET /metrics.
  std::function<std::string()> metrics;
  /// nullopt when ready; otherwise why not (GET /readyz answers 503 with it).
  std::function<std::optional<std::string>()> not_ready_reason;
  /// JSON document for GET /policy.
  std::function<std::string()> policy_json;
};

/// Resource bounds of the admin endpoint (the defaults suit a Prometheus scraper and a probe).
struct Limits {
  std::size_t max_connections = 16;  ///< more concurrent connections are closed at accept
  std::size_t max_header_bytes =
      8192;                           ///< a larger request head gets 431 and the connection closes
  std::size_t max_body_bytes = 4096;  ///< a larger request body gets 413
  std::chrono::milliseconds read_timeout{5000};  ///< per request (slow clients are cut off)
  unsigned max_requests_per_connection = 100;
};

/// Serves /metrics, /healthz, /readyz, /policy on one address; 404/405 for anything else.
/// Bounded header size, read timeouts, at most a few concurrent admin connections. Runs on the
/// given io_context (one coroutine per connection); handlers are called on its thread.
class AdminServer {
 public:
  /// Binds immediately; throws std::system_error with a clear message if it cannot.
  AdminServer(boost::asio::io_context& io, const base::Endpoint& address, Handlers handlers);
  /// Same, with explicit limits.
  AdminServer(boost::asio::io_context& io, const base::Endpoint& address, Handlers handlers,
              Limits limits);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  /// The bound address (useful with port 0).
  base::Endpoint local_endpoint() const;
  /// Stops accepting and closes open admin connections. Callable from any thread (the sockets
  /// are closed on the io_context's thread); no handler starts after it returns, but one already
  /// running on the io_context's thread may finish. Idempotent; also done by the destructor.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace egress::admin
