#include "policy/address_set.hpp"

#include <gtest/gtest.h>

namespace egress::policy {
namespace {

net::IpAddress ip(const char* s) {
  return *net::IpAddress::parse(s);
}

struct CidrCase {
  const char* text;
  const char* canonical;  // nullptr = error
  const char* error_part;
};

class CidrParse : public ::testing::TestWithParam<CidrCase> {};

TEST_P(CidrParse, Table) {
  const auto& c = GetParam();
  auto r = parse_cidr(c.text);
  if (c.canonical) {
    ASSERT_TRUE(r.cidr) << c.text << ": " << r.error;
    EXPECT_EQ(r.cidr->to_string(), c.canonical);
  } else {
    EXPECT_FALSE(r.cidr) << c.text;
    EXPECT_NE(r.error.find(c.error_part), std::string::npos) << r.error;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, CidrParse,
    ::testing::Values(CidrCase{"0.0.0.0/0", "0.0.0.0/0", ""},
                      CidrCase{"192.0.2.1/32", "192.0.2.1/32", ""},
                      CidrCase{"192.0.2.1", "192.0.2.1/32", ""}, CidrCase{"::/0", "::/0", ""},
                      CidrCase{"2001:db8::1/128", "2001:db8::1/128", ""},
                      CidrCase{"2001:db8::1", "2001:db8::1/128", ""},
                      CidrCase{"2001:DB8::/32", "2001:db8::/32", ""},
                      // v4-mapped prefixes are IPv4 prefixes.
                      CidrCase{"::ffff:192.0.2.0/120", "192.0.2.0/24", ""},
                      CidrCase{"::ffff:0.0.0.0/96", "0.0.0.0/0", ""},
                      CidrCase{"::ffff:0.0.0.0/80", nullptr, "/96 or longer"},
                      CidrCase{"192.0.2.1/24", nullptr,
                               "host bits set; did you mean 192.0.2.0/24?"},
                      CidrCase{"10.1.2.3/8", nullptr, "did you mean 10.0.0.0/8?"},
                      CidrCase{"2001:db8::1/32", nullptr, "did you mean 2001:db8::/32?"},
                      CidrCase{"192.0.2.0/33", nullptr, "invalid prefix length (0-32)"},
                      CidrCase{"::/129", nullptr, "invalid prefix length (0-128)"},
                      CidrCase{"192.0.2.0/", nullptr, "invalid prefix length"},
                      CidrCase{"192.0.2.0/-1", nullptr, "invalid prefix length"},
                      CidrCase{"192.0.2.0/24/1", nullptr, "invalid prefix length"},
                      CidrCase{"example.com/24", nullptr, "not an IP address"},
                      CidrCase{"", nullptr, "not an IP address"}));

TEST(AddressSet, ContainsAtEdges) {
  auto s =
      AddressSet::from_cidrs({*parse_cidr("192.0.2.0/24").cidr, *parse_cidr("2001:db8::/32").cidr});
  EXPECT_TRUE(s.contains(ip("192.0.2.0")));
  EXPECT_TRUE(s.contains(ip("192.0.2.255")));
  EXPECT_FALSE(s.contains(ip("192.0.1.255")));
  EXPECT_FALSE(s.contains(ip("192.0.3.0")));
  EXPECT_TRUE(s.contains(ip("2001:db8::")));
  EXPECT_TRUE(s.contains(ip("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")));
  EXPECT_FALSE(s.contains(ip("2001:db9::")));
  EXPECT_TRUE(s.contains(ip("::ffff:192.0.2.9")));  // v4-mapped is IPv4
}

TEST(AddressSet, ZeroPrefixAndFullSet) {
  auto v4all = AddressSet::from_cidrs({*parse_cidr("0.0.0.0/0").cidr});
  EXPECT_TRUE(v4all.contains(ip("0.0.0.0")));
  EXPECT_TRUE(v4all.contains(ip("255.255.255.255")));
  EXPECT_FALSE(v4all.contains(ip("::1")));  // ::/0 and 0.0.0.0/0 are separate families
  auto v6all = AddressSet::from_cidrs({*parse_cidr("::/0").cidr});
  EXPECT_TRUE(v6all.contains(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
  EXPECT_FALSE(v6all.contains(ip("1.2.3.4")));
  EXPECT_TRUE(v4all.unite(v6all).is_all());
  EXPECT_TRUE(AddressSet::all().contains(ip("203.0.113.1")));
}

TEST(AddressSet, SubtractIntersectSubset) {
  auto net24 = AddressSet::from_cidrs({*parse_cidr("203.0.113.0/24").cidr});
  auto host = AddressSet::from_cidrs({*parse_cidr("203.0.113.7/32").cidr});
  auto carved = net24.subtract(host);
  EXPECT_TRUE(carved.contains(ip("203.0.113.6")));
  EXPECT_FALSE(carved.contains(ip("203.0.113.7")));
  EXPECT_TRUE(carved.contains(ip("203.0.113.8")));
  EXPECT_EQ(carved.v4().size(), 2u);
  EXPECT_TRUE(host.subset_of(net24));
  EXPECT_FALSE(net24.subset_of(host));
  EXPECT_TRUE(net24.subtract(net24).empty());
  EXPECT_EQ(net24.intersect(host), host);
  EXPECT_TRUE(host.intersect(carved).empty());
  // Edges of the address space do not overflow.
  auto top = AddressSet::from_cidrs({*parse_cidr("255.255.255.255/32").cidr});
  auto rest = AddressSet::all().subtract(top);
  EXPECT_FALSE(rest.contains(ip("255.255.255.255")));
  EXPECT_TRUE(rest.contains(ip("255.255.255.254")));
  EXPECT_TRUE(rest.contains(ip("0.0.0.0")));
}

TEST(AddressSet, AdjacentPrefixesMerge) {
  auto s =
      AddressSet::from_cidrs({*parse_cidr("10.0.0.0/9").cidr, *parse_cidr("10.128.0.0/9").cidr});
  EXPECT_EQ(s, AddressSet::from_cidrs({*parse_cidr("10.0.0.0/8").cidr}));
}

TEST(BuiltinSets, NonPublicAndMetadata) {
  const auto* np = builtin_set("builtin:non_public");
  ASSERT_NE(np, nullptr);
  EXPECT_EQ(np->size(), 21u);
  auto s = AddressSet::from_cidrs(*np);
  for (const char* in : {"0.1.2.3",
                         "10.0.0.1",
                         "100.64.0.1",
                         "127.0.0.1",
                         "169.254.169.254",
                         "172.31.255.255",
                         "192.0.0.8",
                         "192.168.1.1",
                         "198.19.0.1",
                         "224.0.0.1",
                         "255.255.255.255",
                         "::",
                         "::1",
                         "64:ff9b::1",
                         "64:ff9b:1::1",
                         "100::1",
                         "2001::1",
                         "2002::1",
                         "fd00::1",
                         "fe80::1",
                         "ff02::1",
                         "::ffff:10.0.0.1"}) {
    EXPECT_TRUE(s.contains(ip(in))) << in;
  }
  // The documentation ranges are "the internet" in the sandbox.
  for (const char* out : {"192.0.2.1", "198.51.100.1", "203.0.113.10", "2001:db8::1",
                          "2001:db8:2::20", "8.8.8.8", "172.32.0.1", "100.128.0.1", "::2"}) {
    EXPECT_FALSE(s.contains(ip(out))) << out;
  }
  auto md = AddressSet::from_cidrs(*builtin_set("builtin:metadata"));
  EXPECT_TRUE(md.contains(ip("169.254.169.254")));
  EXPECT_TRUE(md.contains(ip("fd00:ec2::254")));
  EXPECT_FALSE(md.contains(ip("169.254.169.253")));
  EXPECT_EQ(builtin_set("builtin:nope"), nullptr);
}

}  // namespace
}  // namespace egress::policy
