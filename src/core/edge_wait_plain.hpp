#pragma once

// The EdgeWait of a build without EGRESS_ASIO_SHORTCUTS (core/edge_wait.hpp chooses): asio's
// public socket::async_wait. It re-arms the socket's epoll registration (one epoll_ctl per wait)
// so the kernel re-checks readiness, which makes every wait correct whatever happened before it:
// the relay's conditions for a syscall-free wait (edge_wait_reactor.hpp) need not hold, and the
// questions about the reactor's last report answer "not known", which costs the relay a read.

#include <boost/asio/ip/tcp.hpp>

namespace egress::core {

class EdgeWait final {
 public:
  enum class Kind { read, write };

  /// Called once per started wait: with an empty error code on readiness (or a hang-up or error,
  /// which the next read or write reports), operation_aborted when cancelled.
  using Callback = void (*)(void* context, const boost::system::error_code& ec);

  EdgeWait(void* context, Callback callback) : context_(context), callback_(callback) {}
  EdgeWait(const EdgeWait&) = delete;
  EdgeWait& operator=(const EdgeWait&) = delete;

  /// Not known without the reactor's state: the relay reads before it waits.
  static bool not_reported_readable(boost::asio::ip::tcp::socket&) { return false; }

  /// Not known without the reactor's state: the relay reads on until the queue is empty.
  static bool empty_behind_read(boost::asio::ip::tcp::socket&) { return false; }

  /// The kind of the wait last started.
  Kind kind() const noexcept { return kind_; }

  /// Starts the wait on `socket`. At most one at a time per EdgeWait.
  void start(boost::asio::ip::tcp::socket& socket, Kind kind) {
    kind_ = kind;
    socket.async_wait(kind == Kind::read ? boost::asio::socket_base::wait_read
                                         : boost::asio::socket_base::wait_write,
                      [this](const boost::system::error_code& ec) { callback_(context_, ec); });
  }

 private:
  void* context_;
  Callback callback_;
  Kind kind_ = Kind::read;
};

}  // namespace egress::core
