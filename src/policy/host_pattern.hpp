#pragma once

// The names of a `hosts:` list (a destination entry or a Destination document): exact names and
// "*.example.com" wildcards, in the compared form of peek/hostname.hpp.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "yaml/position.hpp"

namespace egress::policy {

/// One name of a `hosts:` list.
struct HostPattern {
  bool wildcard = false;  ///< "*.example.com": any name below example.com, at any depth
  std::string name;       ///< normalised (lowercase, no trailing dot); without "*." for a wildcard
  std::string written;    ///< as the user wrote it, for messages
  yaml::Position pos;

  /// True when `host` (normalised) is this name, or lies strictly below it for a wildcard.
  bool matches(std::string_view host) const noexcept;
  /// True when every name this pattern matches, `other` matches too.
  bool within(const HostPattern& other) const noexcept;
  friend bool operator==(const HostPattern& a, const HostPattern& b) noexcept {
    return a.wildcard == b.wildcard && a.name == b.name;
  }
};

/// The result of parsing one `hosts` item: the pattern, or an error message.
struct HostPatternParse {
  std::optional<HostPattern> pattern;
  std::string error;
};

/// "api.stripe.com" or "*.stripe.com"; case-insensitive, one trailing dot ignored. Errors: an IP
/// literal (hosts are names: addresses go in cidrs), a non-ASCII name (write its xn-- A-label),
/// `*` anywhere but as the whole first label, and whatever peek::hostname_error refuses.
HostPatternParse parse_host_pattern(std::string_view text);

/// True when `host` (normalised) is under `suffix` (normalised): "a.b.example.com" is under
/// "example.com"; "example.com" and "badexample.com" are not.
bool is_below(std::string_view host, std::string_view suffix) noexcept;

/// The names both lists match, as a list ({a in A within some b} + {b in B within some a}).
std::vector<HostPattern> intersect_hosts(const std::vector<HostPattern>& a,
                                         const std::vector<HostPattern>& b);

/// True when every name `inner` matches, `outer` matches too.
bool hosts_within(const std::vector<HostPattern>& inner, const std::vector<HostPattern>& outer);

}  // namespace egress::policy
