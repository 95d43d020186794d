#include "policy/port_set.hpp"

#include <gtest/gtest.h>

namespace egress::policy {
namespace {

PortSet ports(std::initializer_list<std::pair<int, int>> rs) {
  PortSet p;
  for (auto [lo, hi] : rs) p.add(static_cast<std::uint16_t>(lo), static_cast<std::uint16_t>(hi));
  p.normalize();
  return p;
}

TEST(PortSet, InclusiveBoundaries) {
  auto p = ports({{1, 1}, {443, 443}, {8443, 8450}, {65535, 65535}});
  for (int in : {1, 443, 8443, 8447, 8450, 65535})
    EXPECT_TRUE(p.contains(static_cast<std::uint16_t>(in))) << in;
  for (int out : {0, 2, 442, 444, 8442, 8451, 65534})
    EXPECT_FALSE(p.contains(static_cast<std::uint16_t>(out))) << out;
  EXPECT_EQ(p.to_string(), "1, 443, 8443-8450, 65535");
}

TEST(PortSet, ManyRangesUseBinarySearch) {
  PortSet p;
  for (int i = 0; i < 100; ++i)
    p.add(static_cast<std::uint16_t>(i * 100 + 1), static_cast<std::uint16_t>(i * 100 + 10));
  p.normalize();
  EXPECT_EQ(p.ranges().size(), 100u);
  EXPECT_TRUE(p.contains(5001));
  EXPECT_TRUE(p.contains(5010));
  EXPECT_FALSE(p.contains(5011));
  EXPECT_FALSE(p.contains(5000));
  EXPECT_TRUE(p.contains(9910));
  EXPECT_FALSE(p.contains(65535));
}

TEST(PortSet, MergeIntersectSubset) {
  auto p = ports({{80, 90}, {91, 100}, {95, 200}});
  EXPECT_EQ(p.ranges().size(), 1u);
  EXPECT_EQ(p.size(), 121u);
  auto q = ports({{100, 443}});
  EXPECT_EQ(p.intersect(q), ports({{100, 200}}));
  EXPECT_TRUE(ports({{150, 160}}).subset_of(p));
  EXPECT_FALSE(q.subset_of(p));
  EXPECT_TRUE(ports({{1, 10}}).intersect(ports({{11, 20}})).empty());
  EXPECT_EQ(PortSet::all().size(), 65535u);
}

TEST(PortIndex, LookupFindsEveryContainingSet) {
  PortIndex idx;
  idx.add(ports({{443, 443}}), 1);
  idx.add(ports({{400, 500}}), 2);
  idx.add(ports({{1, 65535}}), 3);
  idx.add(ports({{8443, 8450}, {443, 443}}), 4);
  idx.build();
  auto sorted = [](std::vector<std::uint32_t> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  EXPECT_EQ(sorted(idx.lookup(443)), (std::vector<std::uint32_t>{1, 2, 3, 4}));
  EXPECT_EQ(sorted(idx.lookup(444)), (std::vector<std::uint32_t>{2, 3}));
  EXPECT_EQ(sorted(idx.lookup(8450)), (std::vector<std::uint32_t>{3, 4}));
  EXPECT_EQ(sorted(idx.lookup(8451)), (std::vector<std::uint32_t>{3}));
  EXPECT_EQ(sorted(idx.lookup(65535)), (std::vector<std::uint32_t>{3}));
  EXPECT_TRUE(idx.lookup(0).empty());
}

}  // namespace
}  // namespace egress::policy
