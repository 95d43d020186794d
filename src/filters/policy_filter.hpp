#pragma once

#include "filters/filter.hpp"
#include "policy/store.hpp"
#include "upstream/loop_guard.hpp"

namespace egress::filters {

/// The decider: asks the running policy (a lock-free snapshot of the store, taken now: the one
/// running when the connection is decided, whatever ran at accept) about the connection's facts,
/// keeps the snapshot and the Decision in the facts, and returns allow or deny with the policy's
/// reason (rule / default / deny_destination / name_mismatch / name_unresolved). The name step's
/// facts (facts.name: the host and its verification) are part of what the policy sees. No policy
/// loaded → deny no_policy. Runs last, before any upstream connect.
///
/// A CONNECT request (issue 20, facts.connect): for an IP literal, the decision as above, and on
/// allow facts.connect->dial = {dst}. For a name (facts.name with source connect: no dst yet),
/// the policy is evaluated once for every address the name resolved to (dst = the address, host
/// = the name, verified match: the same evaluation a transparent connection to that address
/// with that SNI gets); an address that is the gateway itself (the loop guard) is never
/// evaluated nor dialled. facts.connect->dial = the allowed addresses in the resolver's order,
/// facts.dst = the first of them (with the CONNECT port), facts.decision = its decision; the
/// detail names each denied address and why. None allowed: deny with the first address's
/// decision (or loop), facts.dst = that address, and a detail with every address's verdict.
class PolicyFilter final : public ConnectionFilter {
 public:
  /// `loop_guard` (null: no address is the gateway) outlives the filter.
  explicit PolicyFilter(const policy::PolicyStore& store,
                        const upstream::LoopGuard* loop_guard = nullptr)
      : store_(store), loop_guard_(loop_guard) {}

  // ConnectionFilter
  std::string_view name() const noexcept override { return "policy"; }
  boost::asio::awaitable<std::optional<base::Outcome>> on_connection(
      Facts& facts, FilterContext& context) override;

  /// The synchronous body of on_connection (it never waits).
  base::Outcome decide(Facts& facts) const;

 private:
  /// decide() for a CONNECT name: one evaluation per address of facts.name->dns_answers.
  base::Outcome decide_connect_name(Facts& facts) const;

  const policy::PolicyStore& store_;
  const upstream::LoopGuard* loop_guard_;
};

/// What the policy sees of a connection at `now`: client, destination, identity, and the name
/// step's host and verification as they were found (nothing is looked up again). Borrows from
/// `facts` (host); requires facts.dst.
policy::ConnectionFacts policy_facts(const Facts& facts, std::chrono::system_clock::time_point now);

/// The base::Reason of a policy decision ("rule", "default", "deny_destination").
base::Reason reason_of(const policy::Decision& d) noexcept;

}  // namespace egress::filters
