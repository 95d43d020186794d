#pragma once

// Live connections re-decided (issue 21, item 3): the pure part. A relayed connection keeps the
// facts it was decided with; a reloaded policy decides them again at the time of the reload
// (policy.on_change: reevaluate), a reloaded CRL is asked about its client certificate, and a
// rule reaching its `expires` has the connections it allowed decided again at that instant.
// Whatever now denies one revokes it.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/reason.hpp"
#include "filters/filter.hpp"

namespace egress::policy {
class Policy;
}

namespace egress::tls {
class RevocationList;
}

namespace egress::core {

/// Why a live connection may no longer run: what its connection.close record says.
struct Revocation {
  base::Reason reason = base::Reason::policy_revoked;
  /// policy_revoked: the rule that now denies it, empty when no rule did (default, ...);
  /// rule_expired: the rule that expired; cert_revoked: empty.
  std::string rule;
  std::string detail;  ///< "now denied by rule 'x' (policy V)", "now denied by default (...)"
};

/// One worker's (or all workers') re-decision of its live connections.
struct RedecideCounts {
  std::uint64_t redecided = 0;     ///< relayed connections decided again with a reloaded policy
  std::uint64_t revoked = 0;       ///< of those, now denied and closed (policy_revoked)
  std::uint64_t cert_checked = 0;  ///< client certificates checked against reloaded CRLs
  std::uint64_t cert_revoked = 0;  ///< of those, revoked now and closed (cert_revoked)
  std::uint64_t expired = 0;       ///< closed because their rule expired (rule_expired)

  RedecideCounts& operator+=(const RedecideCounts& o) noexcept {
    redecided += o.redecided;
    revoked += o.revoked;
    cert_checked += o.cert_checked;
    cert_revoked += o.cert_revoked;
    expired += o.expired;
    return *this;
  }
};

/// Decides an allowed connection's facts again with `policy` at `now`, with the name
/// verification it was decided with (no DNS). nullopt while the policy still allows it (or the
/// facts have no destination); else the revocation naming what denies it now. Pure; never throws
/// but for allocation.
std::optional<Revocation> redecide(const filters::Facts& facts, const policy::Policy& policy,
                                   std::chrono::system_clock::time_point now);

/// Checks a live connection's client certificate (facts.identity: issuer and serial) against
/// `crls`, a reloaded context's CRLs. nullopt when the connection has no certificate or no CRL
/// lists it; else a cert_revoked revocation whose detail names the serial, the issuer and the
/// revocation date. Pure.
std::optional<Revocation> recheck_certificate(const filters::Facts& facts,
                                              const tls::RevocationList& crls);

/// The connection's decision rule when it is one of `expired` (rule ids): the connection is
/// decided again with `policy` at `now`; nullopt when its rule is not among them or the policy
/// still allows it (another rule), else a rule_expired revocation naming the expired rule, with
/// a detail saying what denies it now. Pure.
std::optional<Revocation> expire(const filters::Facts& facts,
                                 const std::vector<std::string>& expired,
                                 const policy::Policy& policy,
                                 std::chrono::system_clock::time_point now);

/// The ids of `policy`'s rules whose `expires` lies in (after, until]: the rules that expired in
/// that window.
std::vector<std::string> rules_expiring(const policy::Policy& policy,
                                        std::chrono::system_clock::time_point after,
                                        std::chrono::system_clock::time_point until);

/// The earliest `expires` of `policy`'s rules later than `now`; nullopt when none.
std::optional<std::chrono::system_clock::time_point> next_expiry(
    const policy::Policy& policy, std::chrono::system_clock::time_point now);

}  // namespace egress::core
