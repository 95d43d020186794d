#include "policy/packed_sets.hpp"

#include <gtest/gtest.h>

#include <random>

namespace egress::policy::detail {
namespace {

base::IpAddress v4(std::uint32_t host_order) {
  return base::IpAddress::v4(host_order);
}

base::IpAddress v6(U128 key) {
  std::array<std::uint8_t, 16> b{};
  for (int i = 15; i >= 0; --i, key >>= 8)
    b[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(key);
  return base::IpAddress::v6(b);
}

Cidr random_cidr(std::mt19937& rng, bool six) {
  Cidr c;
  if (six) {
    // Inside 2001:db8::/32, so that sets overlap often.
    const U128 key =
        (U128{0x20010db8u} << 96) | (U128{rng() % 4} << 80) | (U128{rng()} << 32) | rng();
    c.prefix_len = 32 + rng() % 97;
    c.network = v6(key & ~((c.prefix_len == 128 ? U128{0} : (~U128{0} >> c.prefix_len))));
  } else {
    // Inside 203.0.112.0/22.
    const std::uint32_t key = (203u << 24) | (0u << 16) | ((112u + rng() % 4) << 8) | (rng() % 256);
    c.prefix_len = 22 + rng() % 11;
    c.network = v4(key & ~(c.prefix_len == 32 ? 0u : (0xFFFFFFFFu >> c.prefix_len)));
  }
  return c;
}

// Addresses at and around every interval's edges, and some at random.
std::vector<base::IpAddress> probes(const AddressSet& s, std::mt19937& rng) {
  std::vector<base::IpAddress> out;
  for (const auto& iv : s.v4()) {
    for (std::uint32_t k : {iv.lo - 1, iv.lo, iv.lo + 1, iv.hi - 1, iv.hi, iv.hi + 1})
      out.push_back(v4(k));
  }
  for (const auto& iv : s.v6()) {
    for (U128 k : {iv.lo - 1, iv.lo, iv.hi, iv.hi + 1}) out.push_back(v6(k));
  }
  for (int i = 0; i < 20; ++i) {
    out.push_back(v4((203u << 24) | ((112u + rng() % 4) << 8) | (rng() % 256)));
    out.push_back(v6((U128{0x20010db8u} << 96) | (U128{rng() % 4} << 80) | rng()));
  }
  return out;
}

TEST(PackedSets, AddressMembershipAgreesWithTheSet) {
  std::mt19937 rng(7);
  PackedSets packed;
  std::vector<std::pair<AddressSet, std::int32_t>> sets;
  sets.emplace_back(AddressSet(), packed.add(AddressSet()));
  sets.emplace_back(AddressSet::all(), packed.add(AddressSet::all()));
  for (int i = 0; i < 300; ++i) {
    std::vector<Cidr> cidrs;
    for (unsigned n = rng() % 40; n > 0; --n) cidrs.push_back(random_cidr(rng, rng() % 3 == 0));
    AddressSet s = AddressSet::from_cidrs(cidrs);
    sets.emplace_back(s, packed.add(s));
  }
  packed.freeze();
  std::size_t in = 0, checked = 0;
  for (const auto& [s, at] : sets) {
    for (const auto& a : probes(s, rng)) {
      ASSERT_EQ(packed.contains_address(at, a), s.contains(a)) << a.to_string();
      in += s.contains(a);
      ++checked;
    }
  }
  EXPECT_GT(in, checked / 4);  // the probes hit both sides
  EXPECT_LT(in, checked * 3 / 4);
}

TEST(PackedSets, PortMembershipAgreesWithTheSet) {
  std::mt19937 rng(11);
  PackedSets packed;
  std::vector<std::pair<PortSet, std::int32_t>> sets;
  for (int i = 0; i < 200; ++i) {
    PortSet s;
    // Up to 30 ranges: both the scan (<= 8) and the search.
    for (unsigned n = rng() % 30; n > 0; --n) {
      const auto lo = static_cast<std::uint16_t>(1 + rng() % 65535);
      s.add(lo, static_cast<std::uint16_t>(std::min<unsigned>(65535, lo + rng() % 50)));
    }
    s.normalize();
    sets.emplace_back(s, packed.add(s));
  }
  sets.emplace_back(PortSet::all(), packed.add(PortSet::all()));
  packed.freeze();
  for (const auto& [s, at] : sets) {
    std::vector<std::uint16_t> ports = {0, 1, 65535};
    for (const auto& r : s.ranges()) {
      for (int d : {-1, 0, 1}) {
        ports.push_back(static_cast<std::uint16_t>(r.lo + d));
        ports.push_back(static_cast<std::uint16_t>(r.hi + d));
      }
    }
    for (std::uint16_t p : ports) ASSERT_EQ(packed.contains_port(at, p), s.contains(p)) << p;
  }
}

TEST(PackedSets, EqualSetsShareTheirWords) {
  PackedSets packed;
  const AddressSet a = AddressSet::from_cidrs({*parse_cidr("203.0.113.0/24").cidr});
  const AddressSet b = AddressSet::from_cidrs({*parse_cidr("198.51.100.0/24").cidr});
  PortSet p;
  p.add(443, 443);
  p.normalize();
  const auto at_a = packed.add(a);
  EXPECT_NE(packed.add(b), at_a);
  EXPECT_EQ(packed.add(a), at_a);
  const auto at_p = packed.add(p);
  EXPECT_EQ(packed.add(p), at_p);
  packed.freeze();
  EXPECT_TRUE(packed.contains_address(at_a, *base::IpAddress::parse("203.0.113.9")));
  EXPECT_FALSE(packed.contains_address(at_a, *base::IpAddress::parse("198.51.100.9")));
  EXPECT_TRUE(packed.contains_port(at_p, 443));
}

}  // namespace
}  // namespace egress::policy::detail
