#pragma once

// The client-certificate verify callback of every ServerContext, and what it leaves on the SSL
// for classify_handshake.

#include <string>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "tls/identity.hpp"

namespace egress::tls {

/// What the verify callback found wrong with the leaf's names (kept on the SSL).
struct NameCheck {
  NameProblem problem = NameProblem::none;
  std::string detail;
};

/// SSL_CTX_set_verify callback. Keeps OpenSSL's verdict for every certificate; for a leaf that
/// verified, it also runs check_names() and fails the verification with
/// X509_V_ERR_APPLICATION_VERIFICATION when the names are unusable (two SPIFFE IDs, ...), so the
/// client gets a TLS alert rather than a silent close, and records the NameCheck on the SSL.
int verify_client_certificate(int preverify_ok, X509_STORE_CTX* store);

/// The NameCheck the callback recorded on `ssl`, or null.
const NameCheck* recorded_name_check(const SSL& ssl);

}  // namespace egress::tls
