#pragma once

// Host names as the policy compares them: the one form every reader (SNI, HTTP Host) produces and
// every hostname rule is written in (issue 19: case-insensitive, trailing dot ignored, IDNA names
// in their ASCII form).

#include <cstddef>
#include <string>
#include <string_view>

namespace egress::peek {

/// RFC 1035 §2.3.4: at most 253 characters in text form without the trailing dot.
inline constexpr std::size_t kMaxHostnameLength = 253;

/// Why `name` is not a DNS host name, or an empty view when it is one. Accepted: LDH labels
/// (letters, digits, hyphen; no hyphen first or last) of 1-63 characters, at most 253 characters,
/// any case, one optional trailing dot; IDNA A-labels ("xn--...") are LDH labels. Refused: an empty
/// name or label, any other byte (underscore, space, non-ASCII: a U-label must be sent as its
/// A-label), and a last label of digits only (no top-level domain is all-numeric, RFC 3696 §2: such
/// a name is an address to some resolvers). The message is a static string.
std::string_view hostname_error(std::string_view name) noexcept;

/// hostname_error(name).empty().
inline bool is_valid_hostname(std::string_view name) noexcept {
  return hostname_error(name).empty();
}

/// The compared form: ASCII letters lowercased, one trailing dot removed, every other byte kept.
/// Check the name as received, not this: "a.." becomes "a.", which hostname_error accepts.
std::string normalize_hostname(std::string_view name);
/// normalize_hostname into `out` (replacing its content), reusing its capacity.
void normalize_hostname_into(std::string_view name, std::string& out);

/// True when `text` is an IP address rather than a name: dotted-quad IPv4, IPv6 with or without
/// brackets, and the legacy IPv4 forms inet_aton(3) accepts ("127.1", "0x7f.0.0.1", "2130706433"),
/// which some clients and resolvers still treat as addresses.
bool is_ip_literal(std::string_view text) noexcept;

}  // namespace egress::peek
