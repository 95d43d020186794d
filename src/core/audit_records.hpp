#pragma once

#include <chrono>

#include "audit/record.hpp"
#include "base/reason.hpp"
#include "core/connection.hpp"
#include "core/relay_result.hpp"
#include "core/reload_report.hpp"

namespace egress::core {

/// The connection.decision record for `conn`: allow/deny with `reason`; rule, shadow and policy
/// version come from conn.decision when the policy decided.
audit::ConnectionDecision decision_record(const Connection& conn, bool allow, base::Reason reason,
                                          std::string detail);

/// The connection.close record of an allowed connection.
audit::ConnectionClose close_record(const Connection& conn, const RelayResult& relay,
                                    std::chrono::microseconds duration);

/// The policy.reload record of one reload: `result` is ok only when every part is; the top-level
/// version, rule_count and errors keep their meaning (errors now gathers every part's), and
/// `parts` says per part what happened.
audit::PolicyReload reload_record(const ReloadReport& report);

}  // namespace egress::core
