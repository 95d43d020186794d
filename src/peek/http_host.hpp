#pragma once

// The host an HTTP/1.x request names (its Host header or its request-target's authority), in the
// form the policy compares.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace egress::peek {

/// The host of one HTTP request.
struct HttpHost {
  /// Normalised (lowercase, no trailing dot) DNS name; or, when ip_literal, the address in its
  /// canonical text (dotted quad, RFC 5952 IPv6 without brackets: "[2001:DB8::1]" yields
  /// "2001:db8::1"); empty when the request names no host (HTTP/1.0 without Host, origin-form).
  std::string host;
  /// The port given with it ("Host: example.com:8080"), if any.
  std::optional<std::uint16_t> port;
  /// `host` is an IP address: no hostname rule can match it.
  bool ip_literal = false;

  friend bool operator==(const HttpHost&, const HttpHost&) = default;
};

/// Parses an authority as Host carries it: `host [":" port]`, `"[" IPv6 "]" [":" port]`. The host
/// must be a DNS name (hostname_error) or a dotted-quad / bracketed IPv6 address; legacy IPv4
/// forms ("127.1") and userinfo are refused; an empty port ("example.com:") counts as none; a
/// port is 1-65535. Returns the problem, or an empty string with `out` filled.
std::string parse_http_authority(std::string_view text, HttpHost& out);

}  // namespace egress::peek
