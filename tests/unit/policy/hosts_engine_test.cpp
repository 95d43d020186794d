// Hostname rules in decisions: hosts entries AND-ed with cidrs and ports, named destinations
// narrowed by an entry's hosts, the three host_verification modes, the name_mismatch /
// name_unresolved reasons, and may_depend_on_name (issue 19).
#include <gtest/gtest.h>

#include <tuple>

#include "policy/policy.hpp"
#include "test_util.hpp"

namespace egress::policy {
namespace {

using testing::Conn;
using testing::errors_of;
using V = NameVerification;

constexpr const char* kRules = R"(kind: Role
name: payments
members: [{source: 192.0.2.0/28}]
---
kind: Destination
name: stripe
hosts: ["*.stripe.com"]
ports: [443]
---
kind: Rule
id: deny-evil
action: deny
from: [{any: true}]
to: [{hosts: [evil.example.net]}]
---
kind: Rule
id: payments-to-stripe
action: allow
from: [{role: payments}]
to: [{hosts: [api.stripe.com], ports: [443]}]
---
kind: Rule
id: cdn-assets
action: allow
from: [{any: true}]
to: [{hosts: ["*.assets.example.com"], cidrs: [203.0.113.0/24]}]
---
kind: Rule
id: stripe-named
action: allow
from: [{source: 198.51.100.0/24}]
to: [{destination: stripe, hosts: ["*.eu.stripe.com", api.stripe.com]}]
---
kind: Rule
id: web-by-address
action: allow
from: [{any: true}]
to: [{cidrs: [203.0.113.80/32], ports: [443]}]
---
kind: Rule
id: report-allow-docs
action: allow
mode: report
from: [{any: true}]
to: [{hosts: [docs.example.com]}]
)";

std::shared_ptr<const Policy> compile(const char* verification, const char* extra = "") {
  const std::string settings =
      std::string("kind: Settings\ndefault: deny\n") + extra +
      "deny_destinations: [builtin:non_public]\nhost_verification: " + verification + "\n---\n";
  auto r = testing::load_text(settings + kRules, false);
  EXPECT_TRUE(r.errors.empty()) << errors_of(r);
  return r.policy;
}

struct Want {
  Action action;
  Reason reason;
  std::string rule;
  bool name_used = false;
  bool verification_changed = false;
  std::string unverified_rule = "";
  std::optional<Action> shadow = std::nullopt;
  std::string shadow_rule = "";
};

void expect(const Policy& p, const Conn& c, const Want& w, const char* what) {
  const Decision d = p.evaluate(c.facts());
  EXPECT_EQ(d.action, w.action) << what;
  EXPECT_EQ(to_string(d.reason), to_string(w.reason)) << what;
  EXPECT_EQ(d.rule_id, w.rule) << what;
  EXPECT_EQ(d.name_used, w.name_used) << what;
  EXPECT_EQ(d.verification_changed, w.verification_changed) << what;
  EXPECT_EQ(d.unverified_rule_id, w.unverified_rule) << what;
  EXPECT_EQ(d.shadow_action, w.shadow) << what;
  EXPECT_EQ(d.shadow_rule_id, w.shadow_rule) << what;
}

constexpr auto allow = Action::allow;
constexpr auto deny = Action::deny;

TEST(Hosts, StrictMatchesAVerifiedName) {
  auto p = compile("strict");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->host_verification(), HostVerification::strict);
  expect(*p, Conn("192.0.2.2", "203.0.113.10:443").host("api.stripe.com"),
         {allow, Reason::rule, "payments-to-stripe", true}, "exact, verified");
  expect(*p, Conn("192.0.2.2", "203.0.113.10:443").host("API.Stripe.COM."),
         {allow, Reason::rule, "payments-to-stripe", true}, "case and trailing dot");
  expect(*p, Conn("192.0.2.2", "203.0.113.10:443").host("www.stripe.com"),
         {deny, Reason::default_action, ""}, "another name");
  expect(*p, Conn("192.0.2.2", "203.0.113.10:80").host("api.stripe.com"),
         {deny, Reason::default_action, ""}, "hosts AND ports");
  expect(*p, Conn("192.0.2.99", "203.0.113.10:443").host("api.stripe.com"),
         {deny, Reason::default_action, ""}, "hosts AND from");
  expect(*p, Conn("192.0.2.2", "203.0.113.10:443"), {deny, Reason::default_action, ""},
         "no name: a hosts entry never matches");
}

TEST(Hosts, WildcardDepthApexAndCidrs) {
  auto p = compile("strict");
  ASSERT_TRUE(p);
  expect(*p, Conn("198.51.100.7", "203.0.113.5:8080").host("img.assets.example.com"),
         {allow, Reason::rule, "cdn-assets", true}, "one label below");
  expect(*p, Conn("198.51.100.7", "203.0.113.5:8080").host("a.b.c.assets.example.com"),
         {allow, Reason::rule, "cdn-assets", true}, "any depth below");
  expect(*p, Conn("198.51.100.7", "203.0.113.5:8080").host("assets.example.com"),
         {deny, Reason::default_action, ""}, "never the apex");
  expect(*p, Conn("198.51.100.7", "203.0.113.5:8080").host("xassets.example.com"),
         {deny, Reason::default_action, ""}, "a label boundary");
  expect(*p, Conn("198.51.100.7", "198.51.100.5:8080").host("img.assets.example.com"),
         {deny, Reason::default_action, ""}, "hosts AND cidrs");
}

TEST(Hosts, AnEntryNarrowsANamedDestination) {
  auto p = compile("strict");
  ASSERT_TRUE(p);
  expect(*p, Conn("198.51.100.7", "203.0.113.9:443").host("a.eu.stripe.com"),
         {allow, Reason::rule, "stripe-named", true}, "in both lists");
  expect(*p, Conn("198.51.100.7", "203.0.113.9:443").host("api.stripe.com"),
         {allow, Reason::rule, "stripe-named", true}, "exact name inside the wildcard");
  expect(*p, Conn("198.51.100.7", "203.0.113.9:443").host("b.stripe.com"),
         {deny, Reason::default_action, ""}, "only in the Destination's list");
  expect(*p, Conn("198.51.100.7", "203.0.113.9:80").host("a.eu.stripe.com"),
         {deny, Reason::default_action, ""}, "the Destination's ports still apply");
}

TEST(Hosts, StrictDeniesAnUnverifiedNameWithItsReason) {
  auto p = compile("strict");
  ASSERT_TRUE(p);
  expect(*p, Conn("192.0.2.2", "203.0.113.10:443").host("api.stripe.com", V::mismatch),
         {deny, Reason::name_mismatch, "", false, true, "payments-to-stripe"}, "mismatch");
  expect(*p, Conn("192.0.2.2", "203.0.113.10:443").host("api.stripe.com", V::unresolved),
         {deny, Reason::name_unresolved, "", false, true, "payments-to-stripe"}, "unresolved");
  expect(*p, Conn("192.0.2.2", "203.0.113.10:443").host("api.stripe.com", V::not_checked),
         {deny, Reason::default_action, "", false, true, "payments-to-stripe"}, "not checked");
  // Another rule allows the address: the name was not needed, verification changed the rule.
  expect(*p, Conn("192.0.2.2", "203.0.113.80:443").host("api.stripe.com", V::mismatch),
         {allow, Reason::rule, "web-by-address", false, true, "payments-to-stripe"},
         "a rule without hosts still allows");
  expect(*p, Conn("192.0.2.2", "203.0.113.80:443"), {allow, Reason::rule, "web-by-address"},
         "a rule without hosts is unaffected");
  // A name that would match nothing is no reason of its own.
  expect(*p, Conn("192.0.2.2", "203.0.113.10:443").host("www.example.com", V::mismatch),
         {deny, Reason::default_action, ""}, "no hostname rule would have matched");
}

TEST(Hosts, DenyRulesMatchTheNameAloneInEveryMode) {
  for (const char* mode : {"strict", "report", "off"}) {
    auto p = compile(mode);
    ASSERT_TRUE(p);
    expect(*p, Conn("192.0.2.2", "203.0.113.80:443").host("evil.example.net", V::mismatch),
           {deny, Reason::rule, "deny-evil", true}, mode);
    expect(*p, Conn("192.0.2.2", "203.0.113.80:443").host("EVIL.example.net.", V::unresolved),
           {deny, Reason::rule, "deny-evil", true}, mode);
  }
}

TEST(Hosts, ReportAllowsByTheNameAndShadowsTheVerifiedDecision) {
  auto p = compile("report");
  ASSERT_TRUE(p);
  expect(*p, Conn("192.0.2.2", "203.0.113.10:443").host("api.stripe.com", V::mismatch),
         {allow, Reason::rule, "payments-to-stripe", true, true, "payments-to-stripe", deny, ""},
         "mismatch: allowed, would-be denial in the shadow");
  expect(*p, Conn("192.0.2.2", "203.0.113.10:443").host("api.stripe.com", V::unresolved),
         {allow, Reason::rule, "payments-to-stripe", true, true, "payments-to-stripe", deny, ""},
         "unresolved");
  expect(*p, Conn("192.0.2.2", "203.0.113.10:443").host("api.stripe.com", V::match),
         {allow, Reason::rule, "payments-to-stripe", true}, "verified: no shadow");
  expect(*p, Conn("192.0.2.2", "203.0.113.80:443").host("api.stripe.com", V::mismatch),
         {allow, Reason::rule, "payments-to-stripe", true, true, "payments-to-stripe", allow,
          "web-by-address"},
         "the shadow names the rule a verified name would get");
}

TEST(Hosts, OffTrustsTheName) {
  auto p = compile("off");
  ASSERT_TRUE(p);
  for (const auto v : {V::mismatch, V::unresolved, V::not_checked, V::match}) {
    expect(*p, Conn("192.0.2.2", "203.0.113.10:443").host("api.stripe.com", v),
           {allow, Reason::rule, "payments-to-stripe", true}, to_string(v).data());
  }
}

TEST(Hosts, ReportModeRulesWithHosts) {
  auto p = compile("strict");
  ASSERT_TRUE(p);
  expect(*p, Conn("192.0.2.2", "203.0.113.30:443").host("docs.example.com"),
         {deny, Reason::default_action, "", false, false, "", allow, "report-allow-docs"},
         "a report-mode hostname rule is the shadow");
  expect(*p, Conn("192.0.2.2", "203.0.113.30:443").host("docs.example.com", V::mismatch),
         {deny, Reason::default_action, ""}, "but under strict only with a verified name");
}

TEST(Hosts, GatewayReportModeKeepsTheReason) {
  auto p = compile("strict", "mode: report\n");
  ASSERT_TRUE(p);
  expect(*p, Conn("192.0.2.2", "203.0.113.10:443").host("api.stripe.com", V::mismatch),
         {allow, Reason::name_mismatch, "", false, true, "payments-to-stripe", deny, ""},
         "dry run: allowed; the real decision is the shadow");
}

TEST(Hosts, ManyRulesEachFoundByItsName) {
  std::string y;
  for (int i = 0; i < 2000; ++i) {
    y += "---\nkind: Rule\nid: r" + std::to_string(i) +
         "\naction: allow\nfrom: [{any: true}]\nto: [{hosts: [\"" +
         (i % 2 ? "*.svc" + std::to_string(i) + ".example.com"
                : "api" + std::to_string(i) + ".example.com") +
         "\"], ports: [443]}]\n";
  }
  auto r = testing::load_text(y);
  ASSERT_TRUE(r.errors.empty()) << errors_of(r);
  for (int i : {0, 1, 998, 1999}) {
    const std::string host = i % 2 ? "a.b.svc" + std::to_string(i) + ".example.com"
                                   : "api" + std::to_string(i) + ".example.com";
    expect(*r.policy, Conn("192.0.2.2", "203.0.113.10:443").host(host),
           {allow, Reason::rule, "r" + std::to_string(i), true}, host.c_str());
  }
  expect(*r.policy, Conn("192.0.2.2", "203.0.113.10:443").host("svc1.example.com"),
         {deny, Reason::default_action, ""}, "apex of a wildcard");
}

constexpr const char* kDepend = R"(kind: Role
name: payments
members: [{source: 192.0.2.0/28}]
---
kind: Rule
id: a
action: allow
from: [{role: payments}]
to: [{hosts: [api.stripe.com], ports: [443]}]
---
kind: Rule
id: b
action: deny
from: [{any: true}]
to: [{hosts: ["*.assets.example.com"], cidrs: [203.0.113.0/24]}]
---
kind: Rule
id: c
action: allow
mode: report
from: [{identity: "spiffe://corp.example/ns/web/sa/x"}]
to: [{hosts: [x.example.com], ports: [8443]}]
expires: 2026-06-01T00:00:00Z
---
kind: Rule
id: d
action: allow
from: [{any: true}]
to: [{cidrs: [198.51.100.0/24]}]
)";

TEST(Hosts, MayDependOnName) {
  auto r = testing::load_text(kDepend);
  ASSERT_TRUE(r.errors.empty()) << errors_of(r);
  const Policy& p = *r.policy;
  EXPECT_TRUE(p.has_host_rules());
  auto depends = [&](const Conn& c) { return p.may_depend_on_name(c.facts()); };
  EXPECT_TRUE(depends(Conn("192.0.2.2", "198.51.100.5:443"))) << "a: payments, port 443";
  EXPECT_FALSE(depends(Conn("192.0.2.2", "198.51.100.5:22"))) << "SSH to a CIDR rule: at once";
  EXPECT_FALSE(depends(Conn("192.0.2.99", "198.51.100.5:443"))) << "not payments";
  EXPECT_TRUE(depends(Conn("192.0.2.99", "203.0.113.5:22"))) << "b: a deny rule, any port";
  EXPECT_TRUE(
      depends(Conn("192.0.2.99", "198.51.100.5:8443").id("spiffe://corp.example/ns/web/sa/x")))
      << "c: a report-mode rule";
  EXPECT_FALSE(depends(Conn("192.0.2.99", "198.51.100.5:8443")
                           .id("spiffe://corp.example/ns/web/sa/x")
                           .when("2026-06-01T00:00:00Z")))
      << "c has expired";
  EXPECT_FALSE(depends(Conn("192.0.2.2", "10.1.2.3:443"))) << "deny_destinations decide first";
  EXPECT_FALSE(depends(Conn("192.0.2.2", "198.51.100.5:22").host("api.stripe.com")))
      << "the name itself is not read";

  // Rules sharing their conditions but not their expiry: the latest one counts.
  for (const char* order : {"2026-06-01T00:00:00Z\", \"2027-06-01T00:00:00Z",
                            "2027-06-01T00:00:00Z\", \"2026-06-01T00:00:00Z"}) {
    const std::string o(order);
    const std::string first = o.substr(0, o.find('"'));
    const std::string second = o.substr(o.rfind('"') + 1);
    std::string y;
    for (const auto& [id, name, exp] :
         {std::tuple{"e1", "a.example.com", first}, std::tuple{"e2", "b.example.com", second}}) {
      y += std::string("---\nkind: Rule\nid: ") + id +
           "\naction: allow\nfrom: [{any: true}]\nto: [{hosts: [" + name +
           "], ports: [443]}]\nexpires: " + exp + "\n";
    }
    auto two = testing::load_text(y);
    ASSERT_TRUE(two.policy) << errors_of(two);
    EXPECT_TRUE(two.policy->may_depend_on_name(
        Conn("192.0.2.2", "198.51.100.5:443").when("2026-07-01T00:00:00Z").facts()))
        << first << " " << second;
    EXPECT_FALSE(two.policy->may_depend_on_name(
        Conn("192.0.2.2", "198.51.100.5:443").when("2027-07-01T00:00:00Z").facts()));
  }

  auto none = testing::load_text(
      "kind: Rule\nid: d\naction: allow\nfrom: [{any: true}]\nto: [{cidrs: [198.51.100.0/24]}]\n");
  ASSERT_TRUE(none.policy);
  EXPECT_FALSE(none.policy->has_host_rules());
  EXPECT_FALSE(none.policy->may_depend_on_name(Conn("192.0.2.2", "198.51.100.5:443").facts()));
}

}  // namespace
}  // namespace egress::policy
