#include "tls/tls_socket.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <new>
#include <optional>
#include <utility>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace egress::tls {
namespace {

namespace asio = boost::asio;
using net::IoResult;

// OpenSSL's socket BIO writes with write(2), which raises SIGPIPE on a connection the client has
// reset. The gateway ignores SIGPIPE, but a library must not depend on that (tests, embedders):
// this method is BIO_s_socket() with send(MSG_NOSIGNAL) as its write. Reads, ctrl (fd, EOF flag
// that OpenSSL's truncation check reads), create and destroy are the socket BIO's own.
int send_no_signal(BIO* bio, const char* data, int len) {
  int fd = -1;
  BIO_get_fd(bio, &fd);
  errno = 0;
  const ssize_t n = ::send(fd, data, static_cast<std::size_t>(len), MSG_NOSIGNAL);
  BIO_clear_retry_flags(bio);
  if (n <= 0 && BIO_sock_should_retry(static_cast<int>(n))) BIO_set_retry_write(bio);
  return static_cast<int>(n);
}

BIO_METHOD* make_socket_method() {
  const BIO_METHOD* base = BIO_s_socket();
  BIO_METHOD* method = BIO_meth_new(BIO_TYPE_SOCKET, "egress socket");
  if (method == nullptr) return nullptr;
  if (BIO_meth_set_write(method, send_no_signal) != 1 ||
      BIO_meth_set_read(method, BIO_meth_get_read(base)) != 1 ||
      BIO_meth_set_ctrl(method, BIO_meth_get_ctrl(base)) != 1 ||
      BIO_meth_set_create(method, BIO_meth_get_create(base)) != 1 ||
      BIO_meth_set_destroy(method, BIO_meth_get_destroy(base)) != 1) {
    BIO_meth_free(method);
    return nullptr;
  }
  return method;
}

// One method for the process; BIOs only point at it.
const BIO_METHOD* socket_method() {
  static BIO_METHOD* const method = make_socket_method();
  return method;
}

bool is_unexpected_eof(unsigned long code) noexcept {
  return ERR_GET_LIB(code) == ERR_LIB_SSL &&
         ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING;
}

// The error of a failed SSL_* call, in the shape asio's ssl engine gave it (engine.ipp
// perform/map_error_code, and the socket's own errors for transport failures), so
// classify_handshake reads both alike. `ssl_error` is SSL_get_error's verdict, `saved_errno`
// errno right after the call. Empties the error queue.
boost::system::error_code failure_code(int ssl_error, int saved_errno) noexcept {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code != 0 && ERR_SYSTEM_ERROR(code)) {
    return {static_cast<int>(ERR_GET_REASON(code)), boost::system::system_category()};
  }
  switch (ssl_error) {
    case SSL_ERROR_SSL:
      // OpenSSL 3 reports a TCP close without close_notify as this fatal error; asio saw the
      // socket's EOF first and called it stream_truncated.
      if (is_unexpected_eof(code)) return asio::ssl::error::stream_truncated;
      if (code == 0) return asio::ssl::error::unexpected_result;
      return {static_cast<int>(code), asio::error::get_ssl_category()};
    case SSL_ERROR_SYSCALL:
      if (code != 0) return {static_cast<int>(code), asio::error::get_ssl_category()};
      if (saved_errno != 0) return {saved_errno, boost::system::system_category()};
      return asio::ssl::error::stream_truncated;  // EOF where a record was due
    case SSL_ERROR_ZERO_RETURN:
      return asio::error::eof;  // close_notify
    default:
      return asio::ssl::error::unexpected_result;
  }
}

// SSL_ERROR_WANT_READ / SSL_ERROR_WANT_WRITE as the readiness to wait for (the error queue
// emptied); nothing for any other verdict.
std::optional<IoResult> readiness_wanted(int ssl_error) noexcept {
  if (ssl_error != SSL_ERROR_WANT_READ && ssl_error != SSL_ERROR_WANT_WRITE) return std::nullopt;
  ERR_clear_error();
  return ssl_error == SSL_ERROR_WANT_READ ? IoResult::wait_read() : IoResult::wait_write();
}

}  // namespace

TlsSocket::TlsSocket(asio::ip::tcp::socket& socket, SslPtr ssl, Role role)
    : socket_(socket), ssl_(std::move(ssl)) {
  socket_.non_blocking(true);
  const BIO_METHOD* method = socket_method();
  BIO* bio = method != nullptr ? BIO_new(method) : nullptr;
  if (bio == nullptr) {
    ERR_clear_error();
    throw std::bad_alloc();
  }
  BIO_set_fd(bio, socket_.native_handle(), BIO_NOCLOSE);
  SSL_set_bio(ssl_.get(), bio, bio);  // the SSL owns the BIO from here
  SSL_set_mode(ssl_.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // Read as much as the socket has in one recv, not a record header then its body: half the
  // reads per handshake and per record. What it reads ahead waits in OpenSSL's buffer, which
  // read_some drains before it reports want_read (the relay reads until then).
  SSL_set_read_ahead(ssl_.get(), 1);
  // Up to 64 KiB per recv (several records), like the relay's buffers; with
  // SSL_MODE_RELEASE_BUFFERS it is allocated only while bytes wait in it.
  SSL_set_default_read_buffer_len(ssl_.get(), 64 * 1024);
  if (role == Role::client) {
    SSL_set_connect_state(ssl_.get());
  } else {
    SSL_set_accept_state(ssl_.get());
  }
}

asio::awaitable<boost::system::error_code> TlsSocket::async_handshake() {
  constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);
  for (;;) {
    ERR_clear_error();
    const int ret = SSL_do_handshake(ssl_.get());
    const int saved_errno = errno;
    if (ret == 1) {
      // From now on a TCP close without close_notify is an end of stream, not a fatal error that
      // would also forbid writing the rest of the response (see read_some). During the
      // handshake it stays an error: a half-done handshake is a failed one.
      SSL_set_options(ssl_.get(), SSL_OP_IGNORE_UNEXPECTED_EOF);
      co_return boost::system::error_code{};
    }
    const int ssl_error = SSL_get_error(ssl_.get(), ret);
    asio::socket_base::wait_type wait;
    if (ssl_error == SSL_ERROR_WANT_READ) {
      wait = asio::socket_base::wait_read;
    } else if (ssl_error == SSL_ERROR_WANT_WRITE) {
      wait = asio::socket_base::wait_write;
    } else {
      co_return failure_code(ssl_error, saved_errno);
    }
    ERR_clear_error();
    auto [ec] = co_await socket_.async_wait(wait, kAwait);
    if (ec) co_return ec;
  }
}

IoResult TlsSocket::read_some(std::byte* buf, std::size_t len) noexcept {
  if (len == 0) return IoResult::transferred(0);
  ERR_clear_error();
  std::size_t n = 0;
  const int ret = SSL_read_ex(ssl_.get(), buf, len, &n);
  const int saved_errno = errno;
  if (ret == 1) return IoResult::transferred(n);
  const int ssl_error = SSL_get_error(ssl_.get(), ret);
  if (auto wait = readiness_wanted(ssl_error)) return *wait;
  if (ssl_error == SSL_ERROR_ZERO_RETURN) {
    // close_notify, or (SSL_OP_IGNORE_UNEXPECTED_EOF) a TCP close without one.
    ERR_clear_error();
    return IoResult::end();
  }
  const boost::system::error_code ec = failure_code(ssl_error, saved_errno);
  if (ec == asio::ssl::error::stream_truncated) return IoResult::end();
  return IoResult::failed(ec);
}

IoResult TlsSocket::write_some(const std::byte* buf, std::size_t len) noexcept {
  if (len == 0) return IoResult::transferred(0);
  ERR_clear_error();
  std::size_t n = 0;
  const int ret = SSL_write_ex(ssl_.get(), buf, len, &n);
  const int saved_errno = errno;
  if (ret == 1) return IoResult::transferred(n);
  const int ssl_error = SSL_get_error(ssl_.get(), ret);
  if (auto wait = readiness_wanted(ssl_error)) return *wait;
  return IoResult::failed(failure_code(ssl_error, saved_errno));
}

IoResult TlsSocket::shutdown_send() noexcept {
  if (!close_notify_sent_) {
    // SSL_shutdown is called until the close_notify is out and then never again: a further call
    // would start reading for the client's close_notify, i.e. swallow its remaining data.
    ERR_clear_error();
    const int ret = SSL_shutdown(ssl_.get());
    const int saved_errno = errno;
    if (ret < 0) {
      const int ssl_error = SSL_get_error(ssl_.get(), ret);
      if (auto wait = readiness_wanted(ssl_error)) return *wait;
      return IoResult::failed(failure_code(ssl_error, saved_errno));
    }
    ERR_clear_error();
    close_notify_sent_ = true;
  }
  if (!write_shut_) {
    if (::shutdown(socket_.native_handle(), SHUT_WR) != 0) {
      return IoResult::failed({errno, boost::system::system_category()});
    }
    write_shut_ = true;
  }
  return IoResult::transferred(0);
}

bool TlsSocket::buffered() const noexcept {
  return SSL_has_pending(ssl_.get()) == 1;
}

}  // namespace egress::tls
