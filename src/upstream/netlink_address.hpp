#pragma once

// rtnetlink address messages (RTM_NEWADDR / RTM_DELADDR) as the kernel sends them on a
// NETLINK_ROUTE socket: parsed by a pure function over the bytes of one datagram, so the parsing is
// unit tested (and fuzzable) without a kernel. The socket itself is in address_monitor.hpp.

#include <cstdint>
#include <span>
#include <vector>

#include "base/ip_address.hpp"

namespace egress::upstream {

/// One address appearing on, or leaving, one interface.
struct AddressChange {
  bool added = false;  ///< RTM_NEWADDR (true) or RTM_DELADDR (false)
  std::uint32_t ifindex = 0;
  base::IpAddress address;
  friend bool operator==(const AddressChange&, const AddressChange&) = default;
};

/// What one datagram of rtnetlink messages says, in message order.
struct NetlinkBatch {
  std::vector<AddressChange> changes;
  bool done = false;       ///< an NLMSG_DONE was seen (the end of a dump)
  int error = 0;           ///< an NLMSG_ERROR with a non-zero code: its errno (positive)
  bool malformed = false;  ///< a header or attribute ran past the bytes; what followed is ignored
  /// A dump message carried NLM_F_DUMP_INTR: the list changed while it was dumped (dump again).
  bool interrupted = false;
};

/// Parses every netlink message of `bytes`. RTM_NEWADDR / RTM_DELADDR of AF_INET and AF_INET6
/// become changes; the address is IFA_LOCAL when present, else IFA_ADDRESS (as getifaddrs(3):
/// on a point-to-point link IFA_ADDRESS is the peer). Other message types (NLMSG_NOOP, an
/// NLMSG_ERROR acknowledgement with code 0, link or route messages) are skipped. Never reads
/// outside `bytes`, whatever they hold.
NetlinkBatch parse_address_messages(std::span<const std::uint8_t> bytes);

}  // namespace egress::upstream
