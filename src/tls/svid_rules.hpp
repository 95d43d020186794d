#pragma once

// The X.509-SVID rules on a client chain that are not about names (those are check_names in
// tls/identity.hpp): what makes a certificate a leaf and what may sign one
// (github.com/spiffe/spiffe standards/X509-SVID.md §3, §4.1, §4.3, §5.2). OpenSSL's chain
// verification checks neither: a CA certificate passes its TLS-client purpose check as a leaf,
// and anything with CA:true may issue.

#include <string>

#include <openssl/x509.h>

namespace egress::tls {

/// Why `leaf` (a client's end-entity certificate, SPIFFE or not) cannot be one: CA:true in its
/// basic constraints, keyCertSign or cRLSign in its key usage, or any other mark of a CA
/// certificate (X509_check_ca). Empty when it is a leaf. An absent basic constraints extension
/// means CA:false (RFC 5280 §4.2.1.9). Pure; reads OpenSSL's cached extension flags.
std::string leaf_usage_error(const X509& leaf);

/// Why `issuer`, a certificate above the leaf in a verified chain, cannot sign an X.509-SVID:
/// it carries a spiffe:// URI SAN with a path, i.e. a workload's ID (§3.2: a signing
/// certificate's SPIFFE ID has no path). This is what gives away a workload certificate that
/// was mis-issued with CA:true and used to sign a leaf with an ID of its own choosing. Empty
/// when acceptable.
std::string signing_cert_error(const X509& issuer);

}  // namespace egress::tls
