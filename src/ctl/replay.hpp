#pragma once

// `egressctl policy replay`: the audit log's connection.decision records decided again with a
// proposed policy and compared with what was recorded (or with a baseline policy's decision).

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ctl/change_groups.hpp"
#include "ctl/decision_stream.hpp"
#include "policy/policy.hpp"

namespace egress::ctl {

/// What to read and how, and how many groups to hold.
struct ReplayInput : AuditInput {
  std::size_t max_groups = 1000;
};

/// The counts of the report's `totals`.
struct ReplayTotals {
  std::uint64_t records = 0;    ///< records in the window (every event)
  std::uint64_t decisions = 0;  ///< connection.decision records in the window
  std::uint64_t data_path = 0;  ///< decided by the data path, not re-decided (StreamCounts)
  std::uint64_t unchanged = 0;
  std::uint64_t tighten = 0;
  std::uint64_t widen = 0;
  std::uint64_t rule_changed = 0;
  std::uint64_t indeterminate = 0;   ///< the decision needs a fact the record lacks
  std::uint64_t outside_window = 0;  ///< records skipped by since / until
};

/// The outcome of replay().
struct ReplayReport {
  ReplayTotals totals;
  std::vector<ChangeGroup> changes;
  std::uint64_t more_groups = 0;
  std::uint64_t more_records = 0;
  bool verified = false;        ///< the chain was checked (and held)
  std::uint64_t malformed = 0;  ///< lines skipped (only without verification)
  /// Why there is no report: a broken chain ("FILE:LINE: ..."), an unreadable file, a record
  /// that is not a valid decision. Empty on success.
  std::string error;
};

/// Reads `input` once, streamed, deciding every decision record with `proposed` and comparing
/// with `baseline`'s decision (nullptr: the recorded decision).
ReplayReport replay(const ReplayInput& input, const policy::Policy& proposed,
                    const policy::Policy* baseline);

}  // namespace egress::ctl
