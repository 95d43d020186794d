#include "resolve/resolver.hpp"

#include <gtest/gtest.h>

// The `dns.servers` entries as c-ares takes them (ares_set_servers_ports_csv).

namespace egress::resolve {
namespace {

TEST(NormaliseServerTest, AddressesWithAndWithoutAPort) {
  EXPECT_EQ(normalise_server("203.0.113.53:53"), "203.0.113.53:53");
  EXPECT_EQ(normalise_server("203.0.113.53:5353"), "203.0.113.53:5353");
  EXPECT_EQ(normalise_server("203.0.113.53"), "203.0.113.53:53");
  EXPECT_EQ(normalise_server("[2001:db8::53]:53"), "[2001:db8::53]:53");
  EXPECT_EQ(normalise_server("2001:db8::53"), "[2001:db8::53]:53");
}

TEST(NormaliseServerTest, AnythingElseIsRejected) {
  for (const char* bad : {"", "dns.example", "dns.example:53", "203.0.113.53:", "203.0.113.53:0",
                          "203.0.113.53:65536", "203.0.113.53,198.51.100.53", "[2001:db8::53]"}) {
    EXPECT_EQ(normalise_server(bad), std::nullopt) << bad;
  }
}

}  // namespace
}  // namespace egress::resolve
