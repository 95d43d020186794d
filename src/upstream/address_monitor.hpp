#pragma once

// Following the host's local addresses as they change (a VIP failover, DHCP, IPv6 temporary
// addresses), so the loop guard never works from a stale list (issue 17, item 3).

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "base/ip_address.hpp"
#include "upstream/loop_guard.hpp"
#include "upstream/netlink_address.hpp"

namespace egress::upstream {

/// Keeps a LoopGuard's local addresses equal to the host's, with rtnetlink: a NETLINK_ROUTE
/// socket subscribed to RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR, read on one io_context (the
/// gateway's control thread), each RTM_NEWADDR / RTM_DELADDR applied and the guard's set swapped
/// whole (workers read it lock-free). When the kernel reports an overrun (ENOBUFS: notifications
/// were lost) the whole list is dumped again (RTM_GETADDR). Not thread-safe: use it from the
/// io_context's thread only.
class AddressMonitor {
 public:
  /// Opens and subscribes the socket, then dumps the current addresses into `guard` (the socket
  /// is subscribed first, so no change between the dump and the first read is missed). Throws
  /// std::system_error naming the step that failed: a gateway that cannot follow its addresses
  /// refuses to start rather than guard against a list that may go stale.
  AddressMonitor(boost::asio::io_context& io, LoopGuard& guard);
  ~AddressMonitor();
  AddressMonitor(const AddressMonitor&) = delete;
  AddressMonitor& operator=(const AddressMonitor&) = delete;

  /// Starts reading notifications on the io_context.
  void start();
  /// Cancels the pending read and any retry (before the io_context is destroyed).
  void stop();

  /// Dumps the whole list again and replaces the set (on overrun, on SIGHUP). False, with the
  /// set unchanged, when the dump fails.
  bool resync();

  /// Full dumps since construction (the first included).
  std::uint64_t dumps() const noexcept { return dumps_; }

  /// One complete RTM_GETADDR dump on a private socket: (ifindex, address) pairs. Throws
  /// std::system_error.
  static std::set<std::pair<std::uint32_t, base::IpAddress>> dump();

 private:
  void open_subscribed();
  void wait();
  void on_readable();
  void reopen_later();
  void apply(const std::vector<AddressChange>& changes);
  void publish();

  LoopGuard& guard_;
  boost::asio::posix::stream_descriptor socket_;
  boost::asio::steady_timer retry_;
  std::set<std::pair<std::uint32_t, base::IpAddress>> addresses_;
  std::vector<std::uint8_t> buffer_;
  std::uint64_t dumps_ = 0;
  bool stopped_ = false;
};

}  // namespace egress::upstream
