#include "upstream/address_monitor.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <set>

namespace egress::upstream {
namespace {

// The kernel's answer to RTM_GETADDR is the list getifaddrs(3) builds from the same dump.
TEST(AddressMonitor, DumpListsTheAddressesGetifaddrsLists) {
  std::set<base::IpAddress> from_netlink;
  for (const auto& [ifindex, address] : AddressMonitor::dump()) {
    EXPECT_NE(ifindex, 0u);
    from_netlink.insert(address);
  }
  std::set<base::IpAddress> from_getifaddrs;
  for (const auto& a : LoopGuard::interface_addresses()) from_getifaddrs.insert(a);
  EXPECT_EQ(from_netlink, from_getifaddrs);
  EXPECT_TRUE(std::any_of(from_netlink.begin(), from_netlink.end(),
                          [](const base::IpAddress& a) { return a.is_loopback(); }));
}

TEST(AddressMonitor, FillsTheGuardAtConstruction) {
  boost::asio::io_context io;
  LoopGuard guard({*base::Endpoint::parse("0.0.0.0:15001")});
  AddressMonitor monitor(io, guard);
  EXPECT_EQ(monitor.dumps(), 1u);
  for (const auto& a : LoopGuard::interface_addresses()) {
    EXPECT_TRUE(guard.is_loop({a, 15001})) << a.to_string();
  }
  EXPECT_TRUE(monitor.resync());
  EXPECT_EQ(monitor.dumps(), 2u);
  monitor.start();
  monitor.stop();
  io.run();  // the cancelled wait completes; nothing else is pending
}

}  // namespace
}  // namespace egress::upstream
