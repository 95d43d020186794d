#include "core/listener.hpp"

#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <system_error>

#include "base/asio_endpoint.hpp"
#include "core/session.hpp"
#include "core/worker.hpp"
#include "net/accept_backoff.hpp"
#include "net/log_throttle.hpp"
#include "net/tcp_queue_hint.hpp"
#include "upstream/connect.hpp"

namespace egress::core {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

tcp::acceptor open_socket(asio::io_context& io, const config::ListenerConfig& listener,
                          bool reuse_port) {
  const tcp::endpoint ep = base::to_asio(listener.address);
  tcp::acceptor acceptor(io);
  auto fail = [&](const char* what, int err) {
    throw std::system_error(
        err, std::generic_category(),
        "listener \"" + listener.name + "\" " + listener.address.to_string() + ": " + what);
  };
  boost::system::error_code ec;
  acceptor.open(ep.protocol(), ec);
  if (ec) fail("socket", ec.value());
  const int fd = acceptor.native_handle();
  const int one = 1;
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
    fail("SO_REUSEADDR", errno);
  if (reuse_port && ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
    fail("SO_REUSEPORT", errno);
  }
  if (ep.protocol() == tcp::v6()) {
    const int v6only = listener.v6_only ? 1 : 0;
    if (::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)) != 0) {
      fail("IPV6_V6ONLY", errno);
    }
  }
  if (listener.destination == config::DestinationMode::tproxy) {
    // TPROXY delivers connections addressed to non-local destinations; the listening socket
    // must be transparent (needs CAP_NET_ADMIN).
    if (::setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one)) != 0) {
      fail("IP_TRANSPARENT (needs CAP_NET_ADMIN)", errno);
    }
    if (ep.protocol() == tcp::v6() &&
        ::setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &one, sizeof(one)) != 0) {
      fail("IPV6_TRANSPARENT (needs CAP_NET_ADMIN)", errno);
    }
  }
  acceptor.bind(ep, ec);
  if (ec) fail("bind", ec.value());
  return acceptor;
}

}  // namespace

tcp::acceptor open_acceptor(asio::io_context& io, const config::ListenerConfig& listener) {
  tcp::acceptor acceptor = open_socket(io, listener, true);
  boost::system::error_code ec;
  // Linux copies TCP_NODELAY from the listening socket to every accepted one: set once here,
  // it costs no setsockopt per connection.
  acceptor.set_option(tcp::no_delay(true), ec);
  if (ec) {
    throw std::system_error(
        ec.value(), std::generic_category(),
        "listener \"" + listener.name + "\" " + listener.address.to_string() + ": TCP_NODELAY");
  }
  // Likewise TCP_INQ, which lets the relay skip a read per burst (net/tcp_queue_hint.hpp). Only
  // an optimisation: a kernel without it costs reads, not correctness.
  (void)net::enable_queue_hint(acceptor.native_handle());
  acceptor.listen(SOMAXCONN, ec);
  if (ec) {
    throw std::system_error(
        ec.value(), std::generic_category(),
        "listener \"" + listener.name + "\" " + listener.address.to_string() + ": listen");
  }
  return acceptor;
}

void check_address_free(const config::ListenerConfig& listener) {
  // SO_REUSEPORT would let a second gateway (same user) bind the same port and silently take
  // half the connections. A plain bind conflicts with any socket already there, so try one first.
  asio::io_context io;
  tcp::acceptor probe = open_socket(io, listener, false);
  boost::system::error_code ignored;
  probe.close(ignored);
}

asio::awaitable<void> accept_loop(Worker& worker, std::size_t listener, tcp::acceptor& acceptor) {
  using asio::as_tuple;
  using asio::use_awaitable;
  net::AcceptBackoff backoff(acceptor.get_executor());
  // One line per 10 s for all workers and listeners: out of descriptors, every worker's acceptor
  // fails ten times a second.
  static net::LogThrottle throttle;
  for (;;) {
    // The peer comes back from accept() itself (no getpeername per connection).
    tcp::endpoint peer;
    auto [ec, socket] = co_await acceptor.async_accept(peer, as_tuple(use_awaitable));
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      if (net::out_of_resources(ec)) {
        if (const auto held = throttle.admit()) {
          spdlog::warn("listener {}: accept: {} (backing off {}ms){}",
                       worker.runtime().listeners[listener].name(), ec.message(),
                       net::kAcceptBackoff.count(), net::suppressed(*held));
        }
        co_await backoff.pause_if_exhausted(ec);
      }
      continue;
    }
    asio::co_spawn(worker.io(), serve_connection(worker, listener, std::move(socket), peer),
                   asio::detached);
  }
}

}  // namespace egress::core
