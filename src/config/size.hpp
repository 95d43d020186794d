#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace egress::config {

/// Parses a size such as "512B", "16KiB" or "1MiB": digits, then exactly one unit (B, KiB =
/// 1024 B, MiB = 1024 KiB). A bare number, a decimal unit ("KB") or a fraction is not a size,
/// so no unit is guessed. nullopt when the text is not such a size or overflows.
std::optional<std::uint64_t> parse_size(std::string_view text) noexcept;

/// The shortest text parse_size() reads back as `bytes` ("16KiB", "1MiB", "1500B").
std::string format_size(std::uint64_t bytes);

}  // namespace egress::config
