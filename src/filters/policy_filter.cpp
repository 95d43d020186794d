#include "filters/policy_filter.hpp"

#include <string>

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

namespace {

/// "rule 'block-x'", "default", "deny_destination": why one address was denied.
std::string why(const policy::Decision& d) {
  if (d.reason == policy::Reason::rule) return "rule '" + std::string(d.rule_id) + "'";
  return std::string(policy::to_string(d.reason));
}

}  // namespace

base::Outcome PolicyFilter::decide(Facts& facts) const {
  // The snapshot is taken here, when the policy is evaluated (after the TLS handshake), not at
  // accept: a reload in between decides the connection (issue 17 item 8).
  facts.policy = store_.current();
  if (!facts.policy) return base::Outcome::denied(base::Reason::no_policy, "no policy loaded");
  if (facts.connect && !facts.connect->name.empty() && facts.name &&
      facts.name->source == NameSource::connect) {
    return decide_connect_name(facts);
  }
  if (!facts.dst) return base::Outcome::denied(base::Reason::no_original_dst);
  facts.decision = facts.policy->evaluate(policy_facts(facts, std::chrono::system_clock::now()));
  const base::Reason reason = reason_of(*facts.decision);
  if (facts.decision->action != policy::Action::allow) {
    // A CONNECT listener answers a deny (403) before it closes: an RST could discard the answer.
    return base::Outcome::denied(reason, {},
                                 facts.connect ? base::Ending::close : base::Ending::reset);
  }
  // An IP-literal CONNECT dials the address it named, and no other.
  if (facts.connect && facts.connect->name.empty()) facts.connect->dial = {facts.dst->address};
  return base::Outcome::allowed(reason);
}

base::Outcome PolicyFilter::decide_connect_name(Facts& facts) const {
  ConnectFacts& c = *facts.connect;
  const NameFacts& n = *facts.name;
  c.dial.clear();
  if (n.dns_answers.empty()) {
    return base::Outcome::denied(base::Reason::name_unresolved, "DNS: no address",
                                 base::Ending::close);
  }
  policy::ConnectionFacts in;
  in.src = facts.src.address;
  in.dst_port = c.port;
  in.identity = facts.identity ? &*facts.identity : nullptr;
  in.now = std::chrono::system_clock::now();
  in.host = n.host;
  in.name_verification = n.verified;
  // One line per denied address, "203.0.113.66 rule 'block-x'", in the resolver's order.
  std::string denied;
  std::optional<policy::Decision> first_allowed;
  std::optional<policy::Decision> first;  // the first address's, when it was evaluated
  bool first_is_loop = false;
  for (std::size_t i = 0; i < n.dns_answers.size(); ++i) {
    const base::IpAddress& address = n.dns_answers[i];
    std::string verdict;
    if (loop_guard_ && loop_guard_->is_loop(base::Endpoint{address, c.port})) {
      // The gateway itself: never dialled, whatever a rule says of its address.
      verdict = "loop (the gateway)";
      if (i == 0) first_is_loop = true;
    } else {
      in.dst = address;
      const policy::Decision d = facts.policy->evaluate(in);
      if (i == 0) first = d;
      if (d.action == policy::Action::allow) {
        if (!first_allowed) first_allowed = d;
        c.dial.push_back(address);
        continue;
      }
      verdict = why(d);
    }
    if (!denied.empty()) denied += ", ";
    denied += address.to_string() + " " + verdict;
  }
  if (first_allowed) {
    facts.dst = base::Endpoint{c.dial.front(), c.port};
    facts.decision = *first_allowed;
    base::Outcome out = base::Outcome::allowed(reason_of(*first_allowed));
    if (!denied.empty()) {
      out.detail = std::to_string(c.dial.size()) + " of " + std::to_string(n.dns_answers.size()) +
                   " addresses allowed; denied: " + denied;
    }
    return out;
  }
  facts.dst = base::Endpoint{n.dns_answers.front(), c.port};
  const std::string detail = "no address of " + n.host + " allowed: " + denied;
  if (first_is_loop) {
    return base::Outcome::denied(base::Reason::loop, detail, base::Ending::close);
  }
  facts.decision = *first;
  return base::Outcome::denied(reason_of(*first), detail, base::Ending::close);
}

boost::asio::awaitable<std::optional<base::Outcome>> PolicyFilter::on_connection(
    Facts& facts, FilterContext& /*context*/) {
  co_return decide(facts);
}

}  // namespace egress::filters
