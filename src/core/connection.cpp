#include "core/connection.hpp"

#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "filters/original_dst.hpp"
#include "tls/context.hpp"

namespace egress::core {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

/// How long, and how far, the end of an answered CONNECT request reads what the client still
/// sends (Connection::linger).
constexpr std::chrono::milliseconds kLinger{1000};
constexpr std::size_t kLingerBytes = 256 * 1024;

/// RST instead of FIN: SO_LINGER {on, 0} then close.
void reset_socket(tcp::socket& s) noexcept {
  if (!s.is_open()) return;
  const ::linger lg{1, 0};
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  boost::system::error_code ignored;
  s.close(ignored);
}

void close_socket(tcp::socket& s) noexcept {
  boost::system::error_code ignored;
  if (s.is_open()) s.close(ignored);
}

void end_socket(tcp::socket& s, base::Ending ending) noexcept {
  if (ending == base::Ending::reset) {
    reset_socket(s);
  } else {
    close_socket(s);
  }
}

/// Fires at `until`. It also cancels the socket's pending operations itself, so the wait it races
/// ends promptly whether or not the cancellation of `||` reaches the read under it.
asio::awaitable<void> deadline(asio::steady_timer& timer, tcp::socket& socket,
                               Clock::time_point until) {
  timer.expires_at(until);
  auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  if (ec) co_return;  // the operation finished first
  boost::system::error_code ignored;
  socket.cancel(ignored);
}

/// SO_RCVLOWAT: the socket reads as readable only once `bytes` are queued (or at its end).
void set_low_water(tcp::socket& s, int bytes) noexcept {
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVLOWAT, &bytes, sizeof(bytes));
}

/// The client shut down its sending side (or the connection failed): nothing more will come.
bool peer_ended(tcp::socket& s) noexcept {
  ::pollfd p{s.native_handle(), POLLRDHUP, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

}  // namespace

void Connection::end(base::Ending ending) noexcept {
  end_socket(socket_, ending);
  close_socket(upstream_);
}

void Connection::end_both(base::Ending ending) noexcept {
  end_socket(socket_, ending);
  end_socket(upstream_, ending);
}

void Connection::force_close() noexcept {
  forced_ = true;
  for (tcp::socket* s : {&socket_, &upstream_}) {
    if (!s->is_open()) continue;
    ::shutdown(s->native_handle(), SHUT_RDWR);
    boost::system::error_code ignored;
    s->cancel(ignored);
  }
}

void Connection::revoke(Revocation why) noexcept {
  forced_ = true;
  revoked_ = std::move(why);
  // Cancelled, not shut down: the relay then ends as reset by us, and no FIN reaches either side
  // before the RST its end sends (finish_relay).
  boost::system::error_code ignored;
  socket_.cancel(ignored);
  upstream_.cancel(ignored);
}

filters::OriginalDstResult Connection::original_dst() {
  return filters::query_original_dst(socket_.native_handle(), facts.src.address);
}

asio::awaitable<tls::HandshakeOutcome> Connection::tls_handshake(
    const tls::ServerContext& context, std::chrono::milliseconds timeout) {
  using namespace asio::experimental::awaitable_operators;
  tls.emplace(socket_, context.new_ssl());
  auto result =
      co_await (tls->async_handshake() || deadline(timer_, socket_, Clock::now() + timeout));
  if (result.index() == 1) co_return tls::handshake_timed_out(timeout);
  co_return tls::classify_handshake(*tls->native_handle(), context.mode(), std::get<0>(result));
}

bool Connection::client_bytes_waiting() noexcept {
  if (tls && tls->buffered()) return true;
  int n = 0;
  return ::ioctl(socket_.native_handle(), FIONREAD, &n) == 0 && n > 0;
}

asio::awaitable<upstream::ConnectResult> Connection::connect_upstream(
    const base::Endpoint& dst, const upstream::ConnectOptions& options) {
  if (via_ != nullptr) return connect_via(dst, options);
  // Not a coroutine itself: upstream::connect's frame is the only one, as before the interface.
  return upstream::connect(upstream_, dst, options, timer_);
}

asio::awaitable<upstream::DialResult> Connection::dial_upstream(
    std::span<const base::Endpoint> dsts, const upstream::ConnectOptions& options) {
  return upstream::dial_in_order(upstream_, dsts, options);
}

asio::awaitable<bool> Connection::write_client(std::string_view bytes, bool last,
                                               std::chrono::milliseconds limit) {
  using namespace asio::experimental::awaitable_operators;
  const Clock::time_point until = Clock::now() + limit;
  const int fd = socket_.native_handle();
  std::size_t off = 0;
  bool shut = false;
  while (off < bytes.size() || (last && !shut)) {
    net::IoResult r;
    if (off < bytes.size()) {
      const auto* p = reinterpret_cast<const std::byte*>(bytes.data()) + off;
      if (tls) {
        r = tls->write_some(p, bytes.size() - off);
      } else {
        const ssize_t n = ::send(fd, p, bytes.size() - off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n >= 0) {
          r = net::IoResult::transferred(static_cast<std::size_t>(n));
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
          r = net::IoResult::wait_write();
        } else if (errno == EINTR) {
          continue;
        } else {
          r = net::IoResult::failed({errno, boost::system::system_category()});
        }
      }
      if (r.status == net::IoResult::Status::done) {
        off += r.bytes;
        continue;
      }
    } else if (tls) {
      r = tls->shutdown_send();
      if (r.status == net::IoResult::Status::done) shut = true;
    } else {
      ::shutdown(fd, SHUT_WR);
      shut = true;
      continue;
    }
    if (r.status == net::IoResult::Status::done) continue;
    if (r.status != net::IoResult::Status::want_read &&
        r.status != net::IoResult::Status::want_write)
      co_return false;
    const auto wait = r.status == net::IoResult::Status::want_read ? tcp::socket::wait_read
                                                                   : tcp::socket::wait_write;
    auto result = co_await (socket_.async_wait(wait, asio::as_tuple(asio::use_awaitable)) ||
                            deadline(timer_, socket_, until));
    if (result.index() == 1 || std::get<0>(std::get<0>(result))) co_return false;
  }
  if (last) co_await linger(std::min(until, Clock::now() + kLinger));
  co_return true;
}

asio::awaitable<void> Connection::linger(Clock::time_point until) {
  // Closing a socket whose receive queue holds unread bytes sends an RST, and an RST can make
  // the client's kernel discard the answer before the client reads it (the agent pipelines its
  // workload's first bytes right behind the CONNECT head). So read and drop what the client still
  // sends until it ends its stream, as an HTTP server's lingering close does, bounded in time
  // and in bytes.
  char sink[4096];
  std::size_t dropped = 0;
  while (dropped < kLingerBytes) {
    const ssize_t n = ::recv(socket_.native_handle(), sink, sizeof sink, MSG_DONTWAIT);
    if (n > 0) {
      dropped += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) co_return;
    if (!co_await wait_readable(until)) co_return;
  }
}

asio::awaitable<upstream::ConnectResult> Connection::connect_via(
    const base::Endpoint& dst, const upstream::ConnectOptions& options) {
  // The conn_id as this agent's records write it, so the gateway's record joins them.
  const std::string agent_conn = *instance_ + "-" + std::to_string(facts.id);
  auto result =
      co_await via_->dial(upstream_, via_tls_, via_context_, dst, agent_conn, options, timer_);
  if (result.ok()) via_stream_.emplace(*via_tls_);
  co_return result;
}

asio::awaitable<bool> Connection::wait_readable(Clock::time_point until) {
  using namespace asio::experimental::awaitable_operators;
  auto result =
      co_await (socket_.async_wait(tcp::socket::wait_read, asio::as_tuple(asio::use_awaitable)) ||
                deadline(timer_, socket_, until));
  co_return result.index() == 0 && !std::get<0>(std::get<0>(result));
}

asio::awaitable<filters::Peeked> Connection::peek(std::size_t max,
                                                  std::chrono::milliseconds deadline_in) {
  const Clock::time_point until = Clock::now() + deadline_in;
  if (tls) co_return co_await peek_tls(max, until);
  co_return co_await peek_tcp(max, until);
}

asio::awaitable<filters::Peeked> Connection::peek_tcp(std::size_t max, Clock::time_point until) {
  const std::size_t seen = std::min(peeked_.size(), max);
  peeked_.resize(std::max(max, peeked_.size()));
  filters::Peeked out;
  std::size_t have = seen;
  for (;;) {
    const ssize_t n = ::recv(socket_.native_handle(), peeked_.data(), max, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) have = static_cast<std::size_t>(n);
    if (n > 0 && (have > seen || have == max)) break;
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      out.complete = true;  // the client's end (FIN) or an error: nothing more will come
      break;
    }
    if (n > 0 && peer_ended(socket_)) {
      out.complete = true;  // the bytes seen are all there will be
      break;
    }
    if (n < 0 && errno == EINTR) continue;
    // Readable only once more than the bytes already seen are queued: a plain readiness wait
    // would report the bytes already seen at once, again and again.
    if (have > 0) set_low_water(socket_, static_cast<int>(have + 1));
    const bool readable = co_await wait_readable(until);
    if (have > 0) set_low_water(socket_, 1);
    if (!readable) {
      out.timed_out = Clock::now() >= until;
      out.complete = !out.timed_out;  // a failed wait: the connection is going away
      break;
    }
  }
  peeked_.resize(have);
  out.bytes = peeked_;
  co_return out;
}

bool Connection::discard(std::size_t n) {
  // Forget what earlier peeks saw either way: the stream's start moves (or, n = 0, a step that
  // only looked hands the stream on), and the next step's first peek must not wait for more
  // than that.
  peeked_.clear();
  char sink[512];
  if (tls) {
    // A CONNECT head inside the client's TLS session (issue 20): the bytes SSL_peek showed are
    // decrypted and held by OpenSSL, so SSL_read takes them without touching the socket. Exactly
    // n: never more than asked, the tunnel's first bytes stay for the next peek and the relay.
    SSL* ssl = tls->native_handle();
    while (n > 0) {
      ERR_clear_error();
      std::size_t got = 0;
      const int ret = SSL_read_ex(ssl, sink, std::min(n, sizeof(sink)), &got);
      ERR_clear_error();
      if (ret != 1 || got == 0) return false;
      n -= got;
    }
    return true;
  }
  while (n > 0) {
    // The bytes were shown by a peek, so they are queued: MSG_DONTWAIT never waits for them.
    const ssize_t got =
        ::recv(socket_.native_handle(), sink, std::min(n, sizeof(sink)), MSG_DONTWAIT);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    n -= static_cast<std::size_t>(got);
  }
  return true;
}

asio::awaitable<filters::Peeked> Connection::peek_tls(std::size_t max, Clock::time_point until) {
  const std::size_t seen = std::min(peeked_.size(), max);
  peeked_.resize(std::max(max, peeked_.size()));
  filters::Peeked out;
  std::size_t have = seen;
  SSL* ssl = tls->native_handle();
  for (;;) {
    // Leave the worker's OpenSSL error queue empty, as tls::TlsSocket does (its connections share
    // it).
    ERR_clear_error();
    std::size_t n = 0;
    const int ret = SSL_peek_ex(ssl, peeked_.data(), max, &n);
    const int ssl_error = ret == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl, ret);
    ERR_clear_error();
    if (ret == 1) {
      have = n;
      // SSL_peek shows the record it is in and never looks past it: the same count again means
      // that is all a peek will see.
      out.complete = have <= seen && have < max;
      break;
    }
    if (ssl_error != SSL_ERROR_WANT_READ) {
      out.complete = true;  // close_notify, the client's end, or an error
      break;
    }
    if (!co_await wait_readable(until)) {
      out.timed_out = Clock::now() >= until;
      out.complete = !out.timed_out;
      break;
    }
  }
  peeked_.resize(have);
  out.bytes = peeked_;
  co_return out;
}

}  // namespace egress::core
