#pragma once

// TRANSITIONAL: the coroutine relay, now used only for TLS clients over asio::ssl::stream until
// tls::TlsSocket replaces that stream (then this file goes; core/relay.hpp is the relay).
//
// Relays bytes both ways between the client (plain TCP or TLS) and the upstream socket.
//
// Model: Kohlhoff's talking-async proxy (episode 1, step 5): two pumps joined with `&&`, raced
// against a watchdog with `||`. EOF in one direction becomes shutdown(send) on the other side, so
// half-close survives. A plain-TCP pump holds no buffer while idle: it tries a non-blocking read
// into a pooled buffer and, when nothing is there, gives the buffer back and waits for
// readability (async_wait(wait_read)) first. A TLS pump likewise holds no pooled buffer while
// idle (it waits with a one-byte read, so OpenSSL's SSL_MODE_RELEASE_BUFFERS frees its record
// buffers too), and the upstream's EOF becomes a TLS close_notify to the client followed by a FIN.

#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>

#include "core/buffer_pool.hpp"
#include "core/errc.hpp"
#include "core/relay_result.hpp"

namespace egress::core {

namespace coroutine_relay_detail {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

/// The TCP socket under a stream (the stream itself for tcp::socket).
inline tcp::socket& lowest(tcp::socket& s) noexcept {
  return s;
}
template <class Stream>
tcp::socket& lowest(Stream& s) noexcept {
  return s.next_layer();
}

/// Half-close: no more bytes will be sent on `s`. For TLS this is a TCP FIN without
/// close_notify (the client sees the end of the stream either way).
template <class Stream>
void shutdown_send(Stream& s) noexcept {
  error_code ignored;
  lowest(s).shutdown(tcp::socket::shutdown_send, ignored);
}

/// How long the close_notify to a TLS client may take to leave (a client that does not read).
inline constexpr std::chrono::milliseconds kCloseNotifyBound{2000};

/// Half-close towards a plain-TCP peer: FIN.
inline asio::awaitable<void> finish_sending(tcp::socket& s) {
  shutdown_send(s);
  co_return;
}

/// Half-close towards a TLS client: close_notify, then FIN. The client may still be sending (TLS
/// 1.3 half-close), and the other pump may be reading from the same stream, so the shutdown must
/// not read: asio's async_shutdown would wait for the client's close_notify and swallow its
/// data. While the shutdown is initiated (synchronously, inside async_shutdown) the SSL is told
/// the client's close_notify already came, so SSL_shutdown only writes ours and completes; the
/// flag is cleared again before anything else runs, so SSL_read keeps delivering the client's
/// bytes. The wait for the write is bounded by kCloseNotifyBound (then the socket's operations
/// are cancelled); the stream is never left with the shutdown pending.
template <class Next>
asio::awaitable<void> finish_sending(asio::ssl::stream<Next>& s) {
  SSL* ssl = s.native_handle();
  const int before = SSL_get_shutdown(ssl);
  if ((before & SSL_SENT_SHUTDOWN) == 0) {
    struct State {
      explicit State(const asio::any_io_executor& ex) : timer(ex) {}
      asio::steady_timer timer;
      bool done = false;
    };
    auto state = std::make_shared<State>(lowest(s).get_executor());
    state->timer.expires_after(kCloseNotifyBound);
    SSL_set_shutdown(ssl, before | SSL_RECEIVED_SHUTDOWN);
    s.async_shutdown([state](const error_code&) {
      state->done = true;
      state->timer.cancel();
    });
    SSL_set_shutdown(ssl, (SSL_get_shutdown(ssl) & ~SSL_RECEIVED_SHUTDOWN) |
                              (before & SSL_RECEIVED_SHUTDOWN) | SSL_SENT_SHUTDOWN);
    // The wait must outlast a cancellation of this pump (the operation refers to the stream).
    co_await asio::this_coro::throw_if_cancelled(false);
    while (!state->done) {
      co_await state->timer.async_wait(asio::as_tuple(asio::use_awaitable));
      if (state->done) break;
      error_code ignored;
      lowest(s).cancel(ignored);  // bound reached or relay ending: abort the write
      state->timer.expires_at(asio::steady_timer::time_point::max());
    }
    co_await asio::this_coro::throw_if_cancelled(true);
  }
  shutdown_send(s);
}

/// True when a TLS stream has bytes that need no socket read (decrypted, or still encrypted in
/// OpenSSL's input BIO).
template <class Next>
bool tls_buffered(asio::ssl::stream<Next>& s) noexcept {
  SSL* ssl = s.native_handle();
  return SSL_pending(ssl) > 0 || SSL_has_pending(ssl) == 1 ||
         BIO_ctrl_pending(SSL_get_rbio(ssl)) > 0;
}

/// A direct non-blocking send of as much of [data, data + n) as the socket takes now (no
/// scheduler round trip when its buffer has room). Returns the bytes sent; `ec` is set on a
/// socket error (EAGAIN is not an error: the caller writes the rest with async_write).
inline std::size_t try_send(tcp::socket& to, const std::byte* data, std::size_t n,
                            error_code& ec) noexcept {
  std::size_t done = 0;
  while (done < n) {
    const ssize_t w =
        ::send(to.native_handle(), data + done, n - done, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w >= 0) {
      done += static_cast<std::size_t>(w);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      ec = error_code(errno, asio::error::get_system_category());
    }
    break;
  }
  return done;
}

/// Stops both directions after an error (the other pump may be waiting on its read side).
inline void abort_both(tcp::socket& a, tcp::socket& b) noexcept {
  error_code ignored;
  a.cancel(ignored);
  b.cancel(ignored);
}

struct Shared {
  std::chrono::steady_clock::time_point last_activity;
  std::optional<Side> first_eof;  ///< the side whose EOF came first
};

struct PumpResult {
  errc reason = errc::eof;      ///< eof, reset, or operation aborted by the other pump (reset)
  bool read_side_error = true;  ///< for reset: true = reading `from` failed, false = writing `to`
  bool aborted = false;         ///< stopped by the other pump's error
  error_code ec;
};

inline bool is_abort(const error_code& ec) {
  return ec == asio::error::operation_aborted;
}

/// One direction, plain TCP source: no buffer held while waiting.
template <class To>
asio::awaitable<PumpResult> pump(tcp::socket& from, To& to, BufferPool& pool, std::uint64_t& bytes,
                                 Shared& shared, Side from_side) {
  using asio::as_tuple;
  using asio::use_awaitable;
  const int fd = from.native_handle();
  for (;;) {
    {
      auto lease = pool.acquire();
      for (;;) {
        // A direct non-blocking recv: asio's async_wait is not speculative, so readiness that
        // arrived while we were writing must be consumed before waiting again (edge-triggered
        // epoll would not report it twice).
        ssize_t n = ::recv(fd, lease.data(), lease.size(), MSG_DONTWAIT);
        if (n < 0) {
          if (errno == EINTR) continue;
          if (errno == EAGAIN || errno == EWOULDBLOCK) break;
          PumpResult r{errc::reset, true, false,
                       error_code(errno, asio::error::get_system_category())};
          abort_both(from, lowest(to));
          co_return r;
        }
        if (n == 0) {
          if (!shared.first_eof) shared.first_eof = from_side;
          co_await finish_sending(to);
          co_return PumpResult{};
        }
        const auto len = static_cast<std::size_t>(n);
        error_code ec;
        std::size_t written = 0;
        if constexpr (std::is_same_v<To, tcp::socket>)
          written = try_send(to, lease.data(), len, ec);
        if (!ec && written < len) {
          auto [wec, w] = co_await asio::async_write(
              to, asio::buffer(lease.data() + written, len - written), as_tuple(use_awaitable));
          ec = wec;
          written += w;
        }
        if (ec) {
          abort_both(from, lowest(to));
          co_return PumpResult{errc::reset, false, is_abort(ec), ec};
        }
        bytes += written;
        shared.last_activity = std::chrono::steady_clock::now();
      }
    }
    auto [ec] = co_await from.async_wait(tcp::socket::wait_read, as_tuple(use_awaitable));
    if (ec) {
      if (!is_abort(ec)) abort_both(from, lowest(to));
      co_return PumpResult{errc::reset, true, is_abort(ec), ec};
    }
  }
}

/// One direction from a stream that buffers internally (TLS): reads into a pooled buffer.
template <class From>
requires(!std::is_same_v<From, tcp::socket>) asio::awaitable<PumpResult> pump(
    From& from, tcp::socket& to, BufferPool& pool, std::uint64_t& bytes, Shared& shared,
    Side from_side) {
  using asio::as_tuple;
  using asio::use_awaitable;
  for (;;) {
    // Idle: wait with a one-byte read (not a socket readiness wait: asio may hold input that
    // OpenSSL has not seen yet), holding no pooled buffer; then read the rest of the record.
    unsigned char first = 0;
    std::size_t have = 0;
    error_code ec;
    if (!tls_buffered(from)) {
      auto [ec1, n1] =
          co_await from.async_read_some(asio::buffer(&first, 1), as_tuple(use_awaitable));
      ec = ec1;
      have = n1;
    }
    auto lease = pool.acquire();
    std::size_t n = have;
    if (have == 1) lease.data()[0] = static_cast<std::byte>(first);
    if (!ec && (have == 0 || SSL_pending(from.native_handle()) > 0)) {
      auto [ec2, n2] = co_await from.async_read_some(
          asio::buffer(lease.data() + have, lease.size() - have), as_tuple(use_awaitable));
      if (!ec2 || have == 0) ec = ec2;  // (with have == 1 it completes from SSL's buffer)
      n += n2;
    }
    if (n > 0) {
      error_code wec;
      std::size_t written = try_send(to, lease.data(), n, wec);
      if (!wec && written < n) {
        auto [wec2, w] = co_await asio::async_write(
            to, asio::buffer(lease.data() + written, n - written), as_tuple(use_awaitable));
        wec = wec2;
        written += w;
      }
      if (wec) {
        abort_both(lowest(from), to);
        co_return PumpResult{errc::reset, false, is_abort(wec), wec};
      }
      bytes += written;
      shared.last_activity = std::chrono::steady_clock::now();
    }
    if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) {
      // TLS close_notify (eof) or a truncated stream: treat both as the client's end of data.
      if (!shared.first_eof) shared.first_eof = from_side;
      shutdown_send(to);
      co_return PumpResult{};
    }
    if (ec) {
      if (!is_abort(ec)) abort_both(lowest(from), to);
      co_return PumpResult{errc::reset, true, is_abort(ec), ec};
    }
  }
}

inline asio::awaitable<errc> watchdog(asio::steady_timer& timer, const Shared& shared,
                                      RelayOptions options) {
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  const bool limited = options.max_duration.count() > 0;
  const auto hard_deadline = start + options.max_duration;
  for (;;) {
    auto deadline = shared.last_activity + options.idle_timeout;
    if (limited && hard_deadline < deadline) deadline = hard_deadline;
    timer.expires_at(deadline);
    // as_tuple: when the pumps finish first, `||` cancels this wait; that is the normal end of
    // every relay, so it must not throw (an exception per connection cost unwinding time).
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) {
      // Only `||` cancels this timer (its result is then discarded); re-arm on anything else.
      if ((co_await asio::this_coro::cancellation_state).cancelled() !=
          asio::cancellation_type::none) {
        co_return errc::eof;
      }
      continue;
    }
    const auto now = clock::now();
    if (limited && now >= hard_deadline) co_return errc::max_duration;
    if (now >= shared.last_activity + options.idle_timeout) co_return errc::idle_timeout;
  }
}

}  // namespace coroutine_relay_detail

/// Relays until both directions reached EOF, a side failed, or a timeout fired. `timer` is the
/// connection's timer (reused, so a relay allocates nothing but coroutine frames). Never throws
/// for I/O errors; both sockets are left open for the caller to close.
template <class Downstream>
boost::asio::awaitable<RelayResult> coroutine_relay(Downstream& downstream,
                                                    boost::asio::ip::tcp::socket& upstream,
                                                    boost::asio::steady_timer& timer,
                                                    BufferPool& pool, RelayOptions options) {
  using namespace boost::asio::experimental::awaitable_operators;
  namespace d = coroutine_relay_detail;
  RelayResult result;
  d::Shared shared{std::chrono::steady_clock::now(), std::nullopt};

  auto outcome =
      co_await ((d::pump(downstream, upstream, pool, result.bytes_up, shared, Side::client) &&
                 d::pump(upstream, downstream, pool, result.bytes_down, shared, Side::upstream)) ||
                d::watchdog(timer, shared, options));

  if (outcome.index() == 1) {
    result.reason = std::get<1>(outcome);
    result.closed_by = Side::gateway;
    co_return result;
  }
  const auto& [up, down] = std::get<0>(outcome);
  // An error wins over EOF; of two errors the one that was not an abort caused the other.
  auto blame = [&](const d::PumpResult& r, bool up_direction) {
    result.reason = errc::reset;
    // reading from `from` failed → from's side; writing to `to` failed → to's side.
    const bool client = up_direction == r.read_side_error;
    result.closed_by = client ? Side::client : Side::upstream;
    result.detail = r.ec.message();
  };
  if (up.reason == errc::reset && !up.aborted) {
    blame(up, true);
  } else if (down.reason == errc::reset && !down.aborted) {
    blame(down, false);
  } else if (up.reason == errc::reset || down.reason == errc::reset) {
    // Both aborted: cancelled from outside (drain); the caller knows why.
    result.reason = errc::reset;
    result.closed_by = Side::gateway;
  } else {
    result.reason = errc::eof;
    result.closed_by = shared.first_eof.value_or(Side::client);
  }
  co_return result;
}

}  // namespace egress::core
