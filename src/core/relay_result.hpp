#pragma once

// What a relay is told (timeouts) and what it reports (bytes, why it ended, who ended it).

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/errc.hpp"

namespace egress::core {

/// Timeouts of one relay.
struct RelayOptions {
  std::chrono::milliseconds idle_timeout{3'600'000};  ///< no bytes either way → close
  std::chrono::milliseconds max_duration{0};          ///< 0 = unlimited
};

/// Which side ended a connection.
enum class Side : std::uint8_t { client, upstream, gateway };
/// "client" | "upstream" | "gateway"
constexpr std::string_view to_string(Side s) noexcept {
  return s == Side::client ? "client" : s == Side::upstream ? "upstream" : "gateway";
}

/// What a relay did.
struct RelayResult {
  std::uint64_t bytes_up = 0;    ///< client → upstream
  std::uint64_t bytes_down = 0;  ///< upstream → client
  errc reason = errc::eof;       ///< eof | reset | idle_timeout | max_duration
  Side closed_by = Side::client;
  std::string detail;  ///< the I/O error's text for reset
};

}  // namespace egress::core
