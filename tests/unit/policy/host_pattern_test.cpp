// hosts: parsing, matching (exact, wildcard depth, apex, case, trailing dot, xn--), and the set
// relations the compiler and lint use (issue 19).
#include "policy/host_pattern.hpp"

#include <gtest/gtest.h>

namespace egress::policy {
namespace {

HostPattern parse(const char* text) {
  auto p = parse_host_pattern(text);
  EXPECT_TRUE(p.pattern) << text << ": " << p.error;
  return p.pattern.value_or(HostPattern{});
}

TEST(HostPattern, ExactIsNormalised) {
  const auto p = parse("API.Stripe.COM.");
  EXPECT_FALSE(p.wildcard);
  EXPECT_EQ(p.name, "api.stripe.com");
  EXPECT_EQ(p.written, "API.Stripe.COM.");
  EXPECT_TRUE(p.matches("api.stripe.com"));
  EXPECT_FALSE(p.matches("x.api.stripe.com"));
  EXPECT_FALSE(p.matches("stripe.com"));
}

TEST(HostPattern, WildcardIsAnyDepthNeverTheApex) {
  const auto p = parse("*.Example.com");
  EXPECT_TRUE(p.wildcard);
  EXPECT_EQ(p.name, "example.com");
  EXPECT_TRUE(p.matches("a.example.com"));
  EXPECT_TRUE(p.matches("a.b.c.example.com"));
  EXPECT_FALSE(p.matches("example.com"));
  EXPECT_FALSE(p.matches("badexample.com"));
  EXPECT_FALSE(p.matches(".example.com"));
  EXPECT_FALSE(p.matches("example.com.evil.net"));
}

TEST(HostPattern, IdnaALabelsAreNames) {
  const auto p = parse("xn--bcher-kva.example");
  EXPECT_EQ(p.name, "xn--bcher-kva.example");
  EXPECT_TRUE(p.matches("xn--bcher-kva.example"));
  EXPECT_TRUE(parse("*.XN--BCHER-KVA.example").matches("shop.xn--bcher-kva.example"));
}

TEST(HostPattern, Refused) {
  for (const char* bad :
       {"203.0.113.7", "2001:db8::1", "[2001:db8::1]", "127.1", "2130706433", "0x7f.0.0.1",
        "b\xC3\xBC"
        "cher.example",
        "*", "*.", "a.*.example.com", "*example.com", "**.example.com", "a_b.example.com", "",
        "a..b", "-a.example.com", "example.123"}) {
    EXPECT_FALSE(parse_host_pattern(bad).pattern) << bad;
  }
}

TEST(HostPattern, Within) {
  EXPECT_TRUE(parse("a.example.com").within(parse("*.example.com")));
  EXPECT_TRUE(parse("*.a.example.com").within(parse("*.example.com")));
  EXPECT_TRUE(parse("*.example.com").within(parse("*.example.com")));
  EXPECT_FALSE(parse("example.com").within(parse("*.example.com")));
  EXPECT_FALSE(parse("*.example.com").within(parse("a.example.com")));
  EXPECT_FALSE(parse("*.example.com").within(parse("*.a.example.com")));
  EXPECT_TRUE(parse("a.example.com").within(parse("A.example.com.")));
}

TEST(HostPattern, IntersectKeepsTheNarrowerOfEachPair) {
  const std::vector<HostPattern> a = {parse("*.stripe.com"), parse("example.org")};
  const std::vector<HostPattern> b = {parse("api.stripe.com"), parse("*.eu.stripe.com"),
                                      parse("other.net")};
  const auto both = intersect_hosts(a, b);
  ASSERT_EQ(both.size(), 2u);
  EXPECT_EQ(both[0].name, "api.stripe.com");
  EXPECT_TRUE(both[1].wildcard);
  EXPECT_EQ(both[1].name, "eu.stripe.com");
  EXPECT_TRUE(intersect_hosts({parse("a.example.com")}, {parse("b.example.com")}).empty());
  EXPECT_TRUE(hosts_within(both, a));
  EXPECT_FALSE(hosts_within(a, both));
}

}  // namespace
}  // namespace egress::policy
