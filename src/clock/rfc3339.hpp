#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace egress::clock {

/// What parse_rfc3339 accepts, for error messages: "... is not <this>".
inline constexpr const char* kRfc3339Expected =
    "an RFC 3339 date-time from 1678 to 2261 (e.g. 2027-03-31T00:00:00Z)";

/// Parses an RFC 3339 date-time ("2027-03-31T00:00:00Z", "2027-03-31T02:00:00.5+02:00").
/// nullopt when malformed or out of range (month 13, February 30, hour 24...), or outside what
/// the clock holds (nanoseconds since 1970 in 64 bits: about 1677-09-21 to 2262-04-11).
std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view text) noexcept;

/// "2027-03-31T00:00:00Z" (UTC, whole seconds).
std::string format_rfc3339(std::chrono::system_clock::time_point t);

/// Appends "2026-11-26T07:27:16.123456Z" (UTC, microseconds; years before 0 written as 0000):
/// the audit records' `ts` and the JSON operational log's `time`. No allocation beyond `out`'s.
void append_rfc3339_micros(std::string& out, std::chrono::system_clock::time_point t);

}  // namespace egress::clock
