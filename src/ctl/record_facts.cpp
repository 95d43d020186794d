#include "ctl/record_facts.hpp"

namespace egress::ctl {
namespace {

policy::NameVerification to_policy(audit::NameVerified v) {
  switch (v) {
    case audit::NameVerified::match:
      return policy::NameVerification::match;
    case audit::NameVerified::mismatch:
      return policy::NameVerification::mismatch;
    case audit::NameVerified::unresolved:
      return policy::NameVerification::unresolved;
    case audit::NameVerified::not_checked:
      break;
  }
  return policy::NameVerification::not_checked;
}

bool same(const policy::Decision& a, const policy::Decision& b) {
  return a.action == b.action && a.reason == b.reason && a.rule_id == b.rule_id;
}

}  // namespace

std::optional<policy::Decision> redecide(const policy::Policy& p, const audit::DecisionRecord& r) {
  policy::ConnectionFacts facts{r.src,
                                r.dst->address,
                                r.dst->port,
                                r.has_identity ? &r.identity : nullptr,
                                r.ts,
                                {},
                                policy::NameVerification::not_checked};
  if (!r.name_step) {
    // The client may have sent a name that nobody read: only a policy no hostname rule of which
    // can match this connection decides it without one.
    if (p.has_host_rules() && p.may_depend_on_name(facts)) return std::nullopt;
    return p.evaluate(facts);
  }
  facts.host = r.host;
  if (r.host.empty() || p.host_verification() == policy::HostVerification::off) {
    return p.evaluate(facts);
  }
  if (r.name_verified != audit::NameVerified::not_checked) {
    facts.name_verification = to_policy(r.name_verified);
    return p.evaluate(facts);
  }
  // Written under host_verification: off: what DNS said is unknown. Determinate only when it
  // does not matter.
  facts.name_verification = policy::NameVerification::match;
  const auto verified = p.evaluate(facts);
  for (auto v : {policy::NameVerification::mismatch, policy::NameVerification::unresolved}) {
    facts.name_verification = v;
    if (!same(p.evaluate(facts), verified)) return std::nullopt;
  }
  return verified;
}

std::string client_of(const audit::DecisionRecord& r) {
  if (r.has_identity) {
    const auto& id = r.identity;
    if (!id.spiffe_id.empty()) return id.spiffe_id;
    if (!id.uri_sans.empty()) return id.uri_sans.front();
    if (!id.dns_sans.empty()) return id.dns_sans.front();
    if (!id.common_name.empty()) return "CN=" + id.common_name;
  }
  return r.src.to_string();
}

}  // namespace egress::ctl
