#pragma once

#include "filters/filter.hpp"
#include "policy/store.hpp"

namespace egress::filters {

/// The decider: asks the running policy (a lock-free snapshot of the store, taken now: the one
/// running when the connection is decided, whatever ran at accept) about the connection's facts,
/// keeps the snapshot and the Decision in the facts, and returns allow or deny with the policy's
/// reason (rule / default / deny_destination / name_mismatch / name_unresolved). The name step's
/// facts (facts.name: the host and its verification) are part of what the policy sees. No policy
/// loaded → deny no_policy. Runs last, before any upstream connect.
class PolicyFilter final : public ConnectionFilter {
 public:
  explicit PolicyFilter(const policy::PolicyStore& store) : store_(store) {}

  // ConnectionFilter
  std::string_view name() const noexcept override { return "policy"; }
  boost::asio::awaitable<std::optional<base::Outcome>> on_connection(
      Facts& facts, FilterContext& context) override;

  /// The synchronous body of on_connection (it never waits).
  base::Outcome decide(Facts& facts) const;

 private:
  const policy::PolicyStore& store_;
};

/// What the policy sees of a connection at `now`: client, destination, identity, and the name
/// step's host and verification as they were found (nothing is looked up again). Borrows from
/// `facts` (host); requires facts.dst.
policy::ConnectionFacts policy_facts(const Facts& facts, std::chrono::system_clock::time_point now);

/// The base::Reason of a policy decision ("rule", "default", "deny_destination").
base::Reason reason_of(const policy::Decision& d) noexcept;

}  // namespace egress::filters
