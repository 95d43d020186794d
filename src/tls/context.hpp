#pragma once

// One listener's server-side TLS: an SSL_CTX built from tls::ListenerTlsOptions, verified whole
// at build time, immutable afterwards and shared by every worker (OpenSSL locks the session
// cache internally; nothing else in an SSL_CTX changes after build).
//
// How the data path uses it:
//
//   auto ctx = store.current();                  // shared_ptr<const ServerContext>; keep it for
//                                                // the connection's life (audit, mode, timeout)
//   tls::TlsSocket tls(socket, ctx->new_ssl());  // tls/tls_socket.hpp
//   boost::system::error_code ec = co_await tls.async_handshake();
//   HandshakeOutcome out = classify_handshake(*tls.native_handle(), ctx->mode(), ec);
//
// SSL_new holds a reference to the SSL_CTX, so a reload that drops the old ServerContext never
// pulls the context from under a live connection.
// No boost::asio::ssl::context is involved: its destructor would treat SSL_CTX app data as its
// own verify callback, and we need nothing from it.

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "tls/openssl_ptr.hpp"
#include "tls/options.hpp"
#include "tls/revocation_list.hpp"

namespace egress::tls {

/// Why a listener's TLS material cannot be used. `option` names the key under `tls:` it came
/// from, so the config layer can say "listeners[0].tls.key: ...".
struct ContextError {
  /// "mode", "cert", "key", "client_ca", "crl", "session_cache_size", or empty for a failure of
  /// the section as a whole (OpenSSL refusing a setting; not expected in practice).
  std::string option;
  std::filesystem::path file;
  std::string message;
  /// "key: certs/out/gateway.key: private key does not match the certificate in ...".
  std::string to_string() const;
};

/// What was loaded, for start-up and reload log lines. Nothing secret.
struct MaterialInfo {
  std::string server_subject;            ///< RFC 2253
  std::string server_not_after;          ///< RFC 3339 UTC
  std::string server_fingerprint;        ///< SHA-256 hex of the leaf
  std::size_t chain_length = 0;          ///< certificates in the cert file (leaf included)
  std::size_t ca_count = 0;              ///< trusted CAs from client_ca
  std::size_t crl_count = 0;             ///< CRLs loaded (0 when no crl option)
  std::string earliest_crl_next_update;  ///< RFC 3339 UTC; empty without CRLs
};

/// An immutable server-side TLS context for one listener.
class ServerContext {
 public:
  ServerContext(const ServerContext&) = delete;
  ServerContext& operator=(const ServerContext&) = delete;

  /// The shared SSL_CTX. Valid as long as this object; never modify it.
  SSL_CTX* native_handle() const noexcept { return ctx_.get(); }

  /// A new server-side SSL for one connection. Throws std::bad_alloc if OpenSSL cannot allocate.
  SslPtr new_ssl() const;

  Mode mode() const noexcept { return mode_; }
  MinVersion min_version() const noexcept { return min_version_; }
  std::chrono::milliseconds handshake_timeout() const noexcept { return handshake_timeout_; }
  const MaterialInfo& info() const noexcept { return info_; }
  /// The CRLs this context verifies with (empty without a crl option), to check a live
  /// connection's certificate again after a reload (issue 21).
  const RevocationList& revocations() const noexcept { return revocations_; }

 private:
  friend struct ContextBuilder;
  ServerContext() = default;

  SslCtxPtr ctx_;
  Mode mode_ = Mode::required;
  MinVersion min_version_ = MinVersion::tls1_2;
  std::chrono::milliseconds handshake_timeout_{10000};
  MaterialInfo info_;
  RevocationList revocations_;
};

/// A built context, or why there is none.
struct BuildResult {
  std::shared_ptr<const ServerContext> context;  ///< null iff error is set
  std::optional<ContextError> error;
};

/// Reads cert, key, client_ca and crl and builds the context. Fails (never half-builds) when:
/// mode is off; a file is unreadable; the key is readable by group/others (unless
/// allow_insecure_key_permissions) or encrypted; key and certificate do not match; the server
/// certificate has expired; client_ca holds no certificate or a non-CA certificate; a CRL is not
/// signed by a CA of client_ca or has passed its next update; crl is set and a CA of client_ca
/// that must have a CRL has none (crl_check chain: every CA; leaf: every CA that issues no other
/// CA of client_ca); session_cache_size is above kMaxSessionCacheSize.
///
/// The context verifies client certificates against client_ca (purpose: TLS client, so an EKU
/// without clientAuth fails), with CRL_CHECK (crl_check leaf) or CRL_CHECK | CRL_CHECK_ALL
/// (chain) when crl is set; required → VERIFY_PEER | FAIL_IF_NO_PEER_CERT, optional →
/// VERIFY_PEER; a CA certificate as the leaf, an SVID signed by a workload's certificate, two
/// SPIFFE IDs or malformed names fail verification (tls/verify.hpp). TLS ≥ min_version,
/// renegotiation off, ECDHE (X25519, P-256, P-384) with AEAD ciphers only,
/// SSL_MODE_RELEASE_BUFFERS, a server-side session cache of session_cache_size sessions
/// (resumption never crosses a reload: the cache belongs to this context; 0 = no cache, no
/// tickets, no resumption) and one stateful TLS 1.3 ticket per handshake.
BuildResult build_server_context(const ListenerTlsOptions& options);

}  // namespace egress::tls
