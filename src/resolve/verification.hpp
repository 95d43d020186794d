#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/ip_address.hpp"

namespace egress::resolve {

/// The verdict on "does this name resolve to this address" (the audit's `name_verified`).
enum class Verdict : std::uint8_t {
  match,       ///< the address is among the answers held for the name
  mismatch,    ///< the name resolves, but not to the address (after one fresh lookup)
  unresolved,  ///< the name has no address: NXDOMAIN, no data, SERVFAIL, timeout, ...
};

/// "match", "mismatch", "unresolved".
std::string_view to_string(Verdict verdict) noexcept;

/// One verification and what it was decided on.
struct Verification {
  Verdict verdict = Verdict::unresolved;
  /// Why unresolved ("NXDOMAIN", "SERVFAIL", "timeout after 2000 ms", "invalid name", ...);
  /// empty for match and mismatch.
  std::string detail;
  /// The addresses held for the name when the verdict was made (the audit's `dns_answers`).
  std::vector<base::IpAddress> answers;
};

/// The verdict the addresses held for a name give `destination`: match when among them,
/// mismatch when others are held, unresolved (`detail`, or "no address") when none is.
Verification decide(std::vector<base::IpAddress> held, const base::IpAddress& destination,
                    std::string_view detail);

}  // namespace egress::resolve
