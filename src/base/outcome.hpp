#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "base/reason.hpp"

namespace egress::base {

/// How the client's connection ends after a deny.
enum class Ending : std::uint8_t {
  /// RST (SO_LINGER 0): the client learns at once that nothing will come; what it sent is
  /// discarded.
  reset,
  /// FIN: for a deny whose answer is already on the wire (a TLS alert), which an RST could
  /// discard before the client reads it.
  close,
};

/// What became of a connection's decision: allowed, or denied with the reason the audit record
/// names, a detail for the operator, and how the client's connection ends. The step that produces
/// the outcome chooses the ending; nothing downstream guesses it from the reason.
struct Outcome {
  bool allow = false;
  Reason reason = Reason::no_policy;
  std::string detail;
  Ending ending = Ending::reset;

  /// An allow for `reason` (rule or default).
  static Outcome allowed(Reason reason) { return {true, reason, {}, Ending::reset}; }
  /// A deny; `ending` is reset unless the producer has put an answer on the wire.
  static Outcome denied(Reason reason, std::string detail = {}, Ending ending = Ending::reset) {
    return {false, reason, std::move(detail), ending};
  }
};

}  // namespace egress::base
