#include "filters/policy_filter.hpp"

#include "policy/policy.hpp"

namespace egress::filters {

base::Reason reason_of(const policy::Decision& d) noexcept {
  switch (d.reason) {
    case policy::Reason::rule:
      return base::Reason::rule;
    case policy::Reason::deny_destination:
      return base::Reason::deny_destination;
    case policy::Reason::name_mismatch:
      return base::Reason::name_mismatch;
    case policy::Reason::name_unresolved:
      return base::Reason::name_unresolved;
    case policy::Reason::default_action:
      break;
  }
  return base::Reason::default_action;
}

policy::ConnectionFacts policy_facts(const Facts& facts,
                                     std::chrono::system_clock::time_point now) {
  policy::ConnectionFacts in;
  in.src = facts.src.address;
  in.dst = facts.dst->address;
  in.dst_port = facts.dst->port;
  in.identity = facts.identity ? &*facts.identity : nullptr;
  in.now = now;
  if (facts.name) {
    // The name step's findings (absent: no hostname rule could match, so no name is needed).
    in.host = facts.name->host;
    in.name_verification = facts.name->verified;
  }
  return in;
}

base::Outcome PolicyFilter::decide(Facts& facts) const {
  // The snapshot is taken here, when the policy is evaluated (after the TLS handshake), not at
  // accept: a reload in between decides the connection (issue 17 item 8).
  facts.policy = store_.current();
  if (!facts.policy) return base::Outcome::denied(base::Reason::no_policy, "no policy loaded");
  if (!facts.dst) return base::Outcome::denied(base::Reason::no_original_dst);
  facts.decision = facts.policy->evaluate(policy_facts(facts, std::chrono::system_clock::now()));
  const base::Reason reason = reason_of(*facts.decision);
  return facts.decision->action == policy::Action::allow ? base::Outcome::allowed(reason)
                                                         : base::Outcome::denied(reason);
}

boost::asio::awaitable<std::optional<base::Outcome>> PolicyFilter::on_connection(
    Facts& facts, FilterContext& /*context*/) {
  co_return decide(facts);
}

}  // namespace egress::filters
