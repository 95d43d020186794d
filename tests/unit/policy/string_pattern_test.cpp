#include "policy/string_pattern.hpp"

#include <gtest/gtest.h>

namespace egress::policy {
namespace {

// Does identity pattern `pattern` match `value`? (through the same PatternSet as the engine)
bool identity_matches(const std::string& pattern, const std::string& value) {
  auto p = parse_identity_pattern(pattern);
  EXPECT_TRUE(p.pattern) << pattern << ": " << p.error;
  if (!p.pattern) return false;
  if (p.pattern->kind == PatternKind::exact) return p.pattern->text == value;
  PatternSet set;
  set.add(p.pattern->text);
  EXPECT_TRUE(set.compile());
  std::vector<int> hits;
  set.match(value, hits);
  return !hits.empty();
}

struct GlobCase {
  const char* pattern;
  const char* value;
  bool match;
};

class IdentityGlob : public ::testing::TestWithParam<GlobCase> {};

TEST_P(IdentityGlob, Table) {
  const auto& c = GetParam();
  EXPECT_EQ(identity_matches(c.pattern, c.value), c.match) << c.pattern << " vs " << c.value;
}

INSTANTIATE_TEST_SUITE_P(
    Table, IdentityGlob,
    ::testing::Values(
        GlobCase{"spiffe://corp.example/ns/payments/sa/*",
                 "spiffe://corp.example/ns/payments/sa/api", true},
        GlobCase{"spiffe://corp.example/ns/payments/sa/*", "spiffe://corp.example/ns/payments/sa/",
                 false},
        GlobCase{"spiffe://corp.example/ns/payments/sa/*",
                 "spiffe://corp.example/ns/payments/sa/a/b", false},
        GlobCase{"spiffe://corp.example/ns/payments/sa/*", "spiffe://corp.example/ns/payments/sa",
                 false},
        GlobCase{"spiffe://corp.example/ns/*/sa/api", "spiffe://corp.example/ns/x/sa/api", true},
        GlobCase{"spiffe://corp.example/ns/*/sa/api", "spiffe://corp.example/ns/x/y/sa/api", false},
        GlobCase{"spiffe://corp.example/ns/pay*/sa/api", "spiffe://corp.example/ns/payments/sa/api",
                 true},
        GlobCase{"spiffe://corp.example/ns/pay*/sa/api", "spiffe://corp.example/ns/pay/sa/api",
                 true},
        GlobCase{"spiffe://corp.example/ns/pay*/sa/api", "spiffe://corp.example/ns/xpay/sa/api",
                 false},
        GlobCase{"spiffe://corp.example/ns/payments/**", "spiffe://corp.example/ns/payments/sa/api",
                 true},
        GlobCase{"spiffe://corp.example/ns/payments/**", "spiffe://corp.example/ns/payments/sa",
                 true},
        GlobCase{"spiffe://corp.example/ns/payments/**", "spiffe://corp.example/ns/payments",
                 false},
        GlobCase{"spiffe://corp.example/ns/payments/**", "spiffe://corp.example/ns/payments/",
                 false},
        GlobCase{"spiffe://corp.example/ns/payments/**", "spiffe://corp.example/ns/paymentsX/a",
                 false},
        // Regex metacharacters in a glob are literal.
        GlobCase{"spiffe://corp.example/ns/a.b/*", "spiffe://corp.example/ns/aXb/x", false},
        GlobCase{"spiffe://corp.example/ns/a.b/*", "spiffe://corp.example/ns/a.b/x", true},
        // A case difference is a different ID.
        GlobCase{"spiffe://corp.example/ns/payments/sa/*",
                 "spiffe://corp.example/ns/Payments/sa/api", false},
        // Exact.
        GlobCase{"spiffe://corp.example/ns/p/sa/api", "spiffe://corp.example/ns/p/sa/api", true},
        GlobCase{"spiffe://corp.example/ns/p/sa/api", "spiffe://corp.example/ns/p/sa/api2", false},
        // Regex: whole-ID match.
        GlobCase{"regex:spiffe://corp\\.example/ns/team-[0-9]+/sa/.*",
                 "spiffe://corp.example/ns/team-12/sa/x", true},
        GlobCase{"regex:spiffe://corp\\.example/ns/team-[0-9]+/sa/.*",
                 "spiffe://corp.example/ns/team-x/sa/x", false},
        GlobCase{"regex:corp", "spiffe://corp.example/", false}));

struct BadPattern {
  const char* text;
  const char* error_part;
};

class IdentityErrors : public ::testing::TestWithParam<BadPattern> {};

TEST_P(IdentityErrors, Table) {
  auto p = parse_identity_pattern(GetParam().text);
  EXPECT_FALSE(p.pattern) << GetParam().text;
  EXPECT_NE(p.error.find(GetParam().error_part), std::string::npos) << p.error;
}

INSTANTIATE_TEST_SUITE_P(
    Table, IdentityErrors,
    ::testing::Values(
        BadPattern{"spiffe://*.example/ns/a", "not allowed in the scheme or trust domain"},
        BadPattern{"spiffe://corp.example*/ns/a", "not allowed in the scheme or trust domain"},
        BadPattern{"spiffe://corp.example/**/sa/x", "'**' is only allowed as the final segment"},
        BadPattern{"spiffe://corp.example/ns/a**", "'**' is only allowed as the final segment"},
        BadPattern{"spiffe://corp.example/ns/***", "'**' is only allowed as the final segment"},
        BadPattern{"regex:spiffe://(", "invalid RE2 pattern"}, BadPattern{"regex:", "empty regex"},
        BadPattern{"", "empty identity"}));

struct DnsCase {
  const char* pattern;
  const char* value;
  bool match;
};

bool dns_matches(const std::string& pattern, const std::string& value) {
  auto p = parse_dns_pattern(pattern);
  EXPECT_TRUE(p.pattern) << p.error;
  std::string v;
  normalize_dns_name(value, v);
  if (p.pattern->kind == PatternKind::exact) return v == p.pattern->text;
  const auto& suffix = p.pattern->text;
  return v.size() > suffix.size() + 1 && v.ends_with(suffix) &&
         v[v.size() - suffix.size() - 1] == '.';
}

class DnsNames : public ::testing::TestWithParam<DnsCase> {};

TEST_P(DnsNames, Table) {
  const auto& c = GetParam();
  EXPECT_EQ(dns_matches(c.pattern, c.value), c.match) << c.pattern << " vs " << c.value;
}

INSTANTIATE_TEST_SUITE_P(Table, DnsNames,
                         ::testing::Values(DnsCase{"api.example.com", "api.example.com", true},
                                           DnsCase{"api.example.com", "API.Example.COM", true},
                                           DnsCase{"api.example.com", "api.example.com.", true},
                                           DnsCase{"API.example.com.", "api.example.com", true},
                                           DnsCase{"api.example.com", "x.api.example.com", false},
                                           DnsCase{"*.example.com", "api.example.com", true},
                                           DnsCase{"*.example.com", "a.b.example.com", true},
                                           DnsCase{"*.example.com", "A.Example.Com.", true},
                                           DnsCase{"*.example.com", "example.com", false},
                                           DnsCase{"*.example.com", "badexample.com", false},
                                           DnsCase{"*.example.com", ".example.com", false}));

TEST(DnsPattern, Errors) {
  for (auto [text, part] :
       {std::pair{"a.*.example.com", "only allowed as the whole first label"},
        std::pair{"*example.com", "only allowed as the whole first label"},
        std::pair{"*.*.example.com", "only allowed as the whole first label"},
        std::pair{"*.", "is not a DNS name"}, std::pair{"", "is not a DNS name"},
        std::pair{"a..b", "empty label"}, std::pair{"regex:.*", "not regex:"},
        std::pair{"a b.com", "is not a DNS name"}}) {
    auto p = parse_dns_pattern(text);
    EXPECT_FALSE(p.pattern) << text;
    EXPECT_NE(p.error.find(part), std::string::npos) << text << ": " << p.error;
  }
}

TEST(CommonNamePattern, ExactRegexAndStar) {
  auto exact = parse_cn_pattern("build-agent");
  ASSERT_TRUE(exact.pattern);
  EXPECT_EQ(exact.pattern->kind, PatternKind::exact);
  auto re = parse_cn_pattern("regex:build-[0-9]+");
  ASSERT_TRUE(re.pattern);
  EXPECT_EQ(re.pattern->kind, PatternKind::regex);
  auto star = parse_cn_pattern("build-*");
  EXPECT_FALSE(star.pattern);
  EXPECT_NE(star.error.find("write regex: for a pattern"), std::string::npos);
  auto bad = parse_cn_pattern("regex:[");
  EXPECT_FALSE(bad.pattern);
  EXPECT_NE(bad.error.find("missing ]"), std::string::npos) << bad.error;
}

TEST(PatternSet, ReportsEveryMatchingPattern) {
  PatternSet set;
  const int a = set.add("spiffe://corp/ns/[^/]+/sa/api");
  const int b = set.add("spiffe://corp/ns/payments/sa/[^/]+");
  const int c = set.add("spiffe://other/.*");
  ASSERT_TRUE(set.compile());
  std::vector<int> hits;
  set.match("spiffe://corp/ns/payments/sa/api", hits);
  std::sort(hits.begin(), hits.end());
  EXPECT_EQ(hits, (std::vector<int>{a, b}));
  hits.clear();
  set.match("spiffe://other/x", hits);
  EXPECT_EQ(hits, (std::vector<int>{c}));
  hits.clear();
  set.match("nothing", hits);
  EXPECT_TRUE(hits.empty());
}

TEST(PatternSet, EmptySetMatchesNothing) {
  PatternSet set;
  EXPECT_TRUE(set.compile());
  std::vector<int> hits;
  set.match("anything", hits);
  EXPECT_TRUE(hits.empty());
}

}  // namespace
}  // namespace egress::policy
