#include "ctl/change_groups.hpp"

#include <gtest/gtest.h>

#include "clock/rfc3339.hpp"

namespace egress::ctl {
namespace {

std::chrono::system_clock::time_point at(const char* t) {
  return *clock::parse_rfc3339(t);
}

const DecisionSide kAllowWeb{"allow", "web"};
const DecisionSide kDeny{"deny", ""};
const DecisionSide kAllowOther{"allow", "other"};

TEST(Classify, KindsFromDecisionAndRule) {
  ChangeKind k;
  ASSERT_TRUE(classify(kAllowWeb, kDeny, k));
  EXPECT_EQ(k, ChangeKind::tighten);
  ASSERT_TRUE(classify(kDeny, kAllowWeb, k));
  EXPECT_EQ(k, ChangeKind::widen);
  ASSERT_TRUE(classify(kAllowWeb, kAllowOther, k));
  EXPECT_EQ(k, ChangeKind::rule_changed);
  ASSERT_TRUE(classify(DecisionSide{"deny", "block"}, kDeny, k));  // deny rule -> default deny
  EXPECT_EQ(k, ChangeKind::rule_changed);
  EXPECT_FALSE(classify(kAllowWeb, kAllowWeb, k));
  EXPECT_EQ(to_string(ChangeKind::rule_changed), "rule_changed");
}

TEST(ChangeTable, GroupsByClientDestinationHostAndSides) {
  ChangeTable t(10);
  t.add(ChangeKind::tighten, "c1", "203.0.113.1:443", "", kAllowWeb, kDeny,
        at("2026-05-02T00:00:00Z"), "2026-05-02T00:00:00Z");
  t.add(ChangeKind::tighten, "c1", "203.0.113.1:443", "", kAllowWeb, kDeny,
        at("2026-05-01T00:00:00Z"), "2026-05-01T00:00:00Z");
  t.add(ChangeKind::tighten, "c1", "203.0.113.1:443", "", kAllowWeb, kDeny,
        at("2026-05-03T00:00:00Z"), "2026-05-03T00:00:00Z");
  // Another host, another client, another old rule: three more groups.
  t.add(ChangeKind::tighten, "c1", "203.0.113.1:443", "a.example", kAllowWeb, kDeny,
        at("2026-05-01T00:00:00Z"), "x");
  t.add(ChangeKind::tighten, "c2", "203.0.113.1:443", "", kAllowWeb, kDeny,
        at("2026-05-01T00:00:00Z"), "x");
  t.add(ChangeKind::widen, "c1", "203.0.113.1:443", "", kDeny, kAllowWeb,
        at("2026-05-01T00:00:00Z"), "x");
  const auto g = t.groups();
  ASSERT_EQ(g.size(), 4u);
  EXPECT_EQ(g[0].kind, ChangeKind::tighten);
  EXPECT_EQ(g[0].count, 3u);  // the largest first
  EXPECT_EQ(g[0].first_seen, "2026-05-01T00:00:00Z");
  EXPECT_EQ(g[0].last_seen, "2026-05-03T00:00:00Z");
  EXPECT_EQ(g[3].kind, ChangeKind::widen);  // kinds in order
  EXPECT_EQ(t.more_groups(), 0u);
}

TEST(ChangeTable, BoundedCountsWhatItCannotHold) {
  ChangeTable t(2);
  for (int i = 0; i < 5; ++i) {
    for (int repeat = 0; repeat < 3; ++repeat) {
      t.add(ChangeKind::tighten, "c" + std::to_string(i), "203.0.113.1:443", "", kAllowWeb, kDeny,
            at("2026-05-01T00:00:00Z"), "x");
    }
  }
  EXPECT_EQ(t.groups().size(), 2u);
  EXPECT_EQ(t.groups()[0].count, 3u);  // a held group keeps counting
  EXPECT_EQ(t.more_groups(), 3u);
  EXPECT_EQ(t.more_records(), 9u);
}

}  // namespace
}  // namespace egress::ctl
