#include "policy/cidr_index.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace egress::policy {
namespace {

std::vector<std::uint32_t> hits(const CidrIndex& idx, const char* addr) {
  std::vector<std::uint32_t> out;
  idx.for_each_match(*base::IpAddress::parse(addr), [&](std::uint32_t v) { out.push_back(v); });
  return out;
}

Cidr cidr(const char* s) {
  return *parse_cidr(s).cidr;
}

TEST(CidrIndex, LongestFirstThenEnclosing) {
  CidrIndex idx;
  idx.add(cidr("0.0.0.0/0"), 0);
  idx.add(cidr("203.0.113.0/24"), 1);
  idx.add(cidr("203.0.113.16/28"), 2);
  idx.add(cidr("203.0.113.20/32"), 3);
  idx.add(cidr("203.0.113.64/26"), 4);
  idx.add(cidr("203.0.113.16/28"), 5);  // same prefix, second value
  idx.add(cidr("2001:db8::/32"), 6);
  idx.add(cidr("2001:db8:2::20/128"), 7);
  idx.add(cidr("::/0"), 8);
  idx.build();
  EXPECT_EQ(hits(idx, "203.0.113.20"), (std::vector<std::uint32_t>{3, 2, 5, 1, 0}));
  EXPECT_EQ(hits(idx, "203.0.113.21"), (std::vector<std::uint32_t>{2, 5, 1, 0}));
  // After a sibling subtree: the last prefix starting before .40 is .16/28, which does not
  // contain it; the walk goes up to the /24.
  EXPECT_EQ(hits(idx, "203.0.113.40"), (std::vector<std::uint32_t>{1, 0}));
  EXPECT_EQ(hits(idx, "203.0.113.127"), (std::vector<std::uint32_t>{4, 1, 0}));
  EXPECT_EQ(hits(idx, "203.0.114.0"), (std::vector<std::uint32_t>{0}));
  EXPECT_EQ(hits(idx, "0.0.0.0"), (std::vector<std::uint32_t>{0}));
  EXPECT_EQ(hits(idx, "255.255.255.255"), (std::vector<std::uint32_t>{0}));
  EXPECT_EQ(hits(idx, "2001:db8:2::20"), (std::vector<std::uint32_t>{7, 6, 8}));
  EXPECT_EQ(hits(idx, "2001:db8:2::21"), (std::vector<std::uint32_t>{6, 8}));
  EXPECT_EQ(hits(idx, "::ffff:203.0.113.20"), (std::vector<std::uint32_t>{3, 2, 5, 1, 0}));
}

TEST(CidrIndex, EmptyAndDisjoint) {
  CidrIndex idx;
  idx.build();
  EXPECT_TRUE(hits(idx, "1.2.3.4").empty());
  idx = CidrIndex();
  idx.add(cidr("10.0.0.0/8"), 1);
  idx.add(cidr("192.0.2.0/24"), 2);
  idx.build();
  EXPECT_TRUE(hits(idx, "9.255.255.255").empty());
  EXPECT_TRUE(hits(idx, "11.0.0.0").empty());
  EXPECT_TRUE(hits(idx, "192.0.3.0").empty());
  EXPECT_EQ(hits(idx, "192.0.2.255"), (std::vector<std::uint32_t>{2}));
  EXPECT_TRUE(hits(idx, "::1").empty());
}

TEST(CidrIndex, DeepChainOfHostRoutes) {
  // /8 .. /32 nested prefixes, plus many siblings: the match is always the full chain.
  CidrIndex idx;
  for (unsigned len = 8; len <= 32; ++len) {
    Cidr c = cidr("10.0.0.0/8");
    c.prefix_len = len;
    idx.add(c, len);
  }
  for (unsigned i = 1; i < 200; ++i)
    idx.add(cidr(("10.0.0." + std::to_string(i) + "/32").c_str()), 1000 + i);
  idx.build();
  EXPECT_EQ(hits(idx, "10.0.0.0").size(), 25u);
  auto h = hits(idx, "10.0.0.7");
  ASSERT_FALSE(h.empty());
  EXPECT_EQ(h.front(), 1007u);
  EXPECT_EQ(h.size(), 23u);  // 10.0.0.7 is in 10.0.0.0/8 .. /29 (22 prefixes) and its own /32
}

// Thousands of prefixes, so that the search over lo_ goes through many of top_'s lines, checked
// against a scan of every prefix at and around each prefix's edges.
TEST(CidrIndex, ManyPrefixesAgreeWithAScan) {
  std::mt19937 rng(3);
  for (const bool six : {false, true}) {
    CidrIndex idx;
    std::vector<Cidr> added;
    for (std::uint32_t v = 0; v < 5000; ++v) {
      Cidr c;
      if (six) {
        std::array<std::uint8_t, 16> b{0x20, 0x01, 0x0d, 0xb8};
        for (std::size_t i = 4; i < 16; ++i)
          b[i] = static_cast<std::uint8_t>(i < 7 ? rng() % 2 : rng());
        c.network = base::IpAddress::v6(b);
        c.prefix_len = 32 + rng() % 97;
        const U128 mask = c.prefix_len == 128 ? U128{0} : ~U128{0} >> c.prefix_len;
        const U128 k = v6_key(c.network) & ~mask;
        for (int i = 15; i >= 0; --i)
          b[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(k >> (8 * (15 - i)));
        c.network = base::IpAddress::v6(b);
      } else {
        const std::uint32_t k = (203u << 24) | ((rng() % 64) << 8) | (rng() % 256);
        c.prefix_len = 18 + rng() % 15;
        c.network =
            base::IpAddress::v4(k & ~(c.prefix_len == 32 ? 0u : 0xFFFFFFFFu >> c.prefix_len));
      }
      idx.add(c, v);
      added.push_back(c);
    }
    idx.build();
    std::size_t found = 0;
    for (const Cidr& c : added) {
      const bool v4 = c.network.is_v4();
      for (int edge = 0; edge < 4; ++edge) {
        base::IpAddress a = c.network;
        if (v4) {
          const std::uint32_t k = edge < 2 ? c.v4_lo() : c.v4_hi();
          a = base::IpAddress::v4(edge == 0 ? k - 1 : edge == 3 ? k + 1 : k);
        } else {
          const U128 k = edge < 2 ? c.v6_lo() : c.v6_hi();
          const U128 x = edge == 0 ? k - 1 : edge == 3 ? k + 1 : k;
          std::array<std::uint8_t, 16> b{};
          for (int i = 15; i >= 0; --i)
            b[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(x >> (8 * (15 - i)));
          a = base::IpAddress::v6(b);
        }
        std::vector<std::uint32_t> want;
        unsigned longest = 0;
        for (std::uint32_t v = 0; v < added.size(); ++v) {
          const Cidr& p = added[v];
          if (p.network.is_v4() != a.is_v4()) continue;
          const bool in = a.is_v4() ? p.v4_lo() <= v4_key(a) && v4_key(a) <= p.v4_hi()
                                    : p.v6_lo() <= v6_key(a) && v6_key(a) <= p.v6_hi();
          if (!in) continue;
          want.push_back(v);
          longest = std::max(longest, p.prefix_len);
        }
        auto got = hits(idx, a.to_string().c_str());
        if (!got.empty()) {
          EXPECT_EQ(added[got.front()].prefix_len, longest) << a.to_string();
        }
        std::sort(got.begin(), got.end());
        ASSERT_EQ(got, want) << a.to_string();
        found += !want.empty();
      }
    }
    EXPECT_GT(found, 10000u);  // most probes are inside some prefix
  }
}

}  // namespace
}  // namespace egress::policy
