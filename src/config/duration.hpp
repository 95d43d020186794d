#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace egress::config {

/// Parses a duration such as "500ms", "5s", "2m", "1h" or "1m30s" (units ms, s, m, h; at least
/// one digit before each unit; "0s" is zero). nullopt when the text is not such a duration or
/// overflows.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) noexcept;

/// The shortest text parse_duration() reads back as `d` ("1h", "1500ms", "0s").
std::string format_duration(std::chrono::milliseconds d);

}  // namespace egress::config
