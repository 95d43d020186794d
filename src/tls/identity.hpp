#pragma once

// X509 → base::Identity: what the policy matches and the audit log records about a verified
// client certificate.

#include <cstdint>
#include <string>
#include <string_view>

#include <openssl/x509.h>

#include "base/identity.hpp"

namespace egress::tls {

/// Why a certificate's names cannot be used as an identity.
enum class NameProblem : std::uint8_t {
  none,
  multiple_spiffe_ids,  ///< two or more spiffe:// URI SANs (an X.509-SVID has exactly one)
  multiple_uri_sans,    ///< a spiffe:// URI SAN beside other URI SANs (X.509-SVID §2: one URI SAN)
  malformed_spiffe_id,  ///< a spiffe:// URI SAN that is not a valid SPIFFE ID
  spiffe_id_without_path,  ///< a trust domain's ID ("spiffe://td"): a CA's, not a leaf's (§3.1)
  malformed_name,          ///< a SAN or CN with a NUL or control character, or an undecodable SAN
};

/// "multiple_spiffe_ids", ...
std::string_view to_string(NameProblem) noexcept;

/// The identity of one certificate, or why it has none.
struct IdentityResult {
  base::Identity identity;  ///< filled as far as possible even when problem != none
  NameProblem problem = NameProblem::none;
  std::string detail;  ///< human text for the audit record when problem != none

  bool ok() const noexcept { return problem == NameProblem::none; }
};

/// Extracts the identity of `cert` (normally the verified leaf): the single spiffe:// URI SAN as
/// spiffe_id, every URI SAN and DNS SAN in certificate order (a certificate with a SPIFFE ID has
/// no other URI SAN, but may have DNS SANs before or after it),
/// the subject CN (the last one if several), the SHA-256 fingerprint of the DER, the issuer in
/// RFC 2253 form, the serial in lowercase hex and notAfter in RFC 3339 UTC. A URI whose scheme
/// is "spiffe" in any letter case counts as a SPIFFE ID, so that case cannot hide a second one.
/// Pure: no I/O, does not touch the OpenSSL error queue on success.
IdentityResult extract_identity(const X509& cert);

/// Only the name checks of extract_identity (count and syntax of SPIFFE IDs, one URI SAN beside
/// a SPIFFE ID, a path in it, control characters), cheap enough for the verify callback;
/// `detail` gets the text when not none.
NameProblem check_names(const X509& cert, std::string* detail = nullptr);

/// True when `uri`'s scheme is "spiffe" in any letter case.
bool is_spiffe_scheme(std::string_view uri) noexcept;

/// Validates a SPIFFE ID (github.com/spiffe/spiffe standards/SPIFFE-ID.md §2): "spiffe://",
/// a trust domain of [a-z0-9._-], an optional path of "/"-separated non-empty segments of
/// [a-zA-Z0-9._-] that are not "." or "..", no query, fragment, port or userinfo, at most 2048
/// bytes. Returns an empty string when valid, else what is wrong.
std::string spiffe_id_error(std::string_view uri);

}  // namespace egress::tls
