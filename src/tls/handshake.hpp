#pragma once

// The outcome of a server-side TLS handshake on a redirected connection: continue with a
// (possibly empty) identity, or deny with one of the reasons and OpenSSL's detail.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <openssl/ssl.h>
#include <boost/system/error_code.hpp>

#include "base/identity.hpp"
#include "tls/options.hpp"

namespace egress::tls {

/// Why the TLS stage denies a connection (the audit record's `reason`).
enum class DenyReason : std::uint8_t {
  no_client_cert,        ///< mode required and the client sent no certificate
  cert_verify_failed,    ///< chain, dates, CRL, purpose, a CA as leaf, or malformed names
  invalid_svid,          ///< an X.509-SVID rule: SPIFFE IDs, URI SANs, who signed it
  tls_handshake_failed,  ///< not TLS, bad version, no shared cipher, closed mid-handshake, ...
  handshake_timeout,     ///< no complete handshake within handshake_timeout
};

/// "no_client_cert", "cert_verify_failed", "invalid_svid", "tls_handshake_failed",
/// "handshake_timeout".
std::string_view to_string(DenyReason) noexcept;

/// What the TLS stage learned.
struct HandshakeOutcome {
  std::optional<DenyReason> deny;  ///< empty: continue to the policy
  /// For a deny: OpenSSL's words ("certificate has expired", "certificate revoked",
  /// "unable to get local issuer certificate", "wrong version number", ...).
  std::string detail;
  /// Present iff the handshake completed with a verified client certificate (also on an
  /// invalid_svid deny found after the handshake, so the audit shows whose certificate it was).
  std::optional<base::Identity> identity;
  std::string tls_version;  ///< "TLSv1.3"/"TLSv1.2" once the handshake completed, else empty

  bool allowed() const noexcept { return !deny.has_value(); }
};

/// Classifies a finished server handshake on `ssl` (made by a ServerContext). `ec` is the
/// handshake's result as Asio reports it (ssl category: the packed OpenSSL error code).
/// Failure order: a CertCheck recorded by the verify callback → its reason and detail (the rule
/// that failed); a verify result other than OK → cert_verify_failed with
/// X509_verify_cert_error_string; "peer did not return a certificate" → no_client_cert;
/// anything else → tls_handshake_failed. On success: identity from the verified leaf (none in
/// optional mode without a certificate); a leaf that fails leaf_usage_error or whose names fail
/// extract_identity → deny.
HandshakeOutcome classify_handshake(const SSL& ssl, Mode mode, const boost::system::error_code& ec);

/// The outcome when the handshake did not finish within `timeout` (the caller's timer fired).
HandshakeOutcome handshake_timed_out(std::chrono::milliseconds timeout);

}  // namespace egress::tls
