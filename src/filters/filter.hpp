#pragma once

#include <boost/asio/awaitable.hpp>
#include <string_view>

#include "core/connection.hpp"

namespace egress::filters {

/// What a filter decided about a connection.
enum class Verdict { Continue, Deny };

/// One stage of a listener's chain (original_dst, loop guard, tls_identity, policy, ...), in the
/// spirit of Envoy's Network::ListenerFilter but as a coroutine. Filter objects belong to one
/// worker (no locking needed) and are shared by all of that worker's connections on a listener.
class ConnectionFilter {
 public:
  virtual ~ConnectionFilter() = default;

  /// Short name for logs ("original_dst").
  virtual std::string_view name() const noexcept = 0;

  /// Looks at (and may add facts to) `conn`. Returns Continue to pass it on, or Deny after
  /// calling conn.deny(reason, detail) — the chain stops there and the connection is reset.
  /// Waiting for bytes (a TLS handshake) is a co_await inside; must not throw for I/O errors.
  virtual boost::asio::awaitable<Verdict> on_accept(core::Connection& conn) = 0;
};

}  // namespace egress::filters
