#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/identity.hpp"
#include "base/ip_address.hpp"

namespace egress::policy {

/// Everything the policy may look at for one connection. Borrowed: lives as long as the call.
struct ConnectionFacts {
  base::IpAddress src;
  base::IpAddress dst;
  std::uint16_t dst_port = 0;
  const base::Identity* identity = nullptr;  ///< nullptr = no identity
  std::chrono::system_clock::time_point now;
};

enum class Action : std::uint8_t { allow, deny };

/// Why the enforced decision is what it is.
enum class Reason : std::uint8_t {
  deny_destination,  ///< the destination is in Settings.deny_destinations
  rule,              ///< a rule matched
  default_action,    ///< no rule matched; Settings.default applied
};

std::string_view to_string(Action) noexcept;
/// "deny_destination", "rule", "default".
std::string_view to_string(Reason) noexcept;

/// The outcome of one evaluation. String views point into the Policy that produced it: keep the
/// Policy (its shared_ptr) alive while the Decision is used.
struct Decision {
  Action action = Action::deny;
  Reason reason = Reason::default_action;
  std::string_view rule_id;    ///< empty unless reason == rule
  std::string_view rule_file;  ///< file the rule is in (relative to the policy dir)
  int rule_line = 0;
  /// Set only when the shadow evaluation (report-mode rules treated as enforced, or the real
  /// decision under Settings.mode: report) differs from the enforced one.
  std::optional<Action> shadow_action;
  std::string_view shadow_rule_id;  ///< the rule that decided the shadow, if any
  std::string_view policy_version;
};

}  // namespace egress::policy
