#pragma once

// The client-certificate verify callback of every ServerContext, and what it leaves on the SSL
// for classify_handshake.

#include <cstdint>
#include <string>

#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace egress::tls {

/// Which deny reason a rejection by the verify callback becomes.
enum class Rejection : std::uint8_t {
  certificate,  ///< cert_verify_failed: not a usable client certificate (or a missing CRL)
  svid,         ///< invalid_svid: breaks an X.509-SVID rule on names or on who may sign
};

/// What the verify callback found wrong (kept on the SSL): the rule that failed, in words.
struct CertCheck {
  Rejection kind = Rejection::certificate;
  std::string detail;
};

/// SSL_CTX_set_verify callback. Keeps OpenSSL's verdict for every certificate, and adds to it:
/// * a leaf that verified must be a leaf (leaf_usage_error) and have usable names
///   (check_names: one SPIFFE ID, no other URI SAN beside it, a path, no control characters);
/// * a certificate above the leaf must not carry a workload's SPIFFE ID (signing_cert_error).
/// A failed rule fails the verification with X509_V_ERR_APPLICATION_VERIFICATION, so the
/// client gets a TLS alert rather than a silent close, and is recorded as a CertCheck on the
/// SSL. When OpenSSL itself fails a certificate for want of a CRL, the CertCheck names the CA
/// whose CRL is missing (OpenSSL's "unable to get certificate CRL" does not).
int verify_client_certificate(int preverify_ok, X509_STORE_CTX* store);

/// The CertCheck the callback recorded on `ssl`, or null.
const CertCheck* recorded_cert_check(const SSL& ssl);

}  // namespace egress::tls
