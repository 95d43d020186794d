#pragma once

#include <cstdint>
#include <string_view>

namespace egress::base {

/// Which side ended a connection.
enum class Side : std::uint8_t { client, upstream, gateway };
/// "client" | "upstream" | "gateway"
constexpr std::string_view to_string(Side s) noexcept {
  return s == Side::client ? "client" : s == Side::upstream ? "upstream" : "gateway";
}

}  // namespace egress::base
