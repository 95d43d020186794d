#include "upstream/connect.hpp"

#include "base/asio_endpoint.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstring>
#include <optional>

#include "net/socket_registration.hpp"
#include "net/tcp_queue_hint.hpp"

namespace egress::upstream {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using base::Reason;

base::Reason classify_connect_error(const boost::system::error_code& ec) noexcept {
  if (ec == asio::error::connection_refused) return base::Reason::upstream_refused;
  if (ec == asio::error::timed_out) return base::Reason::upstream_timeout;
  if (ec == asio::error::host_unreachable || ec == asio::error::network_unreachable ||
      ec == boost::system::error_code(EHOSTDOWN, boost::system::system_category()) ||
      ec == boost::system::error_code(ENONET, boost::system::system_category())) {
    return base::Reason::upstream_unreachable;
  }
  return base::Reason::upstream_error;
}

namespace {

ConnectResult failed(int err) {
  const boost::system::error_code ec(err, boost::system::system_category());
  return {classify_connect_error(ec), ec.message()};
}

/// The outcome of a non-blocking connect on `fd`, or nothing while it is still in progress
/// (tcpi_state SYN_SENT). One getsockopt; a second (SO_ERROR) only when the attempt failed.
std::optional<ConnectResult> connect_outcome(int fd) {
  ::tcp_info info{};
  socklen_t len = sizeof(info);
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return failed(errno);
  if (info.tcpi_state == TCP_SYN_SENT) return std::nullopt;
  if (info.tcpi_state != TCP_CLOSE) return ConnectResult{};
  int err = 0;
  len = sizeof(err);
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  return failed(err != 0 ? err : ECONNRESET);
}

}  // namespace

asio::awaitable<ConnectResult> connect(tcp::socket& socket, const base::Endpoint& dst,
                                       const ConnectOptions& options, asio::steady_timer& timer) {
  using namespace asio::experimental::awaitable_operators;
  using asio::as_tuple;
  using asio::use_awaitable;

  const tcp::endpoint ep = base::to_asio(dst);
  boost::system::error_code ec;
  if (socket.is_open()) socket.close(ec);
  // Non-blocking from the start, for connect(2): no FIONBIO. asio's own operations do not need
  // to know (the relay reads and writes with MSG_DONTWAIT; asio would set FIONBIO itself before
  // any operation of its own that needs it).
  const int fd =
      ::socket(ep.protocol().family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
  if (fd < 0)
    co_return ConnectResult{base::Reason::upstream_error,
                            std::string("socket: ") + std::strerror(errno)};
  socket.assign(ep.protocol(), fd, ec);
  if (ec) {
    ::close(fd);
    co_return ConnectResult{base::Reason::upstream_error, "socket: " + ec.message()};
  }
  net::mark_not_duplicated(socket);
  // A new socket has had no report from epoll: saves the relay a read (EdgeWait).
  net::forget_reported_events(socket);
  if (options.mark != 0) {
    const int mark = static_cast<int>(options.mark);
    if (::setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) != 0) {
      co_return ConnectResult{base::Reason::upstream_error,
                              std::string("SO_MARK: ") + std::strerror(errno)};
    }
  }
  socket.set_option(tcp::no_delay(true), ec);
  (void)net::enable_queue_hint(fd);  // an optimisation of the relay's reads, see the header
  if (options.client_bytes_waiting) {
    // Only saves a packet: a failure changes nothing else, so it is not an error.
    const int off = 0;
    (void)::setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &off, sizeof off);
  }
  // connect(2) ourselves, then wait for writability and read the outcome with one getsockopt:
  // asio's async_connect adds a poll(2) per connection to guard against spurious readiness, which
  // tcpi_state guards against here (a socket still in SYN_SENT waits again).
  if (::connect(fd, ep.data(), static_cast<socklen_t>(ep.size())) == 0) co_return ConnectResult{};
  if (errno != EINPROGRESS) co_return failed(errno);

  // A destination on a near link often answers while connect(2) is still in the kernel (the SYN
  // and its SYN-ACK are processed in the same softirq): look before waiting, so such a connection
  // costs no readiness wait, no timer and no wake-up.
  if (auto settled = connect_outcome(fd)) co_return *settled;
  timer.expires_after(options.timeout);
  for (;;) {
    auto result = co_await (socket.async_wait(tcp::socket::wait_write, as_tuple(use_awaitable)) ||
                            timer.async_wait(as_tuple(use_awaitable)));
    if (result.index() == 1) {
      // The timer won: the wait was cancelled by the || operator.
      co_return ConnectResult{base::Reason::upstream_timeout, "no answer within connect_timeout"};
    }
    const auto [wec] = std::get<0>(result);
    if (wec) co_return ConnectResult{classify_connect_error(wec), wec.message()};
    if (auto settled = connect_outcome(fd)) co_return *settled;
    // spurious readiness: still connecting, wait again
  }
}

}  // namespace egress::upstream
