#pragma once

// The reading `policy replay` and `policy unused` share: audit files streamed in order, the hash
// chain checked first (the whole input is refused at a break), the window applied by each
// record's own time, and the connection.decision records the policy made handed on.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "audit/decision_record.hpp"

namespace egress::ctl {

/// What to read and how.
struct AuditInput {
  std::vector<std::string> files;  ///< oldest first, plain or .gz
  bool verify = true;              ///< check the hash chain (refuse a broken one)
  std::optional<std::chrono::system_clock::time_point> since;  ///< ts >= since
  std::optional<std::chrono::system_clock::time_point> until;  ///< ts < until
};

/// What was read.
struct StreamCounts {
  std::uint64_t records = 0;    ///< records in the window (every event)
  std::uint64_t decisions = 0;  ///< connection.decision records in the window
  /// Decisions the data path made before the policy (loop, no_client_cert, no_original_dst,
  /// over_limit, audit_unavailable, ...): no policy changes them, so they are not handed on.
  std::uint64_t data_path = 0;
  std::uint64_t outside_window = 0;  ///< records skipped by since / until
  std::uint64_t malformed = 0;       ///< lines skipped (only without verification)
  bool verified = false;             ///< the chain was checked and holds
  /// Why the input is refused: a broken chain (naming file and line), an unreadable file, a
  /// decision record without a field it must have. Empty on success.
  std::string error;
};

/// Calls `fn` for every policy decision (reason rule, default, deny_destination, name_mismatch,
/// name_unresolved, with a destination) in the window. The record is valid during the call.
/// With verification, a break anywhere sets `error`: the caller must not report what it saw.
StreamCounts for_each_policy_decision(const AuditInput& input,
                                      const std::function<void(const audit::DecisionRecord&)>& fn);

}  // namespace egress::ctl
