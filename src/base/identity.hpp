#pragma once

#include <string>
#include <vector>

namespace egress::base {

/// Who the client is, as learned from its verified client certificate (all fields empty for a
/// plain-TCP client, whose only identity is its source address). Produced by src/tls, matched by
/// the policy, written to the audit log.
struct Identity {
  std::string spiffe_id;              ///< the single spiffe:// URI SAN, or empty
  std::vector<std::string> uri_sans;  ///< every URI SAN, in certificate order
  std::vector<std::string> dns_sans;  ///< every DNS SAN, in certificate order
  std::string common_name;            ///< subject CN, or empty
  std::string fingerprint_sha256;     ///< lowercase hex of SHA-256 over the leaf's DER
  std::string issuer;                 ///< issuer DN, RFC 2253 form
  std::string serial;                 ///< serial number, lowercase hex
  std::string not_after;              ///< RFC 3339 UTC

  /// True when a certificate was presented and verified.
  bool present() const noexcept { return !fingerprint_sha256.empty(); }
};

}  // namespace egress::base
