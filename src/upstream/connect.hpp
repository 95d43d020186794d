#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <string>

#include "base/ip_address.hpp"
#include "base/reason.hpp"

namespace egress::upstream {

/// How the original-destination cluster opens upstream connections.
struct ConnectOptions {
  std::chrono::milliseconds timeout{5000};
  std::uint32_t mark = 0;  ///< SO_MARK; 0 = leave unset
  /// The client's first bytes are already waiting, so they go out right after the connect: the
  /// ACK that completes the handshake is held back (TCP_QUICKACK off) and travels with them
  /// instead of as a packet of its own. Never for a client that has sent nothing: a server that
  /// speaks first (SSH, SMTP) would see the connection only when the delayed ACK fires.
  bool client_bytes_waiting = false;
};

/// The outcome of one upstream connect: Reason{} on success, else upstream_refused,
/// upstream_timeout, upstream_unreachable or upstream_error, with the system's message.
struct ConnectResult {
  base::Reason error{};
  std::string detail;
  bool ok() const noexcept { return error == base::Reason{}; }
};

/// Maps a connect error to its close reason (refused / timeout / unreachable / other).
base::Reason classify_connect_error(const boost::system::error_code& ec) noexcept;

/// Opens `socket` for `dst`'s family, sets SO_MARK (when non-zero), TCP_NODELAY (and TCP_QUICKACK
/// off with client_bytes_waiting), and connects, racing the connect against `timer`
/// (connect_timeout). Never throws for I/O errors.
/// `dst`, like the socket and timer, must outlive the returned awaitable (it is referenced).
boost::asio::awaitable<ConnectResult> connect(boost::asio::ip::tcp::socket& socket,
                                              const base::Endpoint& dst,
                                              const ConnectOptions& options,
                                              boost::asio::steady_timer& timer);

}  // namespace egress::upstream
