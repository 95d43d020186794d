#pragma once

// A TCP socket in the relay's non-blocking vocabulary (net::IoResult): every call is one
// recv/send/shutdown with MSG_DONTWAIT and reports EAGAIN as "wait for readiness".

#include <sys/socket.h>

#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cerrno>
#include <cstddef>

#include "net/io_result.hpp"

namespace egress::core {

class TcpStream {
 public:
  explicit TcpStream(boost::asio::ip::tcp::socket& socket) noexcept : socket_(socket) {}

  /// A read shorter than asked means the socket's receive queue was empty at that moment, so the
  /// relay may wait for readability without another read (the wait re-arms and re-checks).
  static constexpr bool kShortReadDrains = true;

  boost::asio::ip::tcp::socket& socket() noexcept { return socket_; }

  net::IoResult read_some(std::byte* buf, std::size_t len) noexcept {
    for (;;) {
      const ssize_t n = ::recv(socket_.native_handle(), buf, len, MSG_DONTWAIT);
      if (n > 0) return net::IoResult::transferred(static_cast<std::size_t>(n));
      if (n == 0) return net::IoResult::end();
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return net::IoResult::wait_read();
      return net::IoResult::failed(last_error());
    }
  }

  /// With `more_follows`, the kernel holds a last partial segment back (MSG_MORE) until the next
  /// write, shutdown_send or close, which then sends it, FIN included.
  net::IoResult write_some(const std::byte* buf, std::size_t len,
                           bool more_follows = false) noexcept {
    const int flags = MSG_DONTWAIT | MSG_NOSIGNAL | (more_follows ? MSG_MORE : 0);
    for (;;) {
      const ssize_t n = ::send(socket_.native_handle(), buf, len, flags);
      if (n >= 0) return net::IoResult::transferred(static_cast<std::size_t>(n));
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return net::IoResult::wait_write();
      return net::IoResult::failed(last_error());
    }
  }

  /// FIN: no more bytes will be sent (the other direction keeps flowing).
  net::IoResult shutdown_send() noexcept {
    if (::shutdown(socket_.native_handle(), SHUT_WR) == 0 || errno == ENOTCONN) {
      return net::IoResult::transferred(0);
    }
    return net::IoResult::failed(last_error());
  }

 private:
  static boost::system::error_code last_error() noexcept {
    return {errno, boost::asio::error::get_system_category()};
  }

  boost::asio::ip::tcp::socket& socket_;
};

}  // namespace egress::core
