#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <span>
#include <string_view>

#include "base/ip_address.hpp"
#include "base/outcome.hpp"
#include "filters/filter.hpp"
#include "upstream/connect.hpp"
#include "upstream/happy_eyeballs.hpp"

namespace egress::core {

/// What the session's decide-and-connect part (serve) does to a connection besides running the
/// chain over it: the FilterContext the filters get, plus the upstream connect and the end of the
/// client's connection. core::Connection implements it over real sockets; tests use a fake.
class SessionIo : public filters::FilterContext {
 public:
  /// A timer for this connection's waits (the audit log's answer). One user at a time.
  virtual boost::asio::steady_timer& timer() noexcept = 0;
  /// Whether the client's first bytes are already here (its request came right behind the TCP
  /// or TLS handshake).
  virtual bool client_bytes_waiting() noexcept = 0;
  /// Connects the upstream socket to `dst`. `dst` and `options` are referenced: they must outlive
  /// the returned awaitable.
  virtual boost::asio::awaitable<upstream::ConnectResult> connect_upstream(
      const base::Endpoint& dst, const upstream::ConnectOptions& options) = 0;
  /// Connects the upstream socket to the first of `dsts` that answers (a CONNECT listener's
  /// allowed addresses, upstream::dial_in_order). Both are referenced: they must outlive the
  /// returned awaitable.
  virtual boost::asio::awaitable<upstream::DialResult> dial_upstream(
      std::span<const base::Endpoint> dsts, const upstream::ConnectOptions& options) = 0;
  /// Writes all of `bytes` on the client's stream (through its TLS session when one runs) within
  /// `limit` (a CONNECT listener's answer). With `last`, the sending side is ended afterwards
  /// (TLS close_notify, then TCP FIN) and what the client still sends is read and dropped until
  /// it ends its stream (at most 1 s), so the close that follows is a FIN, not an RST that could
  /// discard the answer. False when the bytes could not all be written.
  virtual boost::asio::awaitable<bool> write_client(std::string_view bytes, bool last,
                                                    std::chrono::milliseconds limit) = 0;
  /// Ends the client's connection (RST or FIN, as `ending` says) and closes the upstream one.
  virtual void end(base::Ending ending) noexcept = 0;
  /// The connection was ended from outside (drain).
  virtual bool force_closed() const noexcept = 0;

 protected:
  ~SessionIo() = default;
};

}  // namespace egress::core
