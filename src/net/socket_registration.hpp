#pragma once

// Hints about a socket that egressd itself just created, for asio's reactor. With
// EGRESS_ASIO_SHORTCUTS they save a syscall each (net/asio_reactor_internals.hpp); without, they
// do nothing and asio does what it always does.

#include <boost/asio/ip/tcp.hpp>

#if EGRESS_ASIO_SHORTCUTS
#include "net/asio_reactor_internals.hpp"
#else
namespace egress::net {

/// After socket.assign() of a descriptor shared with nobody. Without the shortcuts: nothing
/// (asio then deregisters it from epoll itself at close: one epoll_ctl).
inline void mark_not_duplicated(boost::asio::ip::tcp::socket&) {}

/// Right after a socket was opened. Without the shortcuts: nothing (the relay's EdgeWait does not
/// read the reactor's state then).
inline void forget_reported_events(boost::asio::ip::tcp::socket&) {}

}  // namespace egress::net
#endif
