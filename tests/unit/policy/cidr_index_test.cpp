#include "policy/cidr_index.hpp"

#include <gtest/gtest.h>

namespace egress::policy {
namespace {

std::vector<std::uint32_t> hits(const CidrIndex& idx, const char* addr) {
  std::vector<std::uint32_t> out;
  idx.for_each_match(*net::IpAddress::parse(addr), [&](std::uint32_t v) { out.push_back(v); });
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

}  // namespace
}  // namespace egress::policy
