#pragma once

// One real TLS connection over 127.0.0.1: a server side exactly as the data path runs it
// (tls::TlsSocket over the accepted socket, async_handshake, classify_handshake) and a client
// built from the dev PKI. Everything runs on one io_context with a safety deadline.

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <openssl/ssl.h>
#include <boost/system/error_code.hpp>

#include "tls/context.hpp"
#include "tls/handshake.hpp"

namespace egress::tls::test {

struct ClientSpec {
  std::string cert;  ///< dev PKI name ("payments"), empty for no certificate
  /// Where `cert`.pem and `cert`.key are (mint_certs.hpp's write_client); empty = the dev PKI.
  std::filesystem::path dir;
  int max_version = 0;     ///< e.g. TLS1_2_VERSION; 0 = library default
  bool leaf_only = false;  ///< send the leaf without the intermediate (as `openssl s_client -cert`)
  /// Instead of TLS, write these bytes and close (a plain-TCP client); with `close_at_once`,
  /// connect and close without a byte.
  std::optional<std::string> plain_bytes;
  bool close_at_once = false;
  SSL_SESSION* resume = nullptr;  ///< a session to offer (not owned)
};

struct HandshakeRun {
  HandshakeOutcome server;                     ///< what classify_handshake said
  bool server_done = false;                    ///< the server side finished (no deadline hit)
  bool resumed = false;                        ///< the server resumed a session
  boost::system::error_code client_handshake;  ///< the client's handshake result
  /// The client's first read after its handshake: an SSL error naming the alert when the
  /// server rejected the certificate after a TLS 1.3 client already finished.
  boost::system::error_code client_read;
  std::string client_read_message;
  std::shared_ptr<SSL_SESSION> client_session;  ///< the client's session after its first read
};

/// A TLS client presenting dev certificate `cert` ("" = none).
ClientSpec tls_client(const std::string& cert, int max_version = 0, SSL_SESSION* resume = nullptr);
/// A plain-TCP client that writes `bytes`, half-closes and reads.
ClientSpec plain_client(std::string bytes);
/// A client that connects and closes without sending a byte.
ClientSpec silent_client();

/// Runs one connection against `ctx`.
HandshakeRun run_handshake(const ServerContext& ctx, const ClientSpec& client);
/// The same with boost::asio::ssl::stream as the server side (the reference TlsSocket replaced).
HandshakeRun run_handshake_asio_stream(const ServerContext& ctx, const ClientSpec& client);

}  // namespace egress::tls::test
