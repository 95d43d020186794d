#pragma once

#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "base/ip_address.hpp"
#include "base/reason.hpp"
#include "config/config.hpp"
#include "core/metrics.hpp"
#include "policy/facts.hpp"
#include "tls/tls_socket.hpp"

namespace egress::policy {
class Policy;
class PolicyStore;
}  // namespace egress::policy

namespace egress::core {

/// A configured listener as the data path sees it: its index (for metrics tables) and config.
/// Immutable; shared by every worker.
struct ListenerInfo {
  std::size_t index = 0;
  config::ListenerConfig config;
  const std::string& name() const noexcept { return config.name; }
};

/// One client connection and everything learned about it so far. Owned by core/session.cpp (on
/// the heap: first by the serving coroutine, then by the relay's completion handler), and owns
/// both sockets; filters receive it by reference and fill in facts (destination, identity,
/// decision) or deny it.
///
/// TLS: a filter may put a TLS session over the downstream socket with
/// `tls.emplace(socket(), ctx->new_ssl())`, do the handshake, and set `identity` and
/// `tls_version`; the relay then runs over `*tls` instead of the plain socket. The TCP socket
/// stays owned here (the session holds a reference).
class Connection {
 public:
  using tcp = boost::asio::ip::tcp;

  Connection(tcp::socket downstream, std::uint64_t id, const ListenerInfo& listener,
             WorkerMetrics& metrics)
      : id(id),
        listener(listener),
        metrics(metrics),
        socket_(std::move(downstream)),
        upstream_(socket_.get_executor()),
        timer_(socket_.get_executor()) {}
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // --- sockets ---------------------------------------------------------------------------------
  /// The client's TCP socket (also the lower layer of `tls`).
  tcp::socket& socket() noexcept { return socket_; }
  /// The upstream socket (closed until the upstream connect).
  tcp::socket& upstream() noexcept { return upstream_; }
  /// A timer for this connection's deadlines (handshake, audit wait, relay watchdog). One user at
  /// a time: the stages run one after another.
  boost::asio::steady_timer& timer() noexcept { return timer_; }
  /// Set by a TLS filter after a successful handshake.
  std::optional<tls::TlsSocket> tls;

  // --- facts -----------------------------------------------------------------------------------
  const std::uint64_t id;
  const ListenerInfo& listener;
  WorkerMetrics& metrics;
  std::chrono::steady_clock::time_point accepted_at = std::chrono::steady_clock::now();
  base::Endpoint src;                      ///< the client (v4-mapped normalised to IPv4)
  base::Endpoint local;                    ///< the accepted socket's local address
  std::optional<base::Endpoint> dst;       ///< the original destination, once known
  std::optional<base::Identity> identity;  ///< a verified client certificate's identity
  std::string tls_version;                 ///< "TLSv1.3" etc., empty for plain TCP

  // --- decision --------------------------------------------------------------------------------
  /// The policy that decided (keeps `decision`'s string views alive): the snapshot the policy
  /// filter takes when it evaluates, once per connection, so a reload during the TLS handshake
  /// decides the connection by the new policy. Null for a connection denied before that step.
  std::shared_ptr<const policy::Policy> policy;
  /// The running policy, for the records of connections denied before the policy step (their
  /// policy_version is the one running when the record is made). Null in some tests.
  const policy::PolicyStore* policy_store = nullptr;
  /// Set by the policy filter.
  std::optional<policy::Decision> decision;

  /// Marks the connection denied with a data-path reason (first call wins).
  void deny(base::Reason reason, std::string detail = {}) {
    if (denied_) return;
    denied_ = reason;
    deny_detail_ = std::move(detail);
  }
  /// The data-path deny reason, if any.
  std::optional<base::Reason> denied() const noexcept { return denied_; }
  const std::string& deny_detail() const noexcept { return deny_detail_; }

  // --- shutdown --------------------------------------------------------------------------------
  /// Drain: ends the connection from outside its stages (same thread): both sockets are shut
  /// down and pending operations cancelled, so every stage returns promptly.
  void force_close() noexcept {
    forced_ = true;
    for (tcp::socket* s : {&socket_, &upstream_}) {
      if (!s->is_open()) continue;
      ::shutdown(s->native_handle(), SHUT_RDWR);
      boost::system::error_code ignored;
      s->cancel(ignored);
    }
  }
  bool force_closed() const noexcept { return forced_; }

  /// Intrusive list of a worker's live connections (for drain); owned by the worker.
  Connection* prev_live = nullptr;
  Connection* next_live = nullptr;

 private:
  tcp::socket socket_;
  tcp::socket upstream_;
  boost::asio::steady_timer timer_;
  std::optional<base::Reason> denied_;
  std::string deny_detail_;
  bool forced_ = false;
};

}  // namespace egress::core
