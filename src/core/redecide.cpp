#include "core/redecide.hpp"

#include "filters/policy_filter.hpp"
#include "policy/policy.hpp"

namespace egress::core {

std::optional<Revocation> redecide(const filters::Facts& facts, const policy::Policy& policy,
                                   std::chrono::system_clock::time_point now) {
  if (!facts.dst) return std::nullopt;
  const policy::Decision d = policy.evaluate(filters::policy_facts(facts, now));
  if (d.action == policy::Action::allow) return std::nullopt;
  Revocation r;
  r.rule = std::string(d.rule_id);
  if (d.reason == policy::Reason::rule) {
    r.detail = "now denied by rule '" + r.rule + "'";
  } else {
    r.detail = "now denied by " + std::string(to_string(filters::reason_of(d)));
  }
  r.detail += " (policy " + policy.version() + ")";
  return r;
}

}  // namespace egress::core
