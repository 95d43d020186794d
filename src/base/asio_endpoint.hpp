#pragma once

// Conversions between the project's endpoint type and Asio's, for the code that owns sockets
// (listeners, the upstream connect, the admin server, the session).

#include <boost/asio/ip/tcp.hpp>

#include "base/ip_address.hpp"

namespace egress::base {

/// base::Endpoint → Asio endpoint.
boost::asio::ip::tcp::endpoint to_asio(const Endpoint& e) noexcept;
/// Asio endpoint → base::Endpoint (v4-mapped normalised to IPv4).
Endpoint from_asio(const boost::asio::ip::tcp::endpoint& e) noexcept;

}  // namespace egress::base
