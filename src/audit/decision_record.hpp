#pragma once

// A `connection.decision` record read back: the facts its decision used and what it decided
// (docs/audit.md), for `policy replay` and `policy unused` to decide it again.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/record.hpp"
#include "audit/record_fields.hpp"
#include "base/identity.hpp"
#include "base/ip_address.hpp"

namespace egress::audit {

/// What a decision record holds. Reused from record to record (its strings keep their capacity).
struct DecisionRecord {
  Clock::time_point ts;
  std::string ts_text;  ///< as written
  base::IpAddress src;
  std::optional<base::Endpoint> dst;  ///< absent: no original destination was found
  bool has_identity = false;          ///< `identity` present (a verified client certificate)
  base::Identity identity;
  /// The name step ran (`name_source` present): `host` (maybe empty: the client sent none),
  /// `name_verified` and `dns_answers` are what it found. False: the record holds no name facts
  /// (the recording policy had no hostname rule that could match).
  bool name_step = false;
  std::string host;
  NameVerified name_verified = NameVerified::not_checked;
  std::vector<base::IpAddress> dns_answers;
  std::string decision;  ///< "allow" | "deny"
  std::string reason;
  std::string rule;             ///< empty: none
  std::string shadow_decision;  ///< empty: the shadow did not differ
  std::string shadow_rule;
};

/// Whether `record` is a connection.decision record.
bool is_decision(const RecordFields& record) noexcept;

/// Reads a connection.decision record into `out`. False (and `error` says which field) when a
/// field the decision needs is missing or malformed.
bool read_decision(const RecordFields& record, DecisionRecord& out, std::string& error);

/// Whether `reason` is one the policy gives (rule, default, deny_destination, name_mismatch,
/// name_unresolved) rather than the data path (loop, no_client_cert, over_limit, ...).
bool is_policy_reason(std::string_view reason) noexcept;

}  // namespace egress::audit
