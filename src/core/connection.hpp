#pragma once

#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "base/outcome.hpp"
#include "core/redecide.hpp"
#include "core/session_io.hpp"
#include "core/via_stream.hpp"
#include "core/via_tunnel.hpp"
#include "filters/filter.hpp"
#include "filters/listener_info.hpp"
#include "tls/tls_socket.hpp"

namespace egress::core {

/// One client connection: both sockets, the TLS session over the client's one, the timer, and
/// the facts the chain gathers. Owned by core/session.cpp (on the heap: first by the serving
/// coroutine, then by the relay's completion handler). It is the SessionIo (and so the
/// FilterContext) of its own connection: filters reach the sockets only through that narrow
/// interface.
class Connection final : public SessionIo {
 public:
  using tcp = boost::asio::ip::tcp;

  Connection(tcp::socket downstream, std::uint64_t id, const filters::ListenerInfo& listener)
      : facts(id, listener),
        socket_(std::move(downstream)),
        upstream_(socket_.get_executor()),
        timer_(socket_.get_executor()) {}
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // --- facts -----------------------------------------------------------------------------------
  filters::Facts facts;
  std::chrono::steady_clock::time_point accepted_at = std::chrono::steady_clock::now();

  // --- sockets (for the session and the relay) -------------------------------------------------
  /// The client's TCP socket (also the lower layer of `tls`).
  tcp::socket& socket() noexcept { return socket_; }
  /// The upstream socket (closed until the upstream connect).
  tcp::socket& upstream() noexcept { return upstream_; }
  /// Set by a successful tls_handshake(); the relay then runs over it instead of the socket.
  std::optional<tls::TlsSocket> tls;

  /// The egressd agent (upstream.via): set before the upstream connect, which then dials the
  /// gateway through `via` instead of the destination; `instance` is the audit log's instance id
  /// (the prefix of the conn_id the agent sends). Both must outlive the connection.
  void use_via(const ViaTunnel* via, const std::string* instance) noexcept {
    via_ = via;
    instance_ = instance;
  }
  /// After a successful dial through the gateway: the tunnel's stream, the relay's upstream.
  ViaStream* via_stream() noexcept { return via_stream_ ? &*via_stream_ : nullptr; }

  /// Ends both sockets: with Ending::reset an RST on each (a reset passed on), else a FIN.
  void end_both(base::Ending ending) noexcept;

  // FilterContext
  filters::OriginalDstResult original_dst() override;
  boost::asio::awaitable<tls::HandshakeOutcome> tls_handshake(
      const tls::ServerContext& context, std::chrono::milliseconds deadline) override;
  boost::asio::awaitable<filters::Peeked> peek(std::size_t max,
                                               std::chrono::milliseconds deadline) override;
  bool discard(std::size_t n) override;

  // SessionIo
  boost::asio::steady_timer& timer() noexcept override { return timer_; }
  bool client_bytes_waiting() noexcept override;
  boost::asio::awaitable<upstream::ConnectResult> connect_upstream(
      const base::Endpoint& dst, const upstream::ConnectOptions& options) override;
  boost::asio::awaitable<upstream::DialResult> dial_upstream(
      std::span<const base::Endpoint> dsts, const upstream::ConnectOptions& options) override;
  boost::asio::awaitable<bool> write_client(std::string_view bytes, bool last,
                                            std::chrono::milliseconds limit) override;
  void end(base::Ending ending) noexcept override;
  bool force_closed() const noexcept override { return forced_; }
  /// The flag force_closed() reads, for the relay to stop at its next turn (RelayOptions::stopped).
  const bool* forced_flag() const noexcept { return &forced_; }

  // --- shutdown --------------------------------------------------------------------------------
  /// Drain: ends the connection from outside its stages (same thread): both sockets are shut
  /// down and pending operations cancelled, so every stage returns promptly.
  void force_close() noexcept;
  /// Ends a relayed connection that may no longer run (same thread): its pending operations are
  /// cancelled, the relay's end then writes `why` and resets both sides. Also force_closed().
  void revoke(Revocation why) noexcept;
  /// Set by revoke().
  const std::optional<Revocation>& revoked() const noexcept { return revoked_; }
  /// Set when the relay starts: only relayed connections are re-decided.
  bool relaying = false;

  /// Intrusive list of a worker's live connections (for drain); owned by the worker.
  Connection* prev_live = nullptr;
  Connection* next_live = nullptr;

 private:
  boost::asio::awaitable<filters::Peeked> peek_tcp(std::size_t max,
                                                   std::chrono::steady_clock::time_point until);
  boost::asio::awaitable<filters::Peeked> peek_tls(std::size_t max,
                                                   std::chrono::steady_clock::time_point until);
  /// After an answer and the end of our sending side: reads and drops what the client still
  /// sends until it ends its stream or `until`, so the close is a FIN, not an RST.
  boost::asio::awaitable<void> linger(std::chrono::steady_clock::time_point until);
  /// Waits until the client's socket is readable or `until` passes (false then).
  boost::asio::awaitable<bool> wait_readable(std::chrono::steady_clock::time_point until);

  boost::asio::awaitable<upstream::ConnectResult> connect_via(
      const base::Endpoint& dst, const upstream::ConnectOptions& options);

  tcp::socket socket_;
  tcp::socket upstream_;
  boost::asio::steady_timer timer_;
  const ViaTunnel* via_ = nullptr;
  const std::string* instance_ = nullptr;
  std::shared_ptr<const tls::ClientContext> via_context_;  ///< outlives via_tls_ (declared before)
  std::optional<tls::TlsSocket> via_tls_;  ///< over upstream_ (declared after it: dies first)
  std::optional<ViaStream> via_stream_;    ///< over via_tls_
  std::string peeked_;  ///< the first bytes seen by peek(); allocated only when a filter peeks
  bool forced_ = false;
  std::optional<Revocation> revoked_;
};

}  // namespace egress::core
