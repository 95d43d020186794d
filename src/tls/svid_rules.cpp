#include "tls/svid_rules.hpp"

#include <string_view>

#include <openssl/x509v3.h>

#include "tls/identity.hpp"
#include "tls/openssl_ptr.hpp"

namespace egress::tls {
namespace {

// OpenSSL computes these flags once per certificate (under its own lock) and takes a non-const
// pointer for it; nothing observable changes.
X509* mutable_cert(const X509& cert) {
  return const_cast<X509*>(&cert);
}

// Names from a certificate reach audit records and logs only when they are plain ASCII.
bool printable(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c >= 0x7f) return false;
  }
  return s.size() <= 2048;
}

}  // namespace

std::string leaf_usage_error(const X509& leaf) {
  X509* cert = mutable_cert(leaf);
  const std::uint32_t flags = X509_get_extension_flags(cert);
  if ((flags & EXFLAG_CA) != 0) {
    return "client certificate has CA:true; a leaf must have CA:false (X.509-SVID 4.1)";
  }
  if ((flags & EXFLAG_KUSAGE) != 0) {
    const std::uint32_t usage = X509_get_key_usage(cert);
    if ((usage & KU_KEY_CERT_SIGN) != 0) {
      return "client certificate's key usage has keyCertSign; a leaf must not (X.509-SVID 4.3)";
    }
    if ((usage & KU_CRL_SIGN) != 0) {
      return "client certificate's key usage has cRLSign; a leaf must not (X.509-SVID 4.3)";
    }
  }
  // Whatever else OpenSSL would accept as an issuer: a self-signed v1 certificate, a Netscape
  // CA cert type.
  if (X509_check_ca(cert) != 0) {
    return "client certificate is a CA certificate; a leaf must not be one (X.509-SVID 5.2)";
  }
  return {};
}

std::string signing_cert_error(const X509& issuer) {
  GeneralNamesPtr sans(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(&issuer, NID_subject_alt_name, nullptr, nullptr)));
  const int n = sans ? sk_GENERAL_NAME_num(sans.get()) : 0;
  for (int i = 0; i < n; ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans.get(), i);
    if (gn->type != GEN_URI) continue;
    const ASN1_STRING* s = gn->d.uniformResourceIdentifier;
    const std::string_view uri(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                               static_cast<std::size_t>(ASN1_STRING_length(s)));
    if (!is_spiffe_scheme(uri)) continue;
    // "spiffe://" + trust domain; anything from the next '/' on is a path.
    const std::string_view rest = uri.substr(std::string_view("spiffe:").size());
    const std::size_t authority = rest.starts_with("//") ? 2 : 0;
    if (rest.find('/', authority) != std::string_view::npos) {
      const std::string id = printable(uri) ? " \"" + std::string(uri) + "\"" : std::string();
      return "signing certificate has the SPIFFE ID" + id +
             " with a path: a workload's ID, not a CA's (X.509-SVID 3.2)";
    }
  }
  return {};
}

}  // namespace egress::tls
