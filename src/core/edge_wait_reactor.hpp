#pragma once

// The EdgeWait of an EGRESS_ASIO_SHORTCUTS build (core/edge_wait.hpp chooses). A wait for a TCP
// socket to become readable or writable that costs no syscall to start.
//
// asio registers every socket with its epoll set once, edge-triggered (EPOLLIN|EPOLLET, ...). Its
// public wait (socket::async_wait) re-arms that registration with an epoll_ctl(MOD) each time, so
// the kernel re-checks readiness: one syscall per wait, on a keep-alive relay one of every three.
// This wait instead queues itself on the registration as it is, the way asio queues its own
// speculative reads and writes, and completes on the socket's next report by epoll. (A socket's
// first write wait adds EPOLLOUT to its registration: one MOD per socket, as asio's own writes
// do.)
//
// That is only correct when the socket is not ready when the wait starts, or its readiness is
// still waiting to be reported; else no report comes. The caller makes sure of it:
//  * write: in the same handler (no return to the event loop since, which could take the report
//    of freed space), a send returned EAGAIN;
//  * read, one of:
//    - in the same handler, a read returned EAGAIN; or it returned bytes, TCP_INQ said nothing
//      was behind them, no FIN included (TcpStream::nothing_behind), and the socket's last report
//      has no EPOLLERR/EPOLLHUP (a reset that came with the bytes: TCP_INQ does not count it;
//      one that came after the last report is still to be reported): empty_behind_read();
//    - at any time: the socket's last report did not say readable (not_reported_readable()).
//
// Written against Boost 1.81's epoll_reactor (Debian 12): detail::reactor_op and
// epoll_reactor::start_op, besides what net/asio_reactor_internals.hpp reads. One object per
// direction of a relay, embedded and reused for each wait: no allocation. Cancelled like any
// operation on the socket (socket.cancel(), close).

#include <sys/epoll.h>

#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/query.hpp>

#include "net/asio_reactor_internals.hpp"

namespace egress::core {

class EdgeWait final : public boost::asio::detail::reactor_op {
 public:
  enum class Kind { read, write };

  /// Called once per started wait: with an empty error code on readiness (or a hang-up or error,
  /// which the next read or write reports), operation_aborted when cancelled.
  using Callback = void (*)(void* context, const boost::system::error_code& ec);

  EdgeWait(void* context, Callback callback)
      : reactor_op(boost::system::error_code(), &EdgeWait::do_perform, &EdgeWait::do_complete),
        context_(context),
        callback_(callback) {}
  EdgeWait(const EdgeWait&) = delete;
  EdgeWait& operator=(const EdgeWait&) = delete;

  /// Nothing readable was reported for `socket` since it was last found empty: a read wait may
  /// start without a read first.
  static bool not_reported_readable(boost::asio::ip::tcp::socket& socket) {
    return (net::last_reported_events(socket) & (EPOLLIN | EPOLLPRI | EPOLLERR | EPOLLHUP)) == 0;
  }

  /// A read in this handler returned bytes with nothing behind them (TCP_INQ): with no reset
  /// reported, a read wait may start without another read.
  static bool empty_behind_read(boost::asio::ip::tcp::socket& socket) {
    return (net::last_reported_events(socket) & (EPOLLERR | EPOLLHUP)) == 0;
  }

  /// The kind of the wait last started.
  Kind kind() const noexcept { return read_ ? Kind::read : Kind::write; }

  /// Starts the wait on `socket` (an open, non-blocking socket of an io_context, the same
  /// io_context for every wait of this EdgeWait) under the conditions above. At most one at a
  /// time per EdgeWait.
  void start(boost::asio::ip::tcp::socket& socket, Kind kind) {
    namespace asio = boost::asio;
    auto& impl = net::reactor_registration(socket);
    if (reactor_ == nullptr) {  // the service lookup takes the registry's lock: once
      reactor_ = &asio::use_service<asio::detail::reactor>(
          asio::query(socket.get_executor(), asio::execution::context));
    }
    ec_ = boost::system::error_code();
    read_ = kind == Kind::read;
    starting_ = true;
    reactor_->start_op(read_ ? asio::detail::reactor::read_op : asio::detail::reactor::write_op,
                       impl.socket_, impl.reactor_data_, this, /*is_continuation=*/false,
                       /*allow_speculative=*/true);
    starting_ = false;
  }

 private:
  // The reactor performs an operation once when it is started (speculatively: not ready, by the
  // conditions above), then on each report: ready.
  static status do_perform(reactor_op* base) {
    return static_cast<EdgeWait*>(base)->starting_ ? not_done : done;
  }

  static void do_complete(void* owner, boost::asio::detail::scheduler_operation* base,
                          const boost::system::error_code&, std::size_t) {
    auto* self = static_cast<EdgeWait*>(base);
    if (owner == nullptr) return;  // the io_context is being destroyed
    self->callback_(self->context_, self->ec_);
  }

  void* context_;
  Callback callback_;
  boost::asio::detail::reactor* reactor_ = nullptr;
  bool read_ = true;
  bool starting_ = false;
};

}  // namespace egress::core
