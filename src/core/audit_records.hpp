#pragma once

#include <chrono>

#include "audit/record.hpp"
#include "base/outcome.hpp"
#include "base/reason.hpp"
#include "core/relay_result.hpp"
#include "core/reload_report.hpp"
#include "filters/filter.hpp"

namespace egress::policy {
class PolicyStore;
}

namespace egress::core {

/// The connection.decision record of a connection with `facts` decided as `outcome`: rule,
/// shadow and policy version come from facts.decision when the policy decided; the name fields
/// from facts.name when the name step ran (its detail becomes the record's when the outcome has
/// none). A connection
/// denied before the policy step took its snapshot names the policy `running` now (null in some
/// tests: no version then).
audit::ConnectionDecision decision_record(const filters::Facts& facts, base::Outcome outcome,
                                          const policy::PolicyStore* running);

/// The connection.close record of an allowed connection.
audit::ConnectionClose close_record(const filters::Facts& facts, const RelayResult& relay,
                                    std::chrono::microseconds duration);

/// The policy.reload record of one reload: `result` is ok only when every part is; the top-level
/// version, rule_count and errors keep their meaning (errors now gathers every part's), and
/// `parts` says per part what happened.
audit::PolicyReload reload_record(const ReloadReport& report);

}  // namespace egress::core
