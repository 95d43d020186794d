#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/record.hpp"

namespace egress::audit {

/// Filters for summarize(): records with since <= ts < until.
struct SummaryOptions {
  std::optional<Clock::time_point> since;
  std::optional<Clock::time_point> until;
  std::size_t top = 10;  ///< length of each "top" list
};

/// A key and how often it occurred, for the "top" lists.
struct Count {
  std::string key;
  std::uint64_t count = 0;
};

/// Decisions made by one rule.
struct RuleCount {
  std::string rule;
  std::uint64_t allow = 0;
  std::uint64_t deny = 0;
};

/// What a set of audit files says, as counted by summarize().
struct Summary {
  std::uint64_t records = 0;                    ///< records inside the time range
  std::uint64_t out_of_range = 0;               ///< records skipped by --since/--until
  std::uint64_t malformed = 0;                  ///< lines that are not audit records
  std::string first_ts;                         ///< earliest ts in range (RFC 3339), empty if none
  std::string last_ts;                          ///< latest ts in range
  std::map<std::string, std::uint64_t> events;  ///< by event name
  std::map<std::string, std::uint64_t> gateways;   ///< by `gateway` ("-" for records without one)
  std::map<std::string, std::uint64_t> decisions;  ///< "allow" / "deny"
  std::map<std::string, std::uint64_t> reasons;    ///< "deny/default", "allow/rule", ...
  std::vector<Count> top_denied_identities;        ///< SPIFFE ID, URI/DNS SAN, CN, else "src:IP"
  std::vector<Count> top_denied_destinations;      ///< "IP:port"
  std::vector<RuleCount> top_rules;                ///< by allow + deny
  std::uint64_t shadow_differences = 0;            ///< decisions whose shadow differs
  std::vector<Count> top_shadow_differences;       ///< "deny -> allow (rule r)"
  std::map<std::string, std::uint64_t> reloads;    ///< policy.reload by result
  std::uint64_t records_dropped = 0;               ///< sum of records_dropped fields
  /// Allowed decisions whose connection.close (same conn_id) is not in range: still open at the
  /// end of the log, or their close was lost (a crash, dropped records).
  std::uint64_t allowed_without_close = 0;
  std::uint64_t bytes_up = 0;  ///< sum over connection.close
  std::uint64_t bytes_down = 0;
};

/// Reads `files` (JSON Lines audit logs) and counts. Sets `error` and returns what was counted
/// so far when a file cannot be read. Does not check the chain (that is verify_chain()).
Summary summarize(const std::vector<std::string>& files, const SummaryOptions& options,
                  std::string& error);

/// A human-readable report, several lines, ending with a newline.
std::string to_text(const Summary& summary);

/// The same as a JSON object (stable keys, for scripts).
boost::json::object to_json(const Summary& summary);

/// Parses RFC 3339 ("2026-11-26T07:00:00Z", "...T09:00:00.5+02:00") or a bare date
/// ("2026-11-26", midnight UTC). nullopt when invalid or outside the clock (about 1677-2262).
std::optional<Clock::time_point> parse_time(std::string_view text);

}  // namespace egress::audit
