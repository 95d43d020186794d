#include "upstream/loop_guard.hpp"

#include <gtest/gtest.h>

namespace egress::upstream {
namespace {

base::Endpoint ep(const char* text) {
  return *base::Endpoint::parse(text);
}

TEST(LoopGuard, Table) {
  // Listeners 0.0.0.0:15001 and [::]:15001, admin 127.0.0.1:9901, one listener on a specific
  // address; the gateway's interfaces carry 192.0.2.1, 203.0.113.254 and 2001:db8:1::1.
  LoopGuard guard(
      {ep("0.0.0.0:15001"), ep("[::]:15001"), ep("198.51.100.7:15002"), ep("127.0.0.1:9901")});
  guard.set_local_addresses({*base::IpAddress::parse("192.0.2.1"),
                             *base::IpAddress::parse("203.0.113.254"),
                             *base::IpAddress::parse("2001:db8:1::1")});
  struct Case {
    const char* dst;
    bool loop;
  };
  const Case cases[] = {
      {"192.0.2.1:15001", true},          // a local address with a listener port
      {"203.0.113.254:15001", true},      // another interface, same port
      {"[2001:db8:1::1]:15001", true},    // IPv6 interface address
      {"127.0.0.1:15001", true},          // loopback counts as local
      {"127.0.0.53:15001", true},         // all of 127/8
      {"[::1]:15001", true},              // IPv6 loopback
      {"192.0.2.1:9901", true},           // the admin port on a local address
      {"127.0.0.1:9901", true},           // the admin endpoint itself
      {"198.51.100.7:15002", true},       // a listener endpoint, even if not found locally
      {"0.0.0.0:80", true},               // unspecified, any port
      {"[::]:443", true},                 // unspecified IPv6
      {"192.0.2.1:22", false},            // a local address, not one of our ports
      {"203.0.113.10:15001", false},      // a remote host that happens to use our port
      {"[2001:db8:2::10]:15001", false},  // remote IPv6
      {"203.0.113.10:80", false},         // ordinary traffic
      {"198.51.100.7:15001", false},      // a listener's address is not local here, other port
  };
  for (const auto& c : cases) {
    EXPECT_EQ(guard.is_loop(ep(c.dst)), c.loop) << c.dst;
  }
}

TEST(LoopGuard, RefreshReadsTheInterfaces) {
  LoopGuard guard({ep("0.0.0.0:15001")});
  ASSERT_TRUE(guard.refresh());
  // Every host has a loopback interface address.
  const auto addresses = LoopGuard::interface_addresses();
  bool has_loopback = false;
  for (const auto& a : addresses) has_loopback |= a.is_loopback();
  EXPECT_TRUE(has_loopback);
  for (const auto& a : addresses) {
    EXPECT_TRUE(guard.is_loop({a, 15001})) << a.to_string();
    if (!a.is_unspecified()) {
      EXPECT_FALSE(guard.is_loop({a, 15002})) << a.to_string();
    }
  }
}

}  // namespace
}  // namespace egress::upstream
