#pragma once

// Live connections re-decided after a policy reload (issue 21, item 3; policy.on_change:
// reevaluate): the pure part. A relayed connection keeps the facts it was decided with; a new
// policy decides them again at the time of the reload, and a connection it now denies is revoked.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "base/reason.hpp"
#include "filters/filter.hpp"

namespace egress::policy {
class Policy;
}

namespace egress::core {

/// Why a live connection may no longer run: what its connection.close record says.
struct Revocation {
  base::Reason reason = base::Reason::policy_revoked;
  std::string rule;    ///< the rule that now denies it; empty when no rule did (default, ...)
  std::string detail;  ///< "now denied by rule 'x' (policy V)", "now denied by default (...)"
};

/// One worker's (or all workers') re-decision of its live connections.
struct RedecideCounts {
  std::uint64_t redecided = 0;  ///< relayed connections decided again
  std::uint64_t revoked = 0;    ///< of those, now denied and closed

  RedecideCounts& operator+=(const RedecideCounts& o) noexcept {
    redecided += o.redecided;
    revoked += o.revoked;
    return *this;
  }
};

/// Decides an allowed connection's facts again with `policy` at `now`, with the name
/// verification it was decided with (no DNS). nullopt while the policy still allows it (or the
/// facts have no destination); else the revocation naming what denies it now. Pure; never throws
/// but for allocation.
std::optional<Revocation> redecide(const filters::Facts& facts, const policy::Policy& policy,
                                   std::chrono::system_clock::time_point now);

}  // namespace egress::core
