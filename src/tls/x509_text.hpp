#pragma once

// Text forms of X.509 values used in identities, audit records and error messages.

#include <cstddef>
#include <string>

#include <openssl/asn1.h>
#include <openssl/x509.h>

namespace egress::tls {

/// Lowercase hex of `len` bytes.
std::string to_hex(const unsigned char* data, std::size_t len);

/// A distinguished name in RFC 2253 form ("CN=egressd dev intermediate CA,O=egressd dev"),
/// non-ASCII kept as UTF-8. Empty on failure.
std::string name_to_rfc2253(const X509_NAME* name);

/// An ASN.1 time as RFC 3339 UTC ("2029-02-28T07:31:45Z"). Empty when null or invalid.
std::string time_to_rfc3339(const ASN1_TIME* time);

}  // namespace egress::tls
