#include "tls/context_setup.hpp"

#include <utility>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tls/material.hpp"
#include "tls/openssl_error.hpp"
#include "tls/x509_text.hpp"

namespace egress::tls {

namespace {

// TLS 1.2 suites: forward secrecy and AEAD only (Mozilla "intermediate").
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* kGroups = "X25519:P-256:P-384";

bool fail(std::optional<ContextError>& error, std::string option, const std::filesystem::path& file,
          std::string message) {
  error = ContextError{std::move(option), file, std::move(message)};
  return false;
}

// Not tied to one file: the tls section as a whole.
bool openssl_ok(int rc, const char* what, std::optional<ContextError>& error) {
  if (rc == 1) return true;
  return fail(error, "", {}, std::string(what) + ": " + take_openssl_errors());
}

std::string subject_of(const X509& cert) {
  return name_to_rfc2253(X509_get_subject_name(&cert));
}

}  // namespace

bool ContextBuildError::fail(std::string option, const std::filesystem::path& file,
                             std::string message) {
  return tls::fail(error, std::move(option), file, std::move(message));
}

bool ContextBuildError::ssl_failed(int rc, const char* what) {
  return !openssl_ok(rc, what, error);
}

std::optional<CertifiedKey> load_certified_key(const std::filesystem::path& cert,
                                               const std::filesystem::path& key,
                                               bool allow_insecure_key_permissions,
                                               std::optional<ContextError>& error) {
  std::string why;
  auto chain = load_certificates(cert, why);
  if (!chain) {
    fail(error, "cert", cert, why);
    return std::nullopt;
  }
  auto pkey = load_private_key(key, allow_insecure_key_permissions, why);
  if (!pkey) {
    fail(error, "key", key, why);
    return std::nullopt;
  }
  CertifiedKey out{std::move(*chain), std::move(*pkey)};
  X509* leaf = out.leaf();
  if (X509_check_private_key(leaf, out.key.get()) != 1) {
    ERR_clear_error();
    fail(error, "key", key, "private key does not match the certificate in " + cert.string());
    return std::nullopt;
  }
  if (X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0) {
    fail(error, "cert", cert,
         "certificate \"" + subject_of(*leaf) + "\" expired at " +
             time_to_rfc3339(X509_get0_notAfter(leaf)));
    return std::nullopt;
  }
  return out;
}

std::optional<std::vector<X509Ptr>> load_ca_bundle(const std::filesystem::path& file,
                                                   const std::string& option,
                                                   std::optional<ContextError>& error) {
  std::string why;
  auto cas = load_certificates(file, why);
  if (!cas) {
    if (why == "no certificate in file") why = "no certificate in file (an empty CA bundle)";
    fail(error, option, file, why);
    return std::nullopt;
  }
  for (std::size_t i = 0; i < cas->size(); ++i) {
    if (X509_check_ca((*cas)[i].get()) == 0) {
      fail(error, option, file,
           "certificate " + std::to_string(i + 1) + " (\"" + subject_of(*(*cas)[i]) +
               "\") is not a CA certificate");
      return std::nullopt;
    }
  }
  return cas;
}

bool set_protocol(SSL_CTX* ctx, int min_version, std::optional<ContextError>& error) {
  if (!openssl_ok(SSL_CTX_set_min_proto_version(ctx, min_version), "min_version", error)) {
    return false;
  }
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  return openssl_ok(SSL_CTX_set_cipher_list(ctx, kTls12Ciphers), "cipher list", error) &&
         openssl_ok(SSL_CTX_set1_groups_list(ctx, kGroups), "groups", error);
}

bool use_certified_key(SSL_CTX* ctx, const CertifiedKey& material,
                       const std::filesystem::path& cert, const std::filesystem::path& key,
                       std::optional<ContextError>& error) {
  if (SSL_CTX_use_certificate(ctx, material.leaf()) != 1) {
    return fail(error, "cert", cert, "unusable certificate: " + take_openssl_errors());
  }
  for (std::size_t i = 1; i < material.chain.size(); ++i) {
    if (SSL_CTX_add1_chain_cert(ctx, material.chain[i].get()) != 1) {
      return fail(error, "cert", cert, "unusable chain certificate: " + take_openssl_errors());
    }
  }
  if (SSL_CTX_use_PrivateKey(ctx, material.key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    return fail(error, "key", key, "unusable private key: " + take_openssl_errors());
  }
  return true;
}

bool trust_cas(SSL_CTX* ctx, const std::vector<X509Ptr>& cas, const std::string& option,
               const std::filesystem::path& file, std::optional<ContextError>& error) {
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  for (const auto& ca : cas) {
    if (X509_STORE_add_cert(store, ca.get()) != 1) {
      return fail(error, option, file, "unusable CA certificate: " + take_openssl_errors());
    }
  }
  return true;
}

}  // namespace egress::tls
