#pragma once

// A listener's `tls:` section: validated by the gateway config's loader (src/config), turned into
// an SSL_CTX by the TLS library.

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <string>

namespace egress::tls {

enum class Mode { off, optional, required };
enum class MinVersion { tls1_2, tls1_3 };

/// Which certificates of a client's chain are checked against a CRL when `crl` is set. Either
/// way a checked certificate whose issuer has no CRL fails verification (fail closed).
enum class CrlCheck {
  leaf,   ///< only the leaf, against its issuer's CRL (X509_V_FLAG_CRL_CHECK)
  chain,  ///< every certificate of the chain (X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL)
};

/// Default and bounds of `session_cache_size` (sessions; 0 = no session cache).
inline constexpr std::size_t kDefaultSessionCacheSize = 8192;
inline constexpr std::size_t kMaxSessionCacheSize = 1'000'000;

struct ListenerTlsOptions {
  Mode mode = Mode::off;
  std::filesystem::path cert;            ///< PEM, leaf first, then intermediates
  std::filesystem::path key;             ///< PEM private key
  std::filesystem::path client_ca;       ///< PEM bundle of trusted CAs (intermediates allowed)
  std::filesystem::path crl;             ///< optional: one PEM file or a directory of them
  CrlCheck crl_check = CrlCheck::chain;  ///< only meaningful with `crl`
  MinVersion min_version = MinVersion::tls1_2;
  std::chrono::milliseconds handshake_timeout{10000};
  /// Accept a private key file readable by group or others (default: refuse).
  bool allow_insecure_key_permissions = false;
  /// Sessions the server-side cache holds for resumption (oldest evicted first); 0 turns the
  /// cache and resumption off. At most kMaxSessionCacheSize.
  std::size_t session_cache_size = kDefaultSessionCacheSize;
};

/// The client side of a TLS connection this process opens itself (the egressd agent towards its
/// gateway, `upstream.via.tls`): its certificate, the CAs the server must verify against, and
/// the name the server's certificate must carry (also sent as SNI).
struct ClientTlsOptions {
  std::filesystem::path cert;  ///< PEM, leaf first, then intermediates
  std::filesystem::path key;   ///< PEM private key (group/other-readable refused)
  std::filesystem::path ca;    ///< PEM bundle the server's chain must verify against
  std::string server_name;     ///< SNI and the DNS name (or IP) checked in the server's cert
};

}  // namespace egress::tls
