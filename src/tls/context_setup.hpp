#pragma once

// What the server context (context.cpp) and the client context (client_context.cpp) build
// alike: their own certificate chain and key, the CAs they verify the peer against, and the
// protocol settings, each loaded and checked whole, then put into an SSL_CTX. Every function
// that can fail sets `error` (the option and file it came from) and returns nullopt or false.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "tls/context.hpp"
#include "tls/openssl_ptr.hpp"

namespace egress::tls {

/// The error a context builder ends with (the server's in context.cpp, the client's in
/// client_context.cpp derive from it), and the two ways of setting it.
struct ContextBuildError {
  std::optional<ContextError> error;

  /// Sets the error; returns false, for `return fail(...)`.
  bool fail(std::string option, const std::filesystem::path& file, std::string message);
  /// True, with the error "<what>: <the OpenSSL errors>" for the tls section as a whole (not
  /// one file), unless `rc` is 1.
  bool ssl_failed(int rc, const char* what);
};

/// A certificate chain (leaf first, then intermediates) and the private key of its leaf.
struct CertifiedKey {
  std::vector<X509Ptr> chain;  ///< never empty
  EvpPkeyPtr key;

  X509* leaf() const noexcept { return chain.front().get(); }
};

/// Reads `cert` and `key` (tls/material.hpp) and checks that the key is the leaf's and that the
/// leaf has not expired. Errors name the option "cert" or "key" and its file.
std::optional<CertifiedKey> load_certified_key(const std::filesystem::path& cert,
                                               const std::filesystem::path& key,
                                               bool allow_insecure_key_permissions,
                                               std::optional<ContextError>& error);

/// Every certificate of a CA bundle, each one a CA certificate. Errors name `option`
/// ("client_ca", "ca") and `file`.
std::optional<std::vector<X509Ptr>> load_ca_bundle(const std::filesystem::path& file,
                                                   const std::string& option,
                                                   std::optional<ContextError>& error);

/// TLS ≥ `min_version` (TLS1_2_VERSION, TLS1_3_VERSION), no renegotiation (the identity learned
/// in the handshake is the identity for the whole connection), no compression,
/// SSL_MODE_RELEASE_BUFFERS, and for TLS 1.2 ECDHE with AEAD ciphers only over X25519, P-256 and
/// P-384 (TLS 1.3 suites are all AEAD; OpenSSL's defaults stay).
bool set_protocol(SSL_CTX* ctx, int min_version, std::optional<ContextError>& error);

/// Makes `material` the certificate chain and key `ctx` presents. Errors name "cert" or "key".
bool use_certified_key(SSL_CTX* ctx, const CertifiedKey& material,
                       const std::filesystem::path& cert, const std::filesystem::path& key,
                       std::optional<ContextError>& error);

/// Adds `cas` to the store `ctx` verifies the peer's chain against. Errors name `option` and
/// `file`, as load_ca_bundle's.
bool trust_cas(SSL_CTX* ctx, const std::vector<X509Ptr>& cas, const std::string& option,
               const std::filesystem::path& file, std::optional<ContextError>& error);

}  // namespace egress::tls
