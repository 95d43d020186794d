#pragma once

// A TCP socket in the relay's non-blocking vocabulary (net::IoResult): every call is one
// recvmsg/send/shutdown with MSG_DONTWAIT and reports EAGAIN as "wait for readiness".
//
// A read also says whether anything is left behind it (TCP_INQ, Linux 4.18): bytes that arrived
// meanwhile, or the peer's FIN, which a read that returns data never reports. The kernel tells
// this only on sockets that asked for it (net::enable_queue_hint; accepted sockets inherit it
// from the listening socket).

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cerrno>
#include <cstddef>
#include <cstring>

#include "net/io_result.hpp"
#include "net/tcp_queue_hint.hpp"

namespace egress::core {

class TcpStream {
 public:
  explicit TcpStream(boost::asio::ip::tcp::socket& socket) noexcept : socket_(socket) {}

  boost::asio::ip::tcp::socket& socket() noexcept { return socket_; }

  net::IoResult read_some(std::byte* buf, std::size_t len) noexcept {
    iovec iov{buf, len};
    alignas(cmsghdr) unsigned char control[CMSG_SPACE(sizeof(int))];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    for (;;) {
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      const ssize_t n = ::recvmsg(socket_.native_handle(), &msg, MSG_DONTWAIT);
      if (n > 0) {
        nothing_behind_ = queue_left(msg) == 0;
        return net::IoResult::transferred(static_cast<std::size_t>(n));
      }
      nothing_behind_ = false;
      if (n == 0) return net::IoResult::end();
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return net::IoResult::wait_read();
      return net::IoResult::failed(last_error());
    }
  }

  /// After a read that returned bytes: the kernel said the receive queue was empty behind them,
  /// no FIN included. False when it said otherwise or said nothing (no net::enable_queue_hint). A
  /// reset that arrived with the bytes is not included: the kernel does not count it.
  bool nothing_behind() const noexcept { return nothing_behind_; }

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

  /// The TCP_CM_INQ control message: bytes left (1 for a FIN alone); -1 when absent.
  static int queue_left(msghdr& msg) noexcept {
    if ((msg.msg_flags & MSG_CTRUNC) != 0) return -1;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_TCP && c->cmsg_type == TCP_CM_INQ) {
        int left = -1;
        std::memcpy(&left, CMSG_DATA(c), sizeof left);
        return left;
      }
    }
    return -1;
  }

  boost::asio::ip::tcp::socket& socket_;
  bool nothing_behind_ = false;
};

}  // namespace egress::core
