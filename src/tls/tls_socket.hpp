#pragma once

// Server-side TLS directly over a connection's TCP socket: the SSL reads and writes the socket's
// file descriptor itself (no BIO pair, no staging buffers, no copies), never blocks, and tells
// the caller which readiness of the socket it needs (net::IoResult). It replaces
// boost::asio::ssl::stream on the data path (issue 7: 95 KiB per idle mTLS connection, two copies
// of every byte).
//
//   tls::TlsSocket tls(socket, ctx->new_ssl());
//   boost::system::error_code ec = co_await tls.async_handshake();   // race with a deadline
//   HandshakeOutcome out = classify_handshake(*tls.native_handle(), ctx->mode(), ec);
//   net::IoResult r = tls.read_some(buf, size);   // want_read → socket.async_wait(wait_read) ...
//
// Every call clears the thread's OpenSSL error queue before it starts and leaves it empty when it
// returns (the connections of a worker share that queue).

#include <cstddef>
#include <cstdint>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>

#include "net/io_result.hpp"
#include "tls/openssl_ptr.hpp"

namespace egress::tls {

/// One TLS session (server side, or client side for connections egressd opens itself: the
/// agent's tunnel to its gateway) over a borrowed TCP socket. Not copyable or movable (the SSL's
/// BIO holds the socket's descriptor; the caller keeps both alive together).
class TlsSocket {
 public:
  /// Which end of the handshake this is.
  enum class Role : std::uint8_t { server, client };

  /// Server side over `socket` (borrowed: the Connection owns it and it must outlive this object;
  /// it must stay open while this object is used). Takes `ssl` (from ServerContext::new_ssl()),
  /// binds it to socket.native_handle() through a socket BIO whose writes never raise SIGPIPE,
  /// puts the socket in non-blocking mode, sets SSL_MODE_ENABLE_PARTIAL_WRITE |
  /// SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER and the accept (server) state, or with Role::client the
  /// connect state (`ssl` then from ClientContext::new_ssl()). Throws
  /// boost::system::system_error if the socket cannot be made non-blocking, std::bad_alloc if
  /// OpenSSL cannot allocate the BIO.
  TlsSocket(boost::asio::ip::tcp::socket& socket, SslPtr ssl, Role role = Role::server);
  TlsSocket(const TlsSocket&) = delete;
  TlsSocket& operator=(const TlsSocket&) = delete;
  ~TlsSocket() = default;

  /// The SSL (for classify_handshake, SSL_get0_peer_certificate, SSL_session_reused, ...).
  SSL* native_handle() const noexcept { return ssl_.get(); }

  /// The TCP socket under the session (to wait for readiness: socket().async_wait(...)).
  boost::asio::ip::tcp::socket& socket() noexcept { return socket_; }

  /// The handshake (server or client, as constructed). Loops SSL_do_handshake, waiting for the
  /// readiness it asks for with socket().async_wait. Never throws for I/O; the result has the shape
  /// boost::asio::ssl::stream's async_handshake produced, which classify_handshake interprets:
  ///   * success → empty;
  ///   * SSL_ERROR_SSL → the packed ERR_get_error() value in asio's ssl category;
  ///   * the peer closed TCP during the handshake → boost::asio::ssl::error::stream_truncated
  ///     (a close_notify during the handshake → boost::asio::error::eof);
  ///   * a socket error (errno) → that errno in the system category (e.g. connection_reset);
  ///   * a cancelled wait → boost::asio::error::operation_aborted.
  /// Cancellation: race it with a deadline (`||`) or cancel/close the socket.
  /// After success, a peer's TCP close without close_notify reads as eof (see read_some).
  boost::asio::awaitable<boost::system::error_code> async_handshake();

  /// Non-blocking read of at most `len` (> 0) bytes into `buf`; never waits. done with bytes > 0;
  /// want_read / want_write: call again with a buffer when the socket is readable / writable;
  /// eof when the client ended its stream, with close_notify or by closing TCP without it
  /// (truncation is not an error: a TCP half-close is how many clients end a request); error
  /// with ec otherwise (ec shapes as for async_handshake). After eof, further calls return eof.
  net::IoResult read_some(std::byte* buf, std::size_t len) noexcept;

  /// Non-blocking write of at most `len` (> 0) bytes (partial writes allowed): done with bytes >
  /// 0; want_write / want_read: call again with the same bytes (the buffer may have moved) when
  /// the socket is writable / readable; error with ec otherwise. A write after shutdown_send is
  /// an error.
  net::IoResult write_some(const std::byte* buf, std::size_t len) noexcept;

  /// Half-close towards the client: sends close_notify once (never waits for the client's),
  /// then ::shutdown(fd, SHUT_WR). done when both happened (and on every later call); want_write
  /// when the close_notify could not be flushed yet (call again when writable); error otherwise.
  /// Finish any write_some that asked to be retried before calling this.
  /// Afterwards read_some still delivers what the client sends and then eof (TLS 1.3 lets the
  /// client go on sending after our close_notify). A sent close_notify keeps the session in the
  /// server's session cache, so the client can resume it.
  net::IoResult shutdown_send() noexcept;

  /// True when OpenSSL holds received bytes, so read_some may make progress without the socket
  /// becoming readable (rarely true for a partial record, when read_some then says want_read).
  bool buffered() const noexcept;

 private:
  boost::asio::ip::tcp::socket& socket_;
  SslPtr ssl_;
  bool close_notify_sent_ = false;
  bool write_shut_ = false;
};

}  // namespace egress::tls
