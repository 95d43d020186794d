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

}  // namespace
}  // namespace egress::policy
