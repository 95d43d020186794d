#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "audit/record.hpp"

namespace egress::audit {

/// The current record schema version, written as `"v": 1`.
inline constexpr int kSchemaVersion = 1;

/// The fields the writer adds to a record when it takes its place in the hash chain.
struct ChainFields {
  std::uint64_t seq = 0;              ///< position in the chain, 1 for the first record ever
  std::string_view prev;              ///< lowercase hex SHA-256 of the previous line (64 chars)
  std::uint64_t records_dropped = 0;  ///< drops since the previous record; written when > 0
};

/// Who writes the records: the same for every record of one run.
struct Origin {
  std::string_view gateway;   ///< audit.gateway_id (default the host name)
  std::string_view instance;  ///< this run's id: conn_id is "<instance>-<counter>"
};

/// Appends one JSON Lines record (no trailing newline) to `out`:
/// `{"v":1,"seq":..,"prev":"..","ts":"..","event":"..","gateway":"..",<event fields>
/// [,"records_dropped":n]}`. Empty optional strings are omitted; see docs/audit.md and
/// docs/audit.schema.json.
void encode_record(const Record& record, const ChainFields& chain, const Origin& origin,
                   std::string& out);

/// "connection.decision", "connection.close", "policy.reload", "gateway.start", "gateway.stop".
std::string_view event_name(const Event& event) noexcept;

/// RFC 3339 UTC with microseconds: "2026-11-26T07:27:16.123456Z".
std::string format_timestamp(Clock::time_point tp);

}  // namespace egress::audit
