#include "policy/address_set.hpp"

#include <gtest/gtest.h>

namespace egress::policy {
namespace {

base::IpAddress ip(const char* s) {
  return *base::IpAddress::parse(s);
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
  auto s = AddressSet::from_cidrs(*np);
  // The IANA IPv4 and IPv6 Special-Purpose Address Registries' blocks that are not globally
  // reachable, multicast, reserved and deprecated blocks (docs/policy.md), first and last address
  // where it matters.
  for (const char* in : {"0.0.0.0",
                         "0.1.2.3",
                         "10.0.0.1",
                         "100.64.0.1",
                         "100.127.255.255",
                         "127.0.0.1",
                         "169.254.169.254",
                         "172.16.0.0",
                         "172.31.255.255",
                         "192.0.0.8",
                         "192.0.0.255",
                         "192.88.99.1",  // deprecated 6to4 relay anycast
                         "192.168.1.1",
                         "198.18.0.0",
                         "198.19.255.255",
                         "224.0.0.1",
                         "239.255.255.255",
                         "240.0.0.1",
                         "255.255.255.255",
                         "::",
                         "::1",
                         "::2",                 // IPv4-compatible ::0.0.0.2
                         "::a9fe:a9fe",         // IPv4-compatible ::169.254.169.254
                         "::7f00:1",            // IPv4-compatible ::127.0.0.1
                         "::ffff:0:a9fe:a9fe",  // SIIT ::ffff:0:169.254.169.254
                         "::ffff:0:0:0",
                         "::ffff:0:ffff:ffff",
                         "64:ff9b::1",
                         "64:ff9b::a9fe:a9fe",
                         "64:ff9b:1::1",
                         "100::1",
                         "100:0:0:1::1",  // dummy IPv6 prefix, outside 2000::/3
                         "1::1",
                         "2001::1",                                 // Teredo
                         "2001:2::1",                               // benchmarking
                         "2001:20::1",                              // ORCHIDv2
                         "2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff",  // last of 2001::/23
                         "2002::1",
                         "2002:a9fe:a9fe::1",  // 6to4 of 169.254.169.254
                         "3fff::1",            // documentation, RFC 9637
                         "3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff",
                         "4000::1",
                         "5f00::1",  // SRv6 SIDs
                         "8000::1",
                         "fd00::1",
                         "fe80::1",
                         "fec0::1",  // deprecated site-local
                         "feff::1",
                         "ff02::1",
                         "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                         "1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                         "::ffff:10.0.0.1"}) {
    EXPECT_TRUE(s.contains(ip(in))) << in;
  }
  // The documentation ranges are "the internet" in the sandbox; globally reachable special
  // blocks (AS112, AMT) and ordinary global unicast are not non_public.
  for (const char* out :
       {"192.0.2.1",      "198.51.100.1",    "203.0.113.10",
        "2001:db8::1",    "2001:db8:2::20",  "8.8.8.8",
        "172.32.0.1",     "100.128.0.1",     "192.0.1.255",
        "192.0.3.0",      "192.88.98.255",   "192.88.100.0",
        "192.31.196.1",   "192.52.193.1",    "192.175.48.1",
        "198.17.255.255", "198.20.0.0",      "223.255.255.255",
        "::ffff:8.8.8.8", "2000::",          "2001:200::1",
        "2003::1",        "2620:4f:8000::1", "2a00:1450::1",
        "3ffe:ffff::1",   "3fff:1000::",     "3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}) {
    EXPECT_FALSE(s.contains(ip(out))) << out;
  }
  auto md = AddressSet::from_cidrs(*builtin_set("builtin:metadata"));
  EXPECT_TRUE(md.contains(ip("169.254.169.254")));
  EXPECT_TRUE(md.contains(ip("fd00:ec2::254")));
  EXPECT_FALSE(md.contains(ip("169.254.169.253")));
  EXPECT_EQ(builtin_set("builtin:nope"), nullptr);
}

struct EmbeddedCase {
  const char* v6;
  const char* v4;  // nullptr: none
};

TEST(EmbeddedV4, EachFormAndNothingElse) {
  const EmbeddedCase cases[] = {
      {"::a9fe:a9fe", "169.254.169.254"},         // IPv4-compatible
      {"::1", "0.0.0.1"},                         // IPv4-compatible, too
      {"::ffff:0:a9fe:a9fe", "169.254.169.254"},  // SIIT
      {"64:ff9b::a9fe:a9fe", "169.254.169.254"},  // NAT64 well-known prefix
      {"64:ff9b::ffff:ffff", "255.255.255.255"},  //
      {"2002:a9fe:a9fe::", "169.254.169.254"},    // 6to4
      {"2002:a9fe:a9fe:ffff:ffff:ffff:ffff:ffff", "169.254.169.254"},
      {"2002:a00:1:1::7", "10.0.0.1"},      //
      {"::ffff:1:a9fe:a9fe", nullptr},      // not SIIT: ::ffff:1:0:0/96
      {"0:0:0:1::a9fe:a9fe", nullptr},      //
      {"64:ff9b:1::a9fe:a9fe", nullptr},    // local-use NAT64: not extracted
      {"64:ff9c::a9fe:a9fe", nullptr},      //
      {"2001::a9fe:a9fe", nullptr},         // Teredo: not extracted
      {"2003:a9fe:a9fe::", nullptr},        //
      {"2001:db8::a9fe:a9fe", nullptr},     //
      {"169.254.169.254", nullptr},         // IPv4 is IPv4
      {"::ffff:169.254.169.254", nullptr},  // mapped is IPv4 already
  };
  for (const auto& c : cases) {
    const auto e = embedded_v4(ip(c.v6));
    if (c.v4 == nullptr) {
      EXPECT_FALSE(e) << c.v6 << " -> " << e->to_string();
    } else {
      ASSERT_TRUE(e) << c.v6;
      EXPECT_EQ(e->to_string(), c.v4) << c.v6;
    }
  }
}

// with_embedded_v4() is the literal rule "in the set, or its embedded IPv4 is", as intervals.
TEST(EmbeddedV4, WithEmbeddedV4IsTheLiteralRule) {
  const auto set = AddressSet::from_cidrs(
      {*parse_cidr("198.51.100.0/24").cidr, *parse_cidr("10.0.0.0/8").cidr,
       *parse_cidr("0.0.0.0/32").cidr, *parse_cidr("255.255.255.255/32").cidr,
       *parse_cidr("2001:db8::/32").cidr});
  const auto with = set.with_embedded_v4();
  EXPECT_TRUE(set.subset_of(with));
  EXPECT_EQ(with.v4(), set.v4());
  const auto literal = [&](const base::IpAddress& a) {
    const auto e = embedded_v4(a);
    return set.contains(a) || (e && set.contains(*e));
  };
  std::vector<base::IpAddress> probes;
  for (const char* t : {"198.51.100.1",
                        "203.0.113.1",
                        "2001:db8::1",
                        "2001:db9::1",
                        "::",
                        "::1",
                        "::ffff:ffff",
                        "::fffe:ffff",
                        "64:ff9b::",
                        "64:ff9b::c633:63ff",
                        "64:ff9b::c633:6400",
                        "64:ff9b::c633:64ff",
                        "64:ff9b::c633:6500",
                        "::ffff:0:c633:6480",
                        "::ffff:0:c633:6580",
                        "::c633:6401",
                        "::c633:6501",
                        "2002:c633:63ff:ffff:ffff:ffff:ffff:ffff",
                        "2002:c633:6400::",
                        "2002:c633:64ff:ffff:ffff:ffff:ffff:ffff",
                        "2002:c633:6500::",
                        "2002::",
                        "2002:ffff:ffff::",
                        "2002:a00::",
                        "2001::a00:1",
                        "64:ff9b:1::a00:1"}) {
    probes.push_back(ip(t));
  }
  // Every IPv4 of a spread, in each embedding, at both ends of the 6to4 host part.
  for (std::uint64_t v = 0; v <= 0xffffffffu; v += 0x00fd1237u) {
    const auto v4 = static_cast<std::uint32_t>(v);
    for (const U128 high : {U128{0}, U128{0xffff} << 48, U128{0x0064ff9b} << 96}) {
      const U128 k = high | v4;
      std::array<std::uint8_t, 16> b{};
      for (int i = 0; i < 16; ++i) b[i] = static_cast<std::uint8_t>(k >> ((15 - i) * 8));
      probes.push_back(base::IpAddress::v6(b));
    }
    for (const U128 low : {U128{0}, (U128{1} << 80) - 1}) {
      const U128 k = (U128{0x2002} << 112) | (U128{v4} << 80) | low;
      std::array<std::uint8_t, 16> b{};
      for (int i = 0; i < 16; ++i) b[i] = static_cast<std::uint8_t>(k >> ((15 - i) * 8));
      probes.push_back(base::IpAddress::v6(b));
    }
  }
  int denied = 0;
  for (const auto& a : probes) {
    EXPECT_EQ(with.contains(a), literal(a)) << a.to_string();
    denied += with.contains(a) ? 1 : 0;
  }
  EXPECT_GT(denied, 20);
}

}  // namespace
}  // namespace egress::policy
