#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "config/config.hpp"

namespace egress::core {

class Worker;

/// Opens one worker's acceptor for a listener: SO_REUSEPORT (each worker has its own, the kernel
/// spreads connections), SO_REUSEADDR, IPV6_V6ONLY as the config says for "[::]", and
/// IP_TRANSPARENT / IPV6_TRANSPARENT for tproxy listeners. Throws std::system_error whose
/// what() names the listener and address.
boost::asio::ip::tcp::acceptor open_acceptor(boost::asio::io_context& io,
                                             const config::ListenerConfig& listener);

/// Fails (std::system_error, "bind: Address already in use") when anything is bound to the
/// listener's address already — such as another egressd — before the SO_REUSEPORT acceptors are
/// opened. Call once per listener at startup.
void check_address_free(const config::ListenerConfig& listener);

/// Accepts until the acceptor is closed, spawning one connection coroutine per client.
boost::asio::awaitable<void> accept_loop(Worker& worker, std::size_t listener,
                                         boost::asio::ip::tcp::acceptor& acceptor);

}  // namespace egress::core
