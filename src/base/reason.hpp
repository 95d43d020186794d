#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace egress::base {

/// Why a connection ended as it did: every terminal outcome of a connection, so each one becomes
/// exactly one audit `reason` and one metric label value. The first group are decision reasons
/// (connection.decision), the second close reasons (connection.close). Value 0 is success and never
/// used as a reason.
enum class Reason : std::uint8_t {
  // decision reasons: from the policy
  rule = 1,          ///< "rule": a rule matched (allow or deny)
  default_action,    ///< "default": no rule matched
  deny_destination,  ///< "deny_destination": Settings.deny_destinations
  // decision reasons: from the data path (always deny)
  no_original_dst,       ///< no original destination could be found
  loop,                  ///< the destination is the gateway itself
  over_limit,            ///< max_connections (global or listener) reached
  over_pending_limit,    ///< limits.max_pending connections are still undecided (handshake, peek)
  over_source_limit,     ///< limits.per_source connections from this source are live
  audit_unavailable,     ///< audit sink failing and on_error = fail_closed
  no_policy,             ///< no policy loaded (cannot happen after a successful start)
  no_client_cert,        ///< TLS required, no certificate presented
  cert_verify_failed,    ///< the client certificate did not verify
  invalid_svid,          ///< more than one spiffe:// URI SAN
  handshake_timeout,     ///< TLS handshake not finished in time
  tls_handshake_failed,  ///< not TLS, bad version, other handshake failure
  // decision reasons: from the name step (issue 19; always deny)
  client_hello_invalid,  ///< a malformed ClientHello, a second SNI, or one past peek.max_bytes
  http_request_invalid,  ///< a plaintext HTTP/1.x request head that cannot be read (bad Host, ...)
  name_mismatch,         ///< host_verification strict: the name does not resolve to the destination
  name_unresolved,       ///< host_verification strict: the name has no address (NXDOMAIN, ...)
  // decision reasons: from the PROXY protocol step (issue 20; always deny)
  proxy_header_untrusted,       ///< a PROXY header from a source not in proxy_protocol.trusted
  proxy_header_invalid,         ///< a trusted source sent no, a malformed or an incomplete header
  proxy_transport_unsupported,  ///< a PROXY command for UDP, AF_UNIX or an unspecified transport
  // decision reasons: from the CONNECT step (issue 20; always deny)
  connect_request_invalid,  ///< a CONNECT listener's request is malformed (400), not CONNECT (405),
                            ///< or its head is over 8 KiB (431): facts.connect->status says which
  connect_request_timeout,  ///< the request head did not end within connect_request_timeout
  // no record: a trusted balancer's PROXY LOCAL connection (a health check) carries no client
  // traffic; it is closed and counted (egressd_proxy_local_connections_total), not audited
  proxy_local,
  // close reasons
  eof,                   ///< both sides finished normally
  reset,                 ///< a side reset the connection or an I/O error
  idle_timeout,          ///< no bytes either way for upstream.idle_timeout
  max_duration,          ///< upstream.max_duration reached
  drain,                 ///< closed by the gateway at the end of drain_timeout
  upstream_refused,      ///< upstream answered the SYN with RST
  upstream_timeout,      ///< upstream connect did not finish within connect_timeout
  upstream_unreachable,  ///< network or host unreachable (ICMP, no route)
  upstream_error,        ///< any other upstream connect failure
  host_changed,          ///< a later HTTP/1.x request's Host decides differently (domain fronting)
  policy_revoked,        ///< a reloaded policy denies the live connection (policy.on_change)
  cert_revoked,          ///< a reloaded CRL revokes the live connection's client certificate
  rule_expired,          ///< the rule that allowed the live connection reached its `expires`
  /// A CONNECT tunnel's first bytes name another host than its CONNECT request did (a TLS
  /// ClientHello's SNI, an HTTP request's Host): closed before any of them went upstream.
  sni_mismatch,
  /// The egressd agent (upstream.via): the gateway refused the tunnel (403).
  via_denied,
  /// The egressd agent: the tunnel to the gateway failed (TLS handshake, another status, a
  /// malformed answer).
  via_error,
};

/// Number of Reason values including 0, for fixed-size per-reason tables (the last enumerator + 1).
inline constexpr std::size_t kReasonCount = static_cast<std::size_t>(Reason::via_error) + 1;

namespace detail {
inline constexpr std::array<std::string_view, kReasonCount> kNames = {
    "ok",
    "rule",
    "default",
    "deny_destination",
    "no_original_dst",
    "loop",
    "over_limit",
    "over_pending_limit",
    "over_source_limit",
    "audit_unavailable",
    "no_policy",
    "no_client_cert",
    "cert_verify_failed",
    "invalid_svid",
    "handshake_timeout",
    "tls_handshake_failed",
    "client_hello_invalid",
    "http_request_invalid",
    "name_mismatch",
    "name_unresolved",
    "proxy_header_untrusted",
    "proxy_header_invalid",
    "proxy_transport_unsupported",
    "connect_request_invalid",
    "connect_request_timeout",
    "proxy_local",
    "eof",
    "reset",
    "idle_timeout",
    "max_duration",
    "drain",
    "upstream_refused",
    "upstream_timeout",
    "upstream_unreachable",
    "upstream_error",
    "host_changed",
    "policy_revoked",
    "cert_revoked",
    "rule_expired",
    "sni_mismatch",
    "via_denied",
    "via_error",
};
// A Reason added without its name would leave an empty string in the table (std::array pads).
static_assert([] {
  for (auto name : kNames) {
    if (name.empty()) return false;
  }
  return true;
}());
}  // namespace detail

/// The audit / metrics spelling: "no_original_dst", "default", "upstream_refused", ...
constexpr std::string_view to_string(Reason e) noexcept {
  const auto i = static_cast<std::size_t>(e);
  return i < detail::kNames.size() ? detail::kNames[i] : "unknown";
}

/// True for reasons that appear in connection.decision records.
constexpr bool is_decision_reason(Reason e) noexcept {
  return e >= Reason::rule && e <= Reason::connect_request_timeout;
}

}  // namespace egress::base
