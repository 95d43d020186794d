#pragma once

// Dialling several addresses of one destination (a CONNECT name's allowed answers, issue 20) the
// way RFC 8305 section 5 does: in order, a new attempt every 300 ms while none has answered.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <optional>
#include <span>

#include "base/ip_address.hpp"
#include "upstream/connect.hpp"

namespace egress::upstream {

/// RFC 8305's recommended Connection Attempt Delay.
inline constexpr std::chrono::milliseconds kAttemptDelay{300};

/// The outcome of dialling a list of addresses.
struct DialResult {
  /// ok(): `socket` is connected to `connected`. Otherwise the failure, classified as
  /// upstream::connect does: upstream_timeout when connect_timeout passed before every attempt
  /// failed, else the last attempt's reason (refused, unreachable, error). With several
  /// addresses the detail names each address tried with its error.
  ConnectResult result;
  std::optional<base::Endpoint> connected;
};

/// Connects `socket` to the first of `dsts` that answers: attempt i + 1 starts `attempt_delay`
/// after attempt i started, or at once when every attempt so far has failed; the first connected
/// attempt wins and the others are cancelled and closed. The whole is bounded by
/// `options.timeout`; each attempt is an upstream::connect with `options` (SO_MARK, ...) and its
/// own socket. `dsts` empty: upstream_error. Never throws for I/O errors. `socket`, `dsts` and
/// `options` must outlive the returned awaitable.
boost::asio::awaitable<DialResult> dial_in_order(
    boost::asio::ip::tcp::socket& socket, std::span<const base::Endpoint> dsts,
    const ConnectOptions& options, std::chrono::milliseconds attempt_delay = kAttemptDelay);

}  // namespace egress::upstream
