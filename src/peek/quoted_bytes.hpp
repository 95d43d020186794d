#pragma once

// A client's bytes in a reader's detail (an outcome's, an audit record's): readable, bounded, and
// unable to forge the text around them.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace egress::peek {

/// The first `max` bytes in double quotes: printable ASCII as is, every other byte (a quote and
/// a backslash too) as \xNN; "..." after the closing quote when there were more.
std::string quoted_bytes(std::string_view bytes, std::size_t max);

/// As above, for a binary reader's octets.
inline std::string quoted_bytes(std::span<const std::uint8_t> bytes, std::size_t max) {
  return quoted_bytes(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
                      max);
}

}  // namespace egress::peek
