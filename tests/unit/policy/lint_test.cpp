#include "policy/lint.hpp"

#include <gtest/gtest.h>

#include "test_util.hpp"

namespace egress::policy {
namespace {

std::string warnings_at(const std::string& text, const char* now) {
  auto r = load_policy_sources({{"p.yaml", text}}, LoadOptions{testing::at(now), {}});
  EXPECT_TRUE(r.errors.empty()) << testing::errors_of(r);
  std::string s;
  for (const auto& w : r.warnings) s += w.to_string() + "\n";
  return s;
}

constexpr const char* kExpiring = R"(kind: Settings
---
kind: Rule
id: temp
action: allow
from: [{any: true}]
to: [{ports: [443]}]
expires: 2027-03-31T00:00:00Z
)";

TEST(Lint, ExpiryWindows) {
  EXPECT_EQ(warnings_at(kExpiring, "2027-03-01T00:00:00Z"), "");
  EXPECT_EQ(warnings_at(kExpiring, "2027-03-17T00:00:00Z"),
            "p.yaml:8:10: warning: expires: rule \"temp\" expires at 2027-03-31T00:00:00Z (in 14 "
            "days)\n");
  EXPECT_EQ(
      warnings_at(kExpiring, "2027-03-30T12:00:00Z"),
      "p.yaml:8:10: warning: expires: rule \"temp\" expires at 2027-03-31T00:00:00Z (in 0 days)\n");
  EXPECT_EQ(warnings_at(kExpiring, "2027-03-31T00:00:00Z"),
            "p.yaml:8:10: warning: expires: rule \"temp\" expired at 2027-03-31T00:00:00Z and "
            "never matches; remove it\n");
}

TEST(Lint, ShadowingIsConservative) {
  const std::string base = R"(kind: Settings
---
kind: Rule
id: deny-web-team
action: deny
from: [{identity: "spiffe://corp/ns/web/sa/*"}]
to: [{cidrs: [203.0.113.0/24]}]
---
kind: Rule
id: deny-report
action: deny
mode: report
from: [{any: true}]
to: [{any: true}]
)";
  // Same principal, narrower destination: shadowed.
  EXPECT_NE(
      warnings_at(base + "---\nkind: Rule\nid: a\naction: allow\nfrom: [{identity: "
                         "\"spiffe://corp/ns/web/sa/*\"}]\n"
                         "to: [{cidrs: [203.0.113.8/29], ports: [443]}]\n",
                  "2026-01-01T00:00:00Z")
          .find("allow rule \"a\" is fully shadowed by deny rule \"deny-web-team\" (p.yaml:3)"),
      std::string::npos);
  // A different principal, a wider destination, or only a report-mode deny: not shadowed.
  for (const char* rule : {
           "from: [{identity: \"spiffe://corp/ns/web/sa/api\"}]\nto: [{cidrs: [203.0.113.8/29]}]\n",
           "from: [{identity: \"spiffe://corp/ns/web/sa/*\"}]\nto: [{cidrs: [203.0.112.0/23]}]\n",
           "from: [{any: true}]\nto: [{cidrs: [203.0.113.8/29]}]\n",
       }) {
    EXPECT_EQ(warnings_at(base + "---\nkind: Rule\nid: a\naction: allow\n" + rule,
                          "2026-01-01T00:00:00Z"),
              "")
        << rule;
  }
}

TEST(Lint, WildcardUnderASharedCdnSuffix) {
  const std::string text = R"(kind: Settings
---
kind: Destination
name: assets
hosts: ["*.cloudfront.net", "d1.cloudfront.net", "*.corp.example.com"]
---
kind: Rule
id: cdn
action: allow
from: [{any: true}]
to:
  - {hosts: ["*.x.azureedge.net"], ports: [443]}
  - {hosts: ["*.fastly.net", "*.akamaiedge.net", "*.GoogleUserContent.com"]}
  - {hosts: ["*.notcloudfront.net", "*.example.com"]}
  - destination: assets
)";
  EXPECT_EQ(warnings_at(text, "2026-01-01T00:00:00Z"),
            "p.yaml:5:9: warning: hosts[0]: \"*.cloudfront.net\" is a wildcard under the shared "
            "CDN suffix cloudfront.net: it matches every customer of that CDN; name the hosts you "
            "mean\n"
            "p.yaml:12:14: warning: to[0].hosts[0]: \"*.x.azureedge.net\" is a wildcard under the "
            "shared CDN suffix azureedge.net: it matches every customer of that CDN; name the "
            "hosts you mean\n"
            "p.yaml:13:14: warning: to[1].hosts[0]: \"*.fastly.net\" is a wildcard under the "
            "shared CDN suffix fastly.net: it matches every customer of that CDN; name the hosts "
            "you mean\n"
            "p.yaml:13:30: warning: to[1].hosts[1]: \"*.akamaiedge.net\" is a wildcard under the "
            "shared CDN suffix akamaiedge.net: it matches every customer of that CDN; name the "
            "hosts you mean\n"
            "p.yaml:13:50: warning: to[1].hosts[2]: \"*.GoogleUserContent.com\" is a wildcard "
            "under the shared CDN suffix googleusercontent.com: it matches every customer of that "
            "CDN; name the hosts you mean\n");
}

TEST(Lint, HostsInUnreachableAndShadowedRules) {
  const std::string base = R"(kind: Settings
---
kind: Destination
name: stripe
hosts: ["*.stripe.com"]
---
kind: Rule
id: deny-stripe-eu
action: deny
from: [{any: true}]
to: [{hosts: ["*.eu.stripe.com"]}]
)";
  // The entry's hosts do not meet the Destination's: it can never match.
  EXPECT_NE(warnings_at(base + "---\nkind: Rule\nid: a\naction: allow\nfrom: [{any: true}]\n"
                               "to: [{destination: stripe, hosts: [api.example.com]}]\n",
                        "2026-01-01T00:00:00Z")
                .find("rule \"a\" can never match"),
            std::string::npos);
  // Names inside the deny rule's: shadowed.
  EXPECT_NE(warnings_at(base + "---\nkind: Rule\nid: a\naction: allow\nfrom: [{any: true}]\n"
                               "to: [{hosts: [api.eu.stripe.com, \"*.x.eu.stripe.com\"]}]\n",
                        "2026-01-01T00:00:00Z")
                .find("allow rule \"a\" is fully shadowed by deny rule \"deny-stripe-eu\""),
            std::string::npos);
  // A name outside them, or no hosts at all: not shadowed.
  for (const char* to : {"to: [{hosts: [api.eu.stripe.com, api.stripe.com]}]\n",
                         "to: [{hosts: [\"*.stripe.com\"]}]\n", "to: [{ports: [443]}]\n"}) {
    EXPECT_EQ(
        warnings_at(base + "---\nkind: Rule\nid: a\naction: allow\nfrom: [{any: true}]\n" + to,
                    "2026-01-01T00:00:00Z"),
        "")
        << to;
  }
}

}  // namespace
}  // namespace egress::policy
