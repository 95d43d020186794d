#include "base/ip_address.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

namespace egress::base {
namespace {

struct ParseCase {
  const char* text;
  bool ok;
  const char* canonical;  // to_string() when ok
  bool v4;
};

class IpParse : public ::testing::TestWithParam<ParseCase> {};

TEST_P(IpParse, ParsesAndFormats) {
  const auto& c = GetParam();
  auto a = IpAddress::parse(c.text);
  ASSERT_EQ(a.has_value(), c.ok) << c.text;
  if (!c.ok) return;
  EXPECT_EQ(a->to_string(), c.canonical);
  EXPECT_EQ(a->is_v4(), c.v4);
  EXPECT_EQ(a->size(), c.v4 ? 4u : 16u);
  // Round trip.
  EXPECT_EQ(IpAddress::parse(a->to_string()), a);
}

INSTANTIATE_TEST_SUITE_P(
    Table, IpParse,
    ::testing::Values(
        ParseCase{"192.0.2.1", true, "192.0.2.1", true},
        ParseCase{"0.0.0.0", true, "0.0.0.0", true},
        ParseCase{"255.255.255.255", true, "255.255.255.255", true},
        ParseCase{"2001:db8::1", true, "2001:db8::1", false},
        ParseCase{"2001:DB8:0:0:0:0:0:1", true, "2001:db8::1", false},
        ParseCase{"::", true, "::", false}, ParseCase{"::1", true, "::1", false},
        // v4-mapped is normalised to IPv4 on the way in.
        ParseCase{"::ffff:192.0.2.1", true, "192.0.2.1", true},
        ParseCase{"::FFFF:c000:0201", true, "192.0.2.1", true},
        // v4-compatible (deprecated) and NAT64 stay IPv6.
        ParseCase{"::192.0.2.1", true, "::192.0.2.1", false},
        ParseCase{"64:ff9b::192.0.2.1", true, "64:ff9b::c000:201", false},
        ParseCase{"", false, "", false}, ParseCase{"256.0.0.1", false, "", false},
        ParseCase{"1.2.3", false, "", false}, ParseCase{"1.2.3.4.5", false, "", false},
        ParseCase{"01.2.3.4", false, "", false}, ParseCase{" 1.2.3.4", false, "", false},
        ParseCase{"1.2.3.4 ", false, "", false}, ParseCase{"[2001:db8::1]", false, "", false},
        ParseCase{"fe80::1%eth0", false, "", false}, ParseCase{"2001:db8::1::2", false, "", false},
        ParseCase{"example.com", false, "", false},
        ParseCase{"1:2:3:4:5:6:7:8:9", false, "", false}));

TEST(IpAddress, V4HostOrderAndBytes) {
  auto a = IpAddress::v4(0xC0000201u);
  EXPECT_EQ(a.to_string(), "192.0.2.1");
  EXPECT_EQ(a.v4_host_order(), 0xC0000201u);
  EXPECT_EQ(a.bytes()[0], 192);
  EXPECT_EQ(a.bytes()[3], 1);
  EXPECT_EQ(IpAddress::v4({192, 0, 2, 1}), a);
  EXPECT_EQ(IpAddress::parse("2001:db8::1")->v4_host_order(), 0u);
}

TEST(IpAddress, V6BytesNormaliseMapped) {
  std::array<std::uint8_t, 16> b{};
  b[10] = 0xff;
  b[11] = 0xff;
  b[12] = 203;
  b[13] = 0;
  b[14] = 113;
  b[15] = 10;
  auto a = IpAddress::v6(b);
  EXPECT_TRUE(a.is_v4());
  EXPECT_EQ(a, *IpAddress::parse("203.0.113.10"));
  b[10] = 0xfe;  // not mapped
  EXPECT_TRUE(IpAddress::v6(b).is_v6());
}

TEST(IpAddress, UnspecifiedAndLoopback) {
  EXPECT_TRUE(IpAddress::parse("0.0.0.0")->is_unspecified());
  EXPECT_TRUE(IpAddress::parse("::")->is_unspecified());
  EXPECT_FALSE(IpAddress::parse("::1")->is_unspecified());
  EXPECT_TRUE(IpAddress::parse("127.0.0.1")->is_loopback());
  EXPECT_TRUE(IpAddress::parse("127.255.0.9")->is_loopback());
  EXPECT_TRUE(IpAddress::parse("::1")->is_loopback());
  EXPECT_TRUE(IpAddress::parse("::ffff:127.0.0.1")->is_loopback());
  EXPECT_FALSE(IpAddress::parse("::2")->is_loopback());
  EXPECT_FALSE(IpAddress::parse("128.0.0.1")->is_loopback());
  EXPECT_TRUE(IpAddress().is_v4());
  EXPECT_TRUE(IpAddress().is_unspecified());
}

TEST(IpAddress, FromSockaddr) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  inet_pton(AF_INET, "198.51.100.7", &sin.sin_addr);
  sin.sin_port = htons(8443);
  auto e = Endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&sin));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->to_string(), "198.51.100.7:8443");

  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  inet_pton(AF_INET6, "::ffff:198.51.100.7", &sin6.sin6_addr);
  sin6.sin6_port = htons(80);
  e = Endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&sin6));
  ASSERT_TRUE(e);
  EXPECT_TRUE(e->address.is_v4());
  EXPECT_EQ(e->to_string(), "198.51.100.7:80");

  inet_pton(AF_INET6, "2001:db8::5", &sin6.sin6_addr);
  e = Endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&sin6));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->to_string(), "[2001:db8::5]:80");

  sockaddr_storage other{};
  other.ss_family = AF_UNIX;
  EXPECT_FALSE(IpAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&other)));
  EXPECT_FALSE(IpAddress::from_sockaddr(nullptr));
}

TEST(Endpoint, ToSockaddrRoundTrip) {
  for (const char* text : {"192.0.2.1:443", "[2001:db8::1]:65535", "0.0.0.0:1"}) {
    auto e = Endpoint::parse(text);
    ASSERT_TRUE(e) << text;
    sockaddr_storage ss;
    const unsigned len = e->to_sockaddr(ss);
    EXPECT_EQ(len, e->address.is_v4() ? sizeof(sockaddr_in) : sizeof(sockaddr_in6));
    auto back = Endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, *e);
    EXPECT_EQ(back->to_string(), text);
  }
}

struct EndpointCase {
  const char* text;
  const char* canonical;  // nullptr = invalid
};

class EndpointParse : public ::testing::TestWithParam<EndpointCase> {};

TEST_P(EndpointParse, Table) {
  const auto& c = GetParam();
  auto e = Endpoint::parse(c.text);
  if (c.canonical == nullptr) {
    EXPECT_FALSE(e) << c.text;
  } else {
    ASSERT_TRUE(e) << c.text;
    EXPECT_EQ(e->to_string(), c.canonical);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, EndpointParse,
    ::testing::Values(
        EndpointCase{"192.0.2.1:443", "192.0.2.1:443"}, EndpointCase{"192.0.2.1:0", "192.0.2.1:0"},
        EndpointCase{"192.0.2.1:65535", "192.0.2.1:65535"},
        EndpointCase{"[2001:db8::1]:443", "[2001:db8::1]:443"},
        EndpointCase{"[::ffff:192.0.2.1]:80", "192.0.2.1:80"},
        EndpointCase{"192.0.2.1:65536", nullptr}, EndpointCase{"192.0.2.1", nullptr},
        EndpointCase{"192.0.2.1:", nullptr}, EndpointCase{"192.0.2.1:-1", nullptr},
        EndpointCase{"192.0.2.1:+1", nullptr}, EndpointCase{"192.0.2.1:80x", nullptr},
        EndpointCase{"2001:db8::1:443", nullptr},  // IPv6 needs brackets
        EndpointCase{"[2001:db8::1]443", nullptr}, EndpointCase{"[2001:db8::1]:", nullptr},
        EndpointCase{"[192.0.2.1]:80", nullptr}, EndpointCase{"[2001:db8::1:443", nullptr},
        EndpointCase{":443", nullptr}, EndpointCase{"", nullptr}));

}  // namespace
}  // namespace egress::base
