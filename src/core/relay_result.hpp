#pragma once

// What a relay is told (timeouts) and what it reports (bytes, why it ended, who ended it).

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/reason.hpp"
#include "base/side.hpp"

namespace egress::core {

/// Timeouts of one relay.
struct RelayOptions {
  std::chrono::milliseconds idle_timeout{3'600'000};  ///< no bytes either way → close
  std::chrono::milliseconds max_duration{0};          ///< 0 = unlimited
  /// The owner's "stop now" (Connection::revoke, force_close), read at every turn: once true, a
  /// direction that resumes finishes as cancelled, with no read, write or shutdown. Cancelling the
  /// sockets alone misses a direction whose resumption was already queued (a turn that spent its
  /// budget, a readiness already reported), which would otherwise relay on, half-close included.
  const bool* stopped = nullptr;
};

/// What a relay did.
struct RelayResult {
  std::uint64_t bytes_up = 0;               ///< client → upstream
  std::uint64_t bytes_down = 0;             ///< upstream → client
  base::Reason reason = base::Reason::eof;  ///< eof | reset | idle_timeout | max_duration
  base::Side closed_by = base::Side::client;
  std::string detail;  ///< the I/O error's text for reset
};

}  // namespace egress::core
