#pragma once

// What asio's epoll reactor knows about a socket and its public API does not hand out: the
// socket's registration (for core::EdgeWait), the events of the socket's last wake-up, and
// whether its descriptor may be shared.
//
// asio registers each socket with its epoll set once, edge-triggered. When epoll_wait reports a
// socket, the reactor stores the reported events in the socket's descriptor state (task_result_)
// and keeps them until the socket's next report. Every arrival (bytes, FIN, reset) puts the
// socket on epoll's ready list, and a report takes it off and says what was ready at that
// moment. So if the last report did not say readable (no EPOLLIN, EPOLLPRI, EPOLLERR, EPOLLHUP),
// whatever arrived since is still waiting to be reported: a wait queued now will be woken.
//
// Only in an EGRESS_ASIO_SHORTCUTS build (net/socket_registration.hpp and core/edge_wait.hpp
// choose). Written against Boost 1.81 (Debian 12): basic_socket's protected impl_, the descriptor
// state (epoll_reactor::per_descriptor_data) and its task_result_. The static_asserts stop a build
// against another Boost or reactor; check those before moving.

#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/socket_ops.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/version.hpp>
#include <type_traits>

namespace egress::net {

static_assert(BOOST_VERSION == 108100,
              "asio_reactor_internals.hpp reads Boost 1.81's epoll_reactor internals: build with "
              "-DEGRESS_ASIO_SHORTCUTS=OFF, or check them before building against another Boost");
static_assert(std::is_same_v<boost::asio::detail::reactor, boost::asio::detail::epoll_reactor>,
              "asio_reactor_internals.hpp needs asio's epoll reactor");

namespace asio_reactor_detail {

// basic_socket's implementation (descriptor and registration) is a protected member; a derived
// type may name it.
struct SocketInternals : boost::asio::ip::tcp::socket {
  static auto& implementation(boost::asio::ip::tcp::socket& s) {
    return (s.*(&SocketInternals::impl_)).get_implementation();
  }
};

// The descriptor state privately derives from scheduler_operation, whose task_result_ is
// protected; a C-style cast may convert to an inaccessible base ([expr.cast]/4).
struct OperationInternals : boost::asio::detail::scheduler_operation {
  static unsigned& task_result(boost::asio::detail::epoll_reactor::per_descriptor_data d) {
    auto* op = (boost::asio::detail::scheduler_operation*)(d);
    return op->*(&OperationInternals::task_result_);
  }
};

}  // namespace asio_reactor_detail

/// The socket's descriptor and registration with the reactor (an open socket of an io_context).
inline auto& reactor_registration(boost::asio::ip::tcp::socket& socket) {
  return asio_reactor_detail::SocketInternals::implementation(socket);
}

/// The epoll events of the socket's last report: 0 when forgotten and not reported since; for a
/// socket never reported, those of an earlier socket (see forget_reported_events).
inline unsigned last_reported_events(boost::asio::ip::tcp::socket& socket) {
  auto& impl = reactor_registration(socket);
  return impl.reactor_data_
             ? asio_reactor_detail::OperationInternals::task_result(impl.reactor_data_)
             : ~0u;
}

/// Marks a socket as never reported. Only right after it was opened, in the same handler.
///
/// Not needed for correctness: the reactor recycles descriptor states without clearing the
/// events, so a socket starts with those of a closed one, but such a stale value dates from
/// before the socket's registration (EPOLL_CTL_ADD), which puts an already ready socket on the
/// ready list. Stale bits without "readable" thus still mean "nothing reported since"; stale
/// readable bits cost a read. Forgetting them saves that read.
inline void forget_reported_events(boost::asio::ip::tcp::socket& socket) {
  auto& impl = reactor_registration(socket);
  if (impl.reactor_data_)
    asio_reactor_detail::OperationInternals::task_result(impl.reactor_data_) = 0;
}

/// After socket.assign() of a descriptor the caller just created and shares with nobody (no dup,
/// no fork): asio cannot know that, and at close would deregister it from epoll with an
/// epoll_ctl(DEL) of its own; close(2) alone does that for a descriptor of its own (as after
/// socket.open()).
inline void mark_not_duplicated(boost::asio::ip::tcp::socket& socket) {
  reactor_registration(socket).state_ &= ~boost::asio::detail::socket_ops::possible_dup;
}

}  // namespace egress::net
