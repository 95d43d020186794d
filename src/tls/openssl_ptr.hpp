#pragma once

// Owning handles for OpenSSL objects: std::unique_ptr with a deleter that calls the matching
// *_free function. Every OpenSSL object the tls library creates lives in one of these.

#include <memory>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace egress::tls {

namespace detail {
struct SslCtxFree {
  void operator()(SSL_CTX* p) const noexcept { SSL_CTX_free(p); }
};
struct SslFree {
  void operator()(SSL* p) const noexcept { SSL_free(p); }
};
struct X509Free {
  void operator()(X509* p) const noexcept { X509_free(p); }
};
struct X509CrlFree {
  void operator()(X509_CRL* p) const noexcept { X509_CRL_free(p); }
};
struct EvpPkeyFree {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const noexcept { BIO_free_all(p); }
};
struct GeneralNamesFree {
  void operator()(GENERAL_NAMES* p) const noexcept { GENERAL_NAMES_free(p); }
};
struct BignumFree {
  void operator()(BIGNUM* p) const noexcept { BN_free(p); }
};
struct OpensslStringFree {
  void operator()(char* p) const noexcept { OPENSSL_free(p); }
};
struct Asn1StringUtf8Free {
  void operator()(unsigned char* p) const noexcept { OPENSSL_free(p); }
};
}  // namespace detail

using SslCtxPtr = std::unique_ptr<SSL_CTX, detail::SslCtxFree>;
using SslPtr = std::unique_ptr<SSL, detail::SslFree>;
using X509Ptr = std::unique_ptr<X509, detail::X509Free>;
using X509CrlPtr = std::unique_ptr<X509_CRL, detail::X509CrlFree>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, detail::EvpPkeyFree>;
using BioPtr = std::unique_ptr<BIO, detail::BioFree>;
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, detail::GeneralNamesFree>;
using BignumPtr = std::unique_ptr<BIGNUM, detail::BignumFree>;
/// A string OpenSSL allocated (BN_bn2hex, ...).
using OpensslStringPtr = std::unique_ptr<char, detail::OpensslStringFree>;
/// The buffer ASN1_STRING_to_UTF8 allocates.
using Utf8BufferPtr = std::unique_ptr<unsigned char, detail::Asn1StringUtf8Free>;

}  // namespace egress::tls
