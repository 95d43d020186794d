#pragma once

// The client side of TLS for connections this process opens itself: the egressd agent's mTLS
// towards its gateway (`upstream.via.tls`, issue 20). Built once from ClientTlsOptions, verified
// whole at build time, immutable afterwards (its session cache aside) and shared by every worker.
//
//   auto ctx = build_client_context(options).context;
//   tls::TlsSocket tls(socket, ctx->new_ssl("gateway.corp.example:15443"),
//   TlsSocket::Role::client); boost::system::error_code ec = co_await tls.async_handshake(); if
//   (ec) ... client_handshake_error(*tls.native_handle(), ec) ...
//
// Sessions are resumed: each new SSL is offered the last session the server gave for the same
// key (the gateway's address), from a cache all workers share.

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include <boost/system/error_code.hpp>

#include "tls/context.hpp"
#include "tls/openssl_ptr.hpp"
#include "tls/options.hpp"

namespace egress::tls {

/// An immutable client-side TLS context (certificate, key, trusted CAs, expected server name).
class ClientContext {
 public:
  ClientContext(const ClientContext&) = delete;
  ClientContext& operator=(const ClientContext&) = delete;
  ~ClientContext();

  /// A new client SSL: SNI = server_name, the server's certificate checked for server_name
  /// (X509_VERIFY_PARAM_set1_host; an IP literal is checked as an IP address), verified against
  /// the CAs (purpose: TLS server), TLS ≥ 1.2, offered the session cached under `session_key`
  /// if there is one. Sessions the server issues on it are cached under the same key. The
  /// ClientContext must outlive the SSL. Throws std::bad_alloc if OpenSSL cannot allocate.
  SslPtr new_ssl(std::string_view session_key) const;

  const std::string& server_name() const noexcept { return server_name_; }

  /// Whether a session is cached under `key` (for tests and logs).
  bool has_session(std::string_view key) const;

  struct SessionSlot;  // a cached session of one key (client_context.cpp)

 private:
  friend struct ClientContextBuilder;
  ClientContext() = default;
  SessionSlot& slot(std::string_view key) const;

  SslCtxPtr ctx_;
  std::string server_name_;
  mutable std::mutex slots_mutex_;
  mutable std::map<std::string, std::unique_ptr<SessionSlot>, std::less<>> slots_;
};

/// A built client context, or why there is none (option: "cert", "key", "ca", "server_name").
struct ClientBuildResult {
  std::shared_ptr<const ClientContext> context;
  std::optional<ContextError> error;
};

/// Reads cert, key and ca and builds the context. Fails when a file is unreadable or holds no
/// certificate/key, the key is readable by group/others or encrypted, key and certificate do not
/// match, the certificate has expired, ca holds a non-CA certificate, or server_name is empty.
ClientBuildResult build_client_context(const ClientTlsOptions& options);

/// Why a client handshake failed, in a person's words: "certificate verify failed: <X509 reason>"
/// when the server's certificate was refused (wrong CA, wrong name, expired), else the error's
/// own text (a TLS alert, a TCP close during the handshake, ...).
std::string client_handshake_error(const SSL& ssl, const boost::system::error_code& ec);

}  // namespace egress::tls
