// Policy::evaluate: order, report mode and shadows, expiry, every principal field, CIDR and port
// edges, and the decision's references into the policy.
#include "policy/policy.hpp"

#include <gtest/gtest.h>

#include "test_util.hpp"

namespace egress::policy {
namespace {

using testing::Conn;
using testing::errors_of;

std::shared_ptr<const Policy> compile(const std::string& text, bool with_settings = true) {
  auto r = testing::load_text(text, with_settings);
  EXPECT_TRUE(r.errors.empty()) << errors_of(r);
  return r.policy;
}

struct Expect {
  Action action;
  Reason reason;
  std::string rule;
  std::optional<Action> shadow = std::nullopt;
  std::string shadow_rule = "";
};

void check(const Policy& p, const Conn& c, const Expect& e, const char* what) {
  const Decision d = p.evaluate(c.facts());
  EXPECT_EQ(d.action, e.action) << what;
  EXPECT_EQ(d.reason, e.reason) << what;
  EXPECT_EQ(d.rule_id, e.rule) << what;
  EXPECT_EQ(d.shadow_action, e.shadow) << what;
  EXPECT_EQ(d.shadow_rule_id, e.shadow_rule) << what;
  EXPECT_EQ(d.policy_version, p.version()) << what;
}

constexpr const char* kOrderPolicy = R"(kind: Rule
id: allow-web
action: allow
from: [{any: true}]
to: [{cidrs: [203.0.113.0/24], ports: [443]}]
---
kind: Rule
id: deny-bad-host
action: deny
from: [{any: true}]
to: [{cidrs: [203.0.113.66/32]}]
---
kind: Rule
id: allow-bad-host-too
action: allow
from: [{any: true}]
to: [{cidrs: [203.0.113.66/32]}]
---
kind: Rule
id: report-deny-7
action: deny
mode: report
from: [{any: true}]
to: [{cidrs: [203.0.113.7/32]}]
---
kind: Rule
id: report-allow-8080
action: allow
mode: report
from: [{any: true}]
to: [{cidrs: [203.0.113.0/24], ports: [8080]}]
---
kind: Rule
id: second-allow-web
action: allow
from: [{source: 192.0.2.0/24}]
to: [{cidrs: [203.0.113.0/24], ports: [443]}]
)";

TEST(Engine, EvaluationOrder) {
  auto p = compile(kOrderPolicy);
  ASSERT_TRUE(p);
  // deny_destinations before any rule.
  check(*p, Conn("192.0.2.2", "10.0.0.1:443"), {Action::deny, Reason::deny_destination, ""},
        "non_public");
  check(*p, Conn("192.0.2.2", "[::ffff:127.0.0.1]:443"),
        {Action::deny, Reason::deny_destination, ""}, "mapped loopback");
  // A deny rule beats an allow rule, wherever it is written.
  check(*p, Conn("192.0.2.2", "203.0.113.66:443"), {Action::deny, Reason::rule, "deny-bad-host"},
        "deny first");
  // Among allow rules, the first in file order decides.
  check(*p, Conn("192.0.2.2", "203.0.113.10:443"), {Action::allow, Reason::rule, "allow-web"},
        "first allow");
  // No rule: default.
  check(*p, Conn("192.0.2.2", "203.0.113.10:80"), {Action::deny, Reason::default_action, ""},
        "default");
  check(*p, Conn("192.0.2.2", "198.51.100.1:443"), {Action::deny, Reason::default_action, ""},
        "default 2");
}

// builtin:non_public denies the IPv4-embedding forms and every block of the IANA registries
// (issue 17 item 6: ::ffff:0:a9fe:a9fe reached the upstream), even under default allow.
TEST(Engine, NonPublicDeniesEmbeddedAndSpecialForms) {
  auto p =
      compile("kind: Settings\ndefault: allow\ndeny_destinations: [builtin:non_public]\n", false);
  ASSERT_TRUE(p);
  for (const char* dst : {
           "[::a9fe:a9fe]:80",             // IPv4-compatible 169.254.169.254
           "[::7f00:1]:80",                // IPv4-compatible 127.0.0.1
           "[::ffff:0:a9fe:a9fe]:80",      // SIIT 169.254.169.254
           "[::ffff:0:7f00:1]:80",         // SIIT 127.0.0.1
           "[::ffff:169.254.169.254]:80",  // mapped: IPv4
           "[64:ff9b::a9fe:a9fe]:80",      // NAT64
           "[64:ff9b::808:808]:80",        // NAT64 of a public address: still a translator
           "[64:ff9b:1::a9fe:a9fe]:80",    // NAT64 local use
           "[2002:a9fe:a9fe::1]:80",       // 6to4
           "[2001:0:4136:e378:8000:63bf:3fff:fdd2]:80",  // Teredo
           "[fec0::1]:80",                               // deprecated site-local
           "[fd00:ec2::254]:80",                         // ULA (AWS metadata)
           "[fe80::1]:80",                               // link-local
           "[5f00::1]:80",                               // SRv6
           "[3fff::1]:80",                               // documentation, RFC 9637
           "[100::1]:80",                                // discard-only
           "[ff02::1]:80",                               // multicast
           "[::]:80",                                    // unspecified
           "192.88.99.1:80",                             // deprecated 6to4 relay anycast
           "255.255.255.255:80",                         // limited broadcast
       }) {
    check(*p, Conn("192.0.2.2", dst), {Action::deny, Reason::deny_destination, ""}, dst);
  }
  // The sandbox's "internet" and ordinary global unicast stay reachable.
  for (const char* dst : {"203.0.113.10:443", "[2001:db8:2::10]:443", "[2a00:1450::1]:443"})
    check(*p, Conn("192.0.2.2", dst), {Action::allow, Reason::default_action, ""}, dst);
}

// deny_destinations evaluates an IPv6 destination that embeds an IPv4 address (compatible, SIIT,
// NAT64, 6to4) as that address, so a denied IPv4 prefix has no IPv6 way around it; an exception
// carves out the embedded forms of the addresses it excepts.
TEST(Engine, DenyDestinationsSeeTheEmbeddedIpv4) {
  auto p = compile(R"(kind: Settings
default: allow
deny_destinations: [198.51.100.0/24]
deny_exceptions: [198.51.100.128/25]
)",
                   false);
  ASSERT_TRUE(p);
  for (const char* dst : {"198.51.100.1:443", "[::c633:6401]:443", "[::ffff:0:c633:6401]:443",
                          "[64:ff9b::c633:6401]:443", "[64:ff9b::198.51.100.127]:443",
                          "[2002:c633:6401::1]:443", "[2002:c633:647f:ffff::1]:443"}) {
    check(*p, Conn("192.0.2.2", dst), {Action::deny, Reason::deny_destination, ""}, dst);
  }
  for (const char* dst :
       {"198.51.100.200:443", "[64:ff9b::c633:64c8]:443", "[2002:c633:64c8::1]:443",
        "[64:ff9b::c633:6501]:443", "[2002:c633:6501::1]:443", "[2001:db8::c633:6401]:443"}) {
    check(*p, Conn("192.0.2.2", dst), {Action::allow, Reason::default_action, ""}, dst);
  }
}

TEST(Engine, ReportModeRulesGiveShadows) {
  auto p = compile(kOrderPolicy);
  ASSERT_TRUE(p);
  // A report-mode deny would have denied an allowed connection.
  check(*p, Conn("192.0.2.2", "203.0.113.7:443"),
        {Action::allow, Reason::rule, "allow-web", Action::deny, "report-deny-7"}, "report deny");
  // A report-mode allow would have allowed a default-denied connection.
  check(*p, Conn("192.0.2.2", "203.0.113.7:8080"),
        {Action::deny, Reason::default_action, "", Action::deny, "report-deny-7"},
        "report deny vs default");
  check(*p, Conn("192.0.2.2", "203.0.113.9:8080"),
        {Action::deny, Reason::default_action, "", Action::allow, "report-allow-8080"},
        "report allow");
  // An enforced deny still decides the shadow: no difference, no shadow.
  check(*p, Conn("192.0.2.2", "203.0.113.66:8080"), {Action::deny, Reason::rule, "deny-bad-host"},
        "enforced deny");
}

TEST(Engine, SettingsReportModeAllowsEverythingAndShadowsTheRealDecision) {
  auto p = compile(
      std::string("kind: Settings\nmode: report\ndeny_destinations: [builtin:metadata]\n---\n") +
          kOrderPolicy,
      false);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->report_mode());
  check(*p, Conn("192.0.2.2", "169.254.169.254:80"),
        {Action::allow, Reason::deny_destination, "", Action::deny, ""}, "deny_destination");
  check(*p, Conn("192.0.2.2", "203.0.113.66:443"),
        {Action::allow, Reason::rule, "deny-bad-host", Action::deny, "deny-bad-host"}, "deny rule");
  check(*p, Conn("192.0.2.2", "203.0.113.10:80"),
        {Action::allow, Reason::default_action, "", Action::deny, ""}, "default deny");
  check(*p, Conn("192.0.2.2", "203.0.113.10:443"), {Action::allow, Reason::rule, "allow-web"},
        "allowed anyway");
}

TEST(Engine, DefaultAllowAndExceptions) {
  auto p = compile(R"(kind: Settings
default: allow
deny_destinations: [builtin:non_public, 198.51.100.0/24]
deny_exceptions: [10.99.0.5/32, 198.51.100.128/25]
---
kind: Rule
id: no-smtp
action: deny
from: [{any: true}]
to: [{ports: [25]}]
)",
                   false);
  ASSERT_TRUE(p);
  check(*p, Conn("192.0.2.2", "203.0.113.1:443"), {Action::allow, Reason::default_action, ""},
        "default allow");
  check(*p, Conn("192.0.2.2", "203.0.113.1:25"), {Action::deny, Reason::rule, "no-smtp"},
        "deny port");
  check(*p, Conn("192.0.2.2", "10.99.0.5:443"), {Action::allow, Reason::default_action, ""},
        "exception");
  check(*p, Conn("192.0.2.2", "10.99.0.6:443"), {Action::deny, Reason::deny_destination, ""},
        "not the exception");
  check(*p, Conn("192.0.2.2", "198.51.100.127:443"), {Action::deny, Reason::deny_destination, ""},
        "deny /24 low half");
  check(*p, Conn("192.0.2.2", "198.51.100.128:443"), {Action::allow, Reason::default_action, ""},
        "exception /25");
}

TEST(Engine, ExpiryWithInjectedClock) {
  auto p = compile(R"(kind: Rule
id: temporary
action: allow
from: [{any: true}]
to: [{cidrs: [203.0.113.5/32]}]
expires: 2027-03-31T00:00:00Z
)");
  ASSERT_TRUE(p);
  check(*p, Conn("192.0.2.2", "203.0.113.5:443").when("2027-03-30T23:59:59Z"),
        {Action::allow, Reason::rule, "temporary"}, "before");
  check(*p, Conn("192.0.2.2", "203.0.113.5:443").when("2027-03-31T00:00:00Z"),
        {Action::deny, Reason::default_action, ""}, "at expiry");
  check(*p, Conn("192.0.2.2", "203.0.113.5:443").when("2030-01-01T00:00:00Z"),
        {Action::deny, Reason::default_action, ""}, "after");
}

TEST(Engine, CidrEdges) {
  auto p = compile(R"(kind: Rule
id: all-v4
action: allow
from: [{any: true}]
to: [{cidrs: [0.0.0.0/0], ports: [1]}]
---
kind: Rule
id: all-v6
action: allow
from: [{any: true}]
to: [{cidrs: ["::/0"], ports: [2]}]
---
kind: Rule
id: host32
action: allow
from: [{any: true}]
to: [{cidrs: [203.0.113.9/32], ports: [3]}]
---
kind: Rule
id: host128
action: allow
from: [{any: true}]
to: [{cidrs: ["2001:db8::9/128"], ports: [3]}]
---
kind: Rule
id: mapped
action: allow
from: [{any: true}]
to: [{cidrs: ["::ffff:198.51.100.0/120"], ports: [4]}]
)");
  ASSERT_TRUE(p);
  check(*p, Conn("192.0.2.2", "203.0.113.1:1"), {Action::allow, Reason::rule, "all-v4"}, "/0 v4");
  check(*p, Conn("192.0.2.2", "[2001:db8::1]:1"), {Action::deny, Reason::default_action, ""},
        "/0 v4 not v6");
  check(*p, Conn("192.0.2.2", "[2001:db8::1]:2"), {Action::allow, Reason::rule, "all-v6"}, "/0 v6");
  check(*p, Conn("192.0.2.2", "[::ffff:203.0.113.1]:2"), {Action::deny, Reason::default_action, ""},
        "mapped is v4");
  check(*p, Conn("192.0.2.2", "203.0.113.9:3"), {Action::allow, Reason::rule, "host32"}, "/32");
  check(*p, Conn("192.0.2.2", "203.0.113.8:3"), {Action::deny, Reason::default_action, ""},
        "/32 neighbour");
  check(*p, Conn("192.0.2.2", "203.0.113.10:3"), {Action::deny, Reason::default_action, ""},
        "/32 neighbour 2");
  check(*p, Conn("192.0.2.2", "[2001:db8::9]:3"), {Action::allow, Reason::rule, "host128"}, "/128");
  check(*p, Conn("192.0.2.2", "[2001:db8::8]:3"), {Action::deny, Reason::default_action, ""},
        "/128 neighbour");
  check(*p, Conn("192.0.2.2", "198.51.100.200:4"), {Action::allow, Reason::rule, "mapped"},
        "mapped prefix");
  check(*p, Conn("192.0.2.2", "[::ffff:198.51.100.200]:4"), {Action::allow, Reason::rule, "mapped"},
        "mapped both");
}

TEST(Engine, PortBoundaries) {
  auto p = compile(R"(kind: Destination
name: d
cidrs: [203.0.113.0/24]
ports: [1, "8443-8450", 65535]
---
kind: Rule
id: r
action: allow
from: [{any: true}]
to: [{destination: d}]
)");
  ASSERT_TRUE(p);
  for (auto [port, allowed] : {std::pair{1, true},
                               {2, false},
                               {8442, false},
                               {8443, true},
                               {8450, true},
                               {8451, false},
                               {65534, false},
                               {65535, true},
                               {0, false}}) {
    const std::string dst = "203.0.113.1:" + std::to_string(port);
    EXPECT_EQ(p->evaluate(Conn("192.0.2.2", dst.c_str()).facts()).action,
              allowed ? Action::allow : Action::deny)
        << port;
  }
}

constexpr const char* kPrincipals = R"(kind: Role
name: payments
members:
  - identity: "spiffe://corp.example/ns/payments/sa/*"
  - {source: 198.51.100.0/24, common_name: legacy-payments}
---
kind: Rule
id: payments
action: allow
from: [{role: payments}]
to: [{ports: [1001]}]
---
kind: Rule
id: exact-id
action: allow
from: [{identity: "spiffe://corp.example/ns/web/sa/frontend"}]
to: [{ports: [1002]}]
---
kind: Rule
id: regex-id
action: allow
from: [{identity: "regex:spiffe://corp\\.example/ns/team-[0-9]+/sa/.+"}]
to: [{ports: [1003]}]
---
kind: Rule
id: tail-glob
action: allow
from: [{identity: "spiffe://corp.example/ns/batch/**"}]
to: [{ports: [1004]}]
---
kind: Rule
id: dns-exact
action: allow
from: [{dns_name: api.example.com}]
to: [{ports: [1005]}]
---
kind: Rule
id: dns-wild
action: allow
from: [{dns_name: "*.svc.example.com"}]
to: [{ports: [1006]}]
---
kind: Rule
id: cn-exact
action: allow
from: [{common_name: build-agent}]
to: [{ports: [1007]}]
---
kind: Rule
id: cn-regex
action: allow
from: [{common_name: "regex:runner-[0-9]+"}]
to: [{ports: [1008]}]
---
kind: Rule
id: and-fields
action: allow
from: [{identity: "spiffe://corp.example/ns/web/sa/frontend", source: 192.0.2.0/28}]
to: [{ports: [1009]}]
---
kind: Rule
id: role-and-source
action: allow
from: [{role: payments, source: 192.0.2.0/28}]
to: [{ports: [1010]}]
)";

struct PrincipalCase {
  const char* what;
  Conn conn;
  const char* rule;  // "" = default deny
};

TEST(Engine, PrincipalFields) {
  auto p = compile(kPrincipals);
  ASSERT_TRUE(p);
  const std::vector<PrincipalCase> cases = {
      {"role glob",
       Conn("192.0.2.2", "203.0.113.1:1001").id("spiffe://corp.example/ns/payments/sa/api"),
       "payments"},
      {"role glob one segment",
       Conn("192.0.2.2", "203.0.113.1:1001").id("spiffe://corp.example/ns/payments/sa/a/b"), ""},
      {"role AND member", Conn("198.51.100.9", "203.0.113.1:1001").cn("legacy-payments"),
       "payments"},
      {"role AND member wrong src", Conn("198.51.99.9", "203.0.113.1:1001").cn("legacy-payments"),
       ""},
      {"role AND member no cn", Conn("198.51.100.9", "203.0.113.1:1001"), ""},
      {"no identity", Conn("192.0.2.2", "203.0.113.1:1001"), ""},
      {"exact id",
       Conn("192.0.2.2", "203.0.113.1:1002").id("spiffe://corp.example/ns/web/sa/frontend"),
       "exact-id"},
      {"exact id differs",
       Conn("192.0.2.2", "203.0.113.1:1002").id("spiffe://corp.example/ns/web/sa/frontend2"), ""},
      {"regex id",
       Conn("192.0.2.2", "203.0.113.1:1003").id("spiffe://corp.example/ns/team-42/sa/x"),
       "regex-id"},
      {"regex id whole match",
       Conn("192.0.2.2", "203.0.113.1:1003").id("spiffe://corp.example/ns/team-42/sa/"), ""},
      {"tail glob",
       Conn("192.0.2.2", "203.0.113.1:1004").id("spiffe://corp.example/ns/batch/sa/a/b/c"),
       "tail-glob"},
      {"tail glob needs a segment",
       Conn("192.0.2.2", "203.0.113.1:1004").id("spiffe://corp.example/ns/batch"), ""},
      {"dns exact any case",
       Conn("192.0.2.2", "203.0.113.1:1005").dns("x.other").dns("API.example.com."), "dns-exact"},
      {"dns wildcard deep", Conn("192.0.2.2", "203.0.113.1:1006").dns("a.b.svc.example.com"),
       "dns-wild"},
      {"dns wildcard not apex", Conn("192.0.2.2", "203.0.113.1:1006").dns("svc.example.com"), ""},
      {"cn exact", Conn("192.0.2.2", "203.0.113.1:1007").cn("build-agent"), "cn-exact"},
      {"cn exact case", Conn("192.0.2.2", "203.0.113.1:1007").cn("Build-Agent"), ""},
      {"cn regex", Conn("192.0.2.2", "203.0.113.1:1008").cn("runner-7"), "cn-regex"},
      {"cn regex whole", Conn("192.0.2.2", "203.0.113.1:1008").cn("runner-7x"), ""},
      {"AND both",
       Conn("192.0.2.3", "203.0.113.1:1009").id("spiffe://corp.example/ns/web/sa/frontend"),
       "and-fields"},
      {"AND src fails",
       Conn("192.0.2.99", "203.0.113.1:1009").id("spiffe://corp.example/ns/web/sa/frontend"), ""},
      {"role AND source",
       Conn("192.0.2.3", "203.0.113.1:1010").id("spiffe://corp.example/ns/payments/sa/x"),
       "role-and-source"},
      {"role AND source fails",
       Conn("192.0.2.30", "203.0.113.1:1010").id("spiffe://corp.example/ns/payments/sa/x"), ""},
  };
  for (const auto& c : cases) {
    const Decision d = p->evaluate(c.conn.facts());
    EXPECT_EQ(d.rule_id, c.rule) << c.what;
    EXPECT_EQ(d.action, *c.rule ? Action::allow : Action::deny) << c.what;
  }
}

TEST(Engine, OtherUriSansCountAsIdentity) {
  auto p = compile(kPrincipals);
  ASSERT_TRUE(p);
  Conn c("192.0.2.2", "203.0.113.1:1002");
  c.identity.uri_sans = {"https://example.com/x", "spiffe://corp.example/ns/web/sa/frontend"};
  c.has_identity = true;
  EXPECT_EQ(p->evaluate(c.facts()).rule_id, "exact-id");
}

TEST(Engine, DecisionPointsIntoThePolicy) {
  auto p = compile(kOrderPolicy);
  ASSERT_TRUE(p);
  const Decision d = p->evaluate(Conn("192.0.2.2", "203.0.113.66:443").facts());
  EXPECT_EQ(d.rule_file, "p.yaml");
  EXPECT_EQ(d.rule_line, 7);
  EXPECT_EQ(d.rule_id.data(), p->find_rule("deny-bad-host")->id.data());
  EXPECT_EQ(d.policy_version.data(), p->version().data());
  EXPECT_EQ(p->version().size(), 64u);  // in memory: no git part
}

TEST(Engine, UnreachableToEntriesAreDropped) {
  auto p = compile(R"(kind: Destination
name: web
cidrs: [203.0.113.0/24]
ports: [443]
---
kind: Rule
id: r
action: allow
from: [{any: true}]
to:
  - {destination: web, ports: [80]}
  - {cidrs: [203.0.113.0/24], except: [203.0.113.0/24]}
  - {destination: web, cidrs: [198.51.100.0/24]}
  - {destination: web, except: [203.0.113.128/25]}
)");
  ASSERT_TRUE(p);
  check(*p, Conn("192.0.2.2", "203.0.113.1:443"), {Action::allow, Reason::rule, "r"}, "kept entry");
  check(*p, Conn("192.0.2.2", "203.0.113.200:443"), {Action::deny, Reason::default_action, ""},
        "except");
  check(*p, Conn("192.0.2.2", "203.0.113.1:80"), {Action::deny, Reason::default_action, ""},
        "port intersection");
  check(*p, Conn("192.0.2.2", "198.51.100.1:443"), {Action::deny, Reason::default_action, ""},
        "cidr intersection");
}

}  // namespace
}  // namespace egress::policy
