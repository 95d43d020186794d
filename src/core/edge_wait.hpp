#pragma once

// A wait for a TCP socket to become readable or writable that costs no syscall to start; a read
// wait also says whether the wake-up carried a hang-up or an error.
//
// asio registers every socket with its epoll set once, edge-triggered (EPOLLIN|EPOLLET, ...). Its
// public wait (socket::async_wait) re-arms that registration with an epoll_ctl(MOD) each time, so
// the kernel re-checks readiness: one syscall per wait, on a keep-alive relay one of every three.
// This wait instead queues itself on the registration as it is, the way asio queues its own
// speculative reads and writes, and completes on the socket's next edge. (A socket's first write
// wait adds EPOLLOUT to its registration: one MOD per socket, as asio's own writes do.)
//
// That is only correct when the socket is not ready when the wait starts, else no new edge comes.
// The caller promises it: in the same handler, with no return to the event loop in between (a
// return could consume the edge that announced readiness), it found
//  * for a write wait: the send buffer full (a send returned EAGAIN);
//  * for a read wait: the receive queue empty, with no FIN and no error behind it: a read
//    returned EAGAIN; or a read returned bytes, TCP_INQ said nothing was behind them
//    (TcpStream::nothing_behind), and the handler runs in a read wait's completion with `quiet`
//    true. TCP_INQ does not count a reset; a reset that arrived with the bytes is in the wake-up's
//    events (EPOLLERR|EPOLLHUP), which asio does not hand out, so a read wait reads them from the
//    reactor as it completes.
//
// Written against Boost 1.81's epoll_reactor (Debian 12): detail::reactor_op,
// epoll_reactor::start_op, and the events that the reactor keeps in a descriptor's
// task_result_ while it performs the descriptor's operations. The static_assert below stops a
// build against another Boost; check those three before moving it. One object per direction of
// a relay, embedded and reused for each wait: no allocation. Cancelled like any operation on the
// socket (socket.cancel(), close).

#include <sys/epoll.h>

#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/query.hpp>
#include <boost/version.hpp>
#include <type_traits>

namespace egress::core {

static_assert(BOOST_VERSION == 108100,
              "EdgeWait uses Boost 1.81's epoll_reactor internals: check them (see "
              "edge_wait.hpp) before building against another Boost");
static_assert(std::is_same_v<boost::asio::detail::reactor, boost::asio::detail::epoll_reactor>,
              "EdgeWait needs asio's epoll reactor");

namespace edge_wait_detail {

// The socket's implementation (descriptor and reactor registration) is a protected member of
// basic_socket; a derived type may name it.
struct SocketInternals : boost::asio::ip::tcp::socket {
  static auto& implementation(boost::asio::ip::tcp::socket& s) {
    return (s.*(&SocketInternals::impl_)).get_implementation();
  }
};

// The events of the wake-up being performed: epoll_reactor::run stores them in the descriptor
// state's task_result_ (a protected member of its private base scheduler_operation) before it
// performs the descriptor's operations.
struct OperationInternals : boost::asio::detail::scheduler_operation {
  static unsigned ready_events(boost::asio::detail::epoll_reactor::per_descriptor_data d) {
    // A C-style cast may convert to an inaccessible base ([expr.cast]/4).
    auto* op = (boost::asio::detail::scheduler_operation*)(d);
    return op->*(&OperationInternals::task_result_);
  }
};

}  // namespace edge_wait_detail

class EdgeWait final : public boost::asio::detail::reactor_op {
 public:
  enum class Kind { read, write };

  /// Called once per started wait: with an empty error code on readiness, operation_aborted when
  /// cancelled. `quiet`: a read wait's wake-up carried no hang-up or error (EPOLLHUP, EPOLLERR);
  /// always false for a write wait.
  using Callback = void (*)(void* context, const boost::system::error_code& ec, bool quiet);

  EdgeWait(void* context, Callback callback)
      : reactor_op(boost::system::error_code(), &EdgeWait::do_perform, &EdgeWait::do_complete),
        context_(context),
        callback_(callback) {}
  EdgeWait(const EdgeWait&) = delete;
  EdgeWait& operator=(const EdgeWait&) = delete;

  /// The kind of the wait last started.
  Kind kind() const noexcept { return read_ ? Kind::read : Kind::write; }

  /// Starts the wait on `socket` (an open, non-blocking socket of an io_context) under the
  /// promise above. At most one at a time per EdgeWait.
  void start(boost::asio::ip::tcp::socket& socket, Kind kind) {
    namespace asio = boost::asio;
    auto& impl = edge_wait_detail::SocketInternals::implementation(socket);
    auto& reactor = asio::use_service<asio::detail::reactor>(
        asio::query(socket.get_executor(), asio::execution::context));
    ec_ = boost::system::error_code();
    descriptor_ = impl.reactor_data_;
    quiet_ = false;
    read_ = kind == Kind::read;
    starting_ = true;
    reactor.start_op(read_ ? asio::detail::reactor::read_op : asio::detail::reactor::write_op,
                     impl.socket_, impl.reactor_data_, this, /*is_continuation=*/false,
                     /*allow_speculative=*/true);
    starting_ = false;
  }

 private:
  // The reactor performs an operation once when it is started (speculatively: not ready, by the
  // caller's promise), then on each edge: ready.
  static status do_perform(reactor_op* base) {
    auto* self = static_cast<EdgeWait*>(base);
    if (self->starting_) return not_done;
    const unsigned events = edge_wait_detail::OperationInternals::ready_events(self->descriptor_);
    self->quiet_ = (events & (EPOLLERR | EPOLLHUP)) == 0;
    return done;
  }

  static void do_complete(void* owner, boost::asio::detail::scheduler_operation* base,
                          const boost::system::error_code&, std::size_t) {
    auto* self = static_cast<EdgeWait*>(base);
    if (owner == nullptr) return;  // the io_context is being destroyed
    self->callback_(self->context_, self->ec_, self->quiet_);
  }

  void* context_;
  Callback callback_;
  boost::asio::detail::epoll_reactor::per_descriptor_data descriptor_ = nullptr;
  bool read_ = true;
  bool starting_ = false;
  bool quiet_ = false;
};

}  // namespace egress::core
