#include "filters/policy_filter.hpp"

#include "policy/policy.hpp"

namespace egress::filters {

base::Reason reason_of(const policy::Decision& d) noexcept {
  switch (d.reason) {
    case policy::Reason::rule:
      return base::Reason::rule;
    case policy::Reason::deny_destination:
      return base::Reason::deny_destination;
    case policy::Reason::default_action:
      break;
  }
  return base::Reason::default_action;
}

Verdict PolicyFilter::apply(core::Connection& conn) const {
  // The snapshot is taken here, when the policy is evaluated (after the TLS handshake), not at
  // accept: a reload in between decides the connection (issue 17 item 8).
  conn.policy = store_.current();
  if (!conn.policy) {
    conn.deny(base::Reason::no_policy, "no policy loaded");
    return Verdict::Deny;
  }
  if (!conn.dst) {
    conn.deny(base::Reason::no_original_dst);
    return Verdict::Deny;
  }
  policy::ConnectionFacts facts;
  facts.src = conn.src.address;
  facts.dst = conn.dst->address;
  facts.dst_port = conn.dst->port;
  facts.identity = conn.identity ? &*conn.identity : nullptr;
  facts.now = std::chrono::system_clock::now();
  conn.decision = conn.policy->evaluate(facts);
  return conn.decision->action == policy::Action::allow ? Verdict::Continue : Verdict::Deny;
}

boost::asio::awaitable<Verdict> PolicyFilter::on_accept(core::Connection& conn) {
  co_return apply(conn);
}

}  // namespace egress::filters
