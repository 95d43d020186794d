#pragma once

// The CRLs of one listener's TLS context, asked about a certificate by the (issuer, serial) its
// identity recorded: a CRL reload (SIGHUP) closes the live connections whose client certificate
// it now revokes (issue 21, item 3; core/redecide.hpp).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tls/openssl_ptr.hpp"

namespace egress::tls {

/// One revoked certificate as its CRL lists it.
struct RevokedEntry {
  std::string revoked_at;  ///< the entry's revocationDate, RFC 3339 UTC
};

/// Immutable after construction; safe to query from any thread (OpenSSL sorts a CRL's entries
/// under the CRL's own lock on the first lookup, as it does for a handshake's verification).
class RevocationList {
 public:
  RevocationList() = default;
  /// Takes the CRLs a context was built with (already checked: each signed by a trusted CA).
  explicit RevocationList(std::vector<X509CrlPtr> crls);

  /// The entry revoking the certificate named by `issuer` (RFC 2253, as base::Identity::issuer)
  /// and `serial` (lowercase hex, a leading '-' when negative, as base::Identity::serial), from a
  /// loaded CRL of that issuer; nullopt when no such CRL lists it (or there is no CRL of that
  /// issuer, or the serial is not hex). An entry with reason removeFromCRL does not revoke.
  std::optional<RevokedEntry> find(std::string_view issuer, std::string_view serial) const;

  /// CRLs held.
  std::size_t size() const noexcept { return crls_.size(); }

 private:
  struct Crl {
    std::string issuer;  ///< RFC 2253, as tls/identity.cpp writes a certificate's issuer
    X509CrlPtr crl;
  };
  std::vector<Crl> crls_;
};

}  // namespace egress::tls
