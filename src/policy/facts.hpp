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

/// Whether the name the client sent belongs to the destination address: egressd's own DNS
/// answers for the name list the address (the audit's `name_verified`).
enum class NameVerification : std::uint8_t {
  not_checked,  ///< no name, or the name was not looked up (host_verification: off)
  match,        ///< the destination address is among the name's answers
  mismatch,     ///< the name resolves, but not to the destination address
  unresolved,   ///< the name has no address (NXDOMAIN, SERVFAIL, timeout, ...)
};

/// Everything the policy may look at for one connection. Borrowed: lives as long as the call.
struct ConnectionFacts {
  base::IpAddress src;
  base::IpAddress dst;
  std::uint16_t dst_port = 0;
  const base::Identity* identity = nullptr;  ///< nullptr = no identity
  std::chrono::system_clock::time_point now;
  /// The name the client sent (TLS SNI or HTTP Host), as sent; empty = none. Compared
  /// case-insensitively, one trailing dot ignored.
  std::string_view host;
  NameVerification name_verification = NameVerification::not_checked;
};

enum class Action : std::uint8_t { allow, deny };

/// Why the enforced decision is what it is.
enum class Reason : std::uint8_t {
  deny_destination,  ///< the destination is in Settings.deny_destinations
  rule,              ///< a rule matched
  default_action,    ///< no rule matched; Settings.default applied
  /// host_verification: strict denied because the name the client sent matched the `hosts` of
  /// the allow rule that would have decided, but the name resolves to other addresses.
  name_mismatch,
  /// As name_mismatch, but the name did not resolve at all.
  name_unresolved,
};

/// Settings.host_verification: how far a `hosts` entry trusts the name the client sent.
enum class HostVerification : std::uint8_t {
  strict,  ///< an allow rule's hosts match only a verified name (NameVerification::match)
  report,  ///< the name alone; the decision a verified name would get is the shadow
  off,     ///< the name alone (unsafe: a client can claim any name)
};

std::string_view to_string(Action) noexcept;
/// "deny_destination", "rule", "default", "name_mismatch", "name_unresolved".
std::string_view to_string(Reason) noexcept;
/// "not_checked", "match", "mismatch", "unresolved".
std::string_view to_string(NameVerification) noexcept;
/// "strict", "report", "off".
std::string_view to_string(HostVerification) noexcept;

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
  /// The enforced decision's rule matched through a `hosts` entry: the client's name decided.
  bool name_used = false;
  /// Requiring a verified name changed the outcome: under strict the enforced decision (see
  /// `unverified_rule_id`), under report the shadow. Never set under host_verification: off.
  bool verification_changed = false;
  /// When verification_changed: the rule the name alone would have decided by (an allow rule
  /// whose `hosts` matched the unverified name).
  std::string_view unverified_rule_id;
};

}  // namespace egress::policy
