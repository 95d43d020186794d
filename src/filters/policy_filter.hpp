#pragma once

#include "filters/filter.hpp"
#include "policy/store.hpp"

namespace egress::filters {

/// Asks the running policy (a lock-free snapshot of the store, taken now: the one running when
/// the connection is decided, whatever ran at accept) about the connection's facts and stores the
/// Decision on the connection, keeping that policy alive with it (conn.policy). A policy deny is a
/// Deny verdict with the policy's reason (rule / default / deny_destination). Runs before any
/// upstream connect.
class PolicyFilter final : public ConnectionFilter {
 public:
  explicit PolicyFilter(const policy::PolicyStore& store) : store_(store) {}

  // ConnectionFilter
  std::string_view name() const noexcept override { return "policy"; }
  boost::asio::awaitable<Verdict> on_accept(core::Connection& conn) override;

  /// The synchronous body of on_accept.
  Verdict apply(core::Connection& conn) const;

 private:
  const policy::PolicyStore& store_;
};

/// The base::Reason of a policy decision ("rule", "default", "deny_destination").
base::Reason reason_of(const policy::Decision& d) noexcept;

}  // namespace egress::filters
