#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace egress::policy {

/// Parses an RFC 3339 date-time ("2027-03-31T00:00:00Z", "2027-03-31T02:00:00.5+02:00").
/// nullopt when malformed or out of range (month 13, February 30, hour 24...).
std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view text) noexcept;

/// "2027-03-31T00:00:00Z" (UTC, whole seconds).
std::string format_rfc3339(std::chrono::system_clock::time_point t);

}  // namespace egress::policy
