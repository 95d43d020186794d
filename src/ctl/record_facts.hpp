#pragma once

// A connection.decision record decided again: the record's own facts (client address,
// destination, identity, the name step's findings, its time) fed to a policy, never a guess.

#include <optional>

#include "audit/decision_record.hpp"
#include "policy/policy.hpp"

namespace egress::ctl {

/// The decision `p` gives the connection `r` records, at the record's own time (so `expires`
/// acts as it did then). nullopt (indeterminate) when the decision depends on a fact the record
/// lacks:
/// * the record has no name facts (the name step did not run when it was written) and a
///   hostname rule of `p` could match the connection (Policy::may_depend_on_name);
/// * the name was not verified when it was written (host_verification: off) and the decision of
///   `p` differs between a verified and an unverified name.
/// `r.dst` must be present.
std::optional<policy::Decision> redecide(const policy::Policy& p, const audit::DecisionRecord& r);

/// Who the client was, for a report: the identity's SPIFFE ID, else its first URI SAN, DNS SAN
/// or CN, else the client address.
std::string client_of(const audit::DecisionRecord& r);

}  // namespace egress::ctl
