#include "ctl/record_facts.hpp"

#include <gtest/gtest.h>

#include "clock/rfc3339.hpp"
#include "policy/loader.hpp"

namespace egress::ctl {
namespace {

std::shared_ptr<const policy::Policy> load(const std::string& text) {
  auto r = policy::load_policy_sources({{"p.yaml", "kind: Settings\ndefault: deny\n" + text}});
  EXPECT_TRUE(r.errors.empty()) << (r.errors.empty() ? "" : r.errors[0].to_string());
  return r.policy;
}

audit::DecisionRecord record(const char* dst, const char* ts = "2026-05-01T00:00:00Z") {
  audit::DecisionRecord r;
  r.ts = *clock::parse_rfc3339(ts);
  r.ts_text = ts;
  r.src = *base::IpAddress::parse("192.0.2.2");
  r.dst = base::Endpoint::parse(dst);
  r.decision = "deny";
  r.reason = "default";
  return r;
}

const char* kByName =
    "---\nkind: Rule\nid: named\naction: allow\nfrom: [{source: 192.0.2.0/24}]\n"
    "to: [{hosts: [\"*.example.com\"], ports: [443]}]\n";

TEST(Redecide, UsesTheRecordsAddressesIdentityAndTime) {
  const auto p = load(
      "---\nkind: Rule\nid: id\naction: allow\n"
      "from: [{identity: \"spiffe://corp.example/ns/a/*\"}]\nto: [{cidrs: [203.0.113.0/24]}]\n"
      "expires: 2026-06-01T00:00:00Z\n");
  auto r = record("203.0.113.1:443");
  EXPECT_EQ(redecide(*p, r)->action, policy::Action::deny);  // no identity
  r.has_identity = true;
  r.identity.spiffe_id = "spiffe://corp.example/ns/a/sa";
  r.identity.uri_sans = {r.identity.spiffe_id};
  r.identity.fingerprint_sha256 = "ff";
  const auto d = redecide(*p, r);
  EXPECT_EQ(d->action, policy::Action::allow);
  EXPECT_EQ(d->rule_id, "id");
  EXPECT_EQ(client_of(r), "spiffe://corp.example/ns/a/sa");
  r.ts = *clock::parse_rfc3339("2026-06-02T00:00:00Z");  // after the rule expired
  EXPECT_EQ(redecide(*p, r)->action, policy::Action::deny);
}

TEST(Redecide, IndeterminateWithoutANameAHostnameRuleCouldUse) {
  const auto p = load(kByName);
  auto r = record("203.0.113.1:443");
  EXPECT_FALSE(redecide(*p, r));  // the name was never read
  auto other_port = record("203.0.113.1:80");
  EXPECT_EQ(redecide(*p, other_port)->action, policy::Action::deny);  // no hostname rule can match
  r.name_step = true;  // the step ran and found no name
  EXPECT_EQ(redecide(*p, r)->action, policy::Action::deny);
  r.host = "www.example.com";
  r.name_verified = audit::NameVerified::match;
  EXPECT_EQ(redecide(*p, r)->rule_id, "named");
  r.name_verified = audit::NameVerified::mismatch;  // strict: not verified, not allowed
  EXPECT_EQ(redecide(*p, r)->action, policy::Action::deny);
  EXPECT_EQ(redecide(*p, r)->reason, policy::Reason::name_mismatch);
}

TEST(Redecide, AnUncheckedNameIsIndeterminateOnlyWhenVerificationMatters) {
  const auto p = load(kByName);  // host_verification: strict (the default)
  auto r = record("203.0.113.1:443");
  r.name_step = true;
  r.host = "www.example.com";  // written under host_verification: off
  r.name_verified = audit::NameVerified::not_checked;
  EXPECT_FALSE(redecide(*p, r));
  r.host = "www.other.example";  // no rule's hosts match it: verification cannot matter
  EXPECT_EQ(redecide(*p, r)->action, policy::Action::deny);
}

}  // namespace
}  // namespace egress::ctl
