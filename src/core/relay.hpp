#pragma once

// Relays bytes both ways between the client (plain TCP, or TLS over it) and the upstream socket.
//
// A callback state machine, not a coroutine: an idle connection costs one small heap object and
// the pending readiness waits, not a stack of coroutine frames. Each direction loops: read what
// the source has into a pooled buffer, write it to the destination, and when either says "wait"
// (net::IoResult), give the buffer back if nothing is pending and wait for that readiness of the
// socket. EOF in one direction becomes shutdown_send on the other (TLS: close_notify then FIN),
// so half-close survives; an EOF found right behind the last bytes (TCP_INQ says one is there)
// leaves in the same segment as those bytes. A source found empty or a destination found full
// is waited for with an EdgeWait (no syscall); TLS's other wishes with asio's async_wait. A
// direction moves at most kChunksPerTurn chunks per wake-up, then yields to other connections. A
// watchdog on the connection's timer ends the relay after idle_timeout without bytes read and
// without a peer taking bytes the kernel still held for it, or at max_duration.
//
//   auto result = co_await async_relay(client_socket, upstream, timer, pool, options,
//                                      asio::use_awaitable);
//   async_relay(tls_socket, upstream, timer, pool, options, [](RelayResult r) { ... });

#include <boost/asio/async_result.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <type_traits>
#include <utility>

#include "base/reason.hpp"
#include "core/buffer_pool.hpp"
#include "core/edge_wait.hpp"
#include "core/relay_result.hpp"
#include "core/tcp_stream.hpp"
#include "net/io_result.hpp"
#include "net/tcp_send_progress.hpp"

namespace egress::core {

namespace relay_detail {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using Status = net::IoResult::Status;

/// Chunks one direction moves per wake-up before letting other connections run.
inline constexpr int kChunksPerTurn = 16;

/// A plain TCP stream (as opposed to TLS): its FIN needs no close_notify before it, and a write
/// can say that more follows (MSG_MORE).
template <class Io>
inline constexpr bool is_tcp = std::is_same_v<std::remove_reference_t<Io>, TcpStream>;

/// One direction's state.
struct Direction {
  std::optional<BufferPool::Lease> lease;  ///< held only while bytes are read and not yet written
  std::size_t off = 0;                     ///< [off, len) of the lease still to be written
  std::size_t len = 0;
  std::uint64_t bytes = 0;  ///< written to the destination
  bool drained = false;     ///< this turn found the source's queue empty (see EdgeWait)
  bool eof_seen = false;    ///< the source ended; shutdown_send towards the destination is due
  error_code read_error;    ///< the source failed after the bytes still to be written
  bool finished = false;
  // The outcome once finished.
  base::Reason reason = base::Reason::eof;  ///< eof or reset
  bool read_side_error = true;              ///< for reset: reading the source failed (else writing)
  bool aborted = false;  ///< stopped by a cancellation (the other direction, timeout, drain)
  error_code ec;
};

/// The relay of one connection. Deletes itself and then calls the handler once both directions
/// are finished and nothing of it is pending. `UpIo` is the upstream's stream: TcpStream over the
/// upstream socket, or (the egressd agent) a reference to the tunnel's stream to its gateway.
template <class DownIo, class Handler, class UpIo = TcpStream>
class RelayOp {
 public:
  RelayOp(DownIo down, UpIo up, asio::steady_timer& timer, BufferPool& pool, RelayOptions options,
          Handler handler)
      : down_(down),
        up_(up),
        timer_(timer),
        pool_(pool),
        options_(options),
        handler_(std::move(handler)) {}

  /// Runs the first turn of both directions at once, in the initiating function: bytes the client
  /// sent before the upstream connect are read before the event loop takes the report of their
  /// arrival, which epoll then drops (nothing readable is left to report); a turn started after
  /// that report was taken would be woken by it for nothing. The handler still never runs
  /// inside: the watchdog's wait is pending until the next return to the event loop.
  void start() {
    const auto now = std::chrono::steady_clock::now();
    last_activity_ = now;
    hard_deadline_ = now + options_.max_duration;
    arm_watchdog();
    resume(true);
    resume(false);
    settle();
  }

 private:
  // up: client → upstream (down_ reads, up_ writes); down: upstream → client.
  void resume(bool upward) {
    if (upward) {
      turn(up_dir_, down_, up_, base::Side::client, true);
    } else {
      turn(down_dir_, up_, down_, base::Side::upstream, false);
    }
  }

  template <class From, class To>
  void turn(Direction& d, From& from, To& to, base::Side from_side, bool upward) {
    // Every turn follows a return to the event loop, which may have taken a report of new bytes:
    // what an earlier turn found empty is no longer known to be.
    d.drained = false;
    if (d.finished) return;
    if (stopping_ || (options_.stopped != nullptr && *options_.stopped)) {
      finish_error(d, true, asio::error::operation_aborted);
      return;
    }
    for (int chunk = 0; chunk < kChunksPerTurn; ++chunk) {
      if (d.off < d.len) {
        const net::IoResult w = write(to, d);
        if (w.status == Status::done) {
          d.off += w.bytes;
          d.bytes += w.bytes;
          if (d.off < d.len) continue;
          d.off = d.len = 0;
          if (d.drained) {
            d.lease.reset();
            wait_edge(from.socket(), EdgeWait::Kind::read, upward);
            return;
          }
          continue;
        }
        if (w.status == Status::error) {
          finish_error(d, false, w.ec);
          return;
        }
        if (w.status == Status::want_write) {
          wait_edge(to.socket(), EdgeWait::Kind::write, upward);
        } else {
          wait(to_wait(w.status), to.socket(), upward, false);
        }
        return;
      }
      if (d.read_error) {
        finish_error(d, true, d.read_error);
        return;
      }
      if (d.eof_seen) {
        d.lease.reset();  // nothing more to read this way (the other way may go on for long)
        if constexpr (is_tcp<To>) {
          // The other way already ended, so the caller's close comes next and sends the same FIN
          // (nothing is left unread on that socket: its own EOF was read). A TLS destination
          // still gets its close_notify.
          if ((upward ? down_dir_ : up_dir_).finished) {
            d.finished = true;
            return;
          }
        }
        const net::IoResult s = to.shutdown_send();
        if (s.status == Status::want_read || s.status == Status::want_write) {
          wait(to_wait(s.status), to.socket(), upward, false);
          return;
        }
        // Done, or the destination is already gone: either way this direction has ended.
        d.finished = true;
        return;
      }
      if constexpr (is_tcp<From>) {
        // Nothing readable reported since the source was last found empty (at the start: the
        // upstream that has not answered yet): wait without a read that would say EAGAIN.
        if (EdgeWait::not_reported_readable(from.socket())) {
          d.lease.reset();
          wait_edge(from.socket(), EdgeWait::Kind::read, upward);
          return;
        }
      }
      if (!d.lease) d.lease.emplace(pool_.acquire());
      const net::IoResult r = from.read_some(d.lease->data(), d.lease->size());
      switch (r.status) {
        case Status::done:
          d.len = r.bytes;
          d.off = 0;
          if constexpr (is_tcp<From>) {
            // A short read with nothing behind it (TCP_INQ) and no reset reported: empty, so the
            // next wait needs no read first. Otherwise (a FIN or more bytes behind, or not known)
            // read on until the queue is empty; an EOF found right behind the data then leaves
            // in the same segment as the data.
            if (r.bytes == d.lease->size()) {
              d.drained = false;
            } else if (from.nothing_behind() && EdgeWait::empty_behind_read(from.socket())) {
              d.drained = true;
            } else {
              d.drained = gather(d, from, from_side);
            }
          } else {
            // TLS hands out a record per read: gather the rest, for one large write.
            d.drained = gather(d, from, from_side);
          }
          last_activity_ = std::chrono::steady_clock::now();
          continue;
        case Status::eof:
          d.lease.reset();
          d.eof_seen = true;
          if (!first_eof_) first_eof_ = from_side;
          continue;
        case Status::error:
          d.lease.reset();
          finish_error(d, true, r.ec);
          return;
        case Status::want_read:
          d.lease.reset();
          wait_edge(from.socket(), EdgeWait::Kind::read, upward);
          return;
        case Status::want_write:
          d.lease.reset();
          wait(to_wait(r.status), from.socket(), upward, true);
          return;
      }
    }
    // Budget spent with more to do: continue after the other connections' ready handlers.
    ++pending_;
    asio::post(up_.socket().get_executor(), [this, upward] {
      --pending_;
      resume(upward);
      settle();
    });
  }

  /// Reads what is readable now into the rest of the buffer. For a source that hands out a record
  /// per read (TLS) the destination then gets one large write, not one per 16 KiB record; for a
  /// TCP source it is the look for an EOF right behind the data. An EOF or error found here is
  /// acted on once the bytes before it are written. Returns whether it stopped at an empty queue
  /// (the read said "wait"), which it proved in this handler.
  template <class From>
  bool gather(Direction& d, From& from, base::Side from_side) {
    while (d.len < d.lease->size()) {
      const net::IoResult more = from.read_some(d.lease->data() + d.len, d.lease->size() - d.len);
      if (more.status == Status::done) {
        d.len += more.bytes;
        continue;
      }
      if (more.status == Status::eof) {
        d.eof_seen = true;
        if (!first_eof_) first_eof_ = from_side;
      } else if (more.status == Status::error) {
        d.read_error = more.ec;
      }
      return more.status == Status::want_read;
    }
    return false;
  }

  /// Writes what `d` holds. When the source already ended, a TCP destination is told more is
  /// coming (MSG_MORE): the shutdown_send (or close) that follows then carries the FIN in the
  /// same segment as the last bytes.
  template <class To>
  static net::IoResult write(To& to, Direction& d) {
    if constexpr (is_tcp<To>) {
      return to.write_some(d.lease->data() + d.off, d.len - d.off, d.eof_seen);
    } else {
      return to.write_some(d.lease->data() + d.off, d.len - d.off);
    }
  }

  static tcp::socket::wait_type to_wait(Status s) noexcept {
    return s == Status::want_write ? tcp::socket::wait_write : tcp::socket::wait_read;
  }

  void wait(tcp::socket::wait_type type, tcp::socket& socket, bool upward, bool on_source) {
    ++pending_;
    socket.async_wait(type, [this, upward, on_source](const error_code& ec) {
      --pending_;
      if (ec) {
        finish_error(upward ? up_dir_ : down_dir_, on_source, ec);
      } else {
        resume(upward);
      }
      settle();
    });
  }

  /// Waits for the source of a direction that this handler found empty, or for its destination
  /// that this handler found full (see EdgeWait).
  void wait_edge(tcp::socket& socket, EdgeWait::Kind kind, bool upward) {
    ++pending_;
    (upward ? up_wait_ : down_wait_).start(socket, kind);
  }

  template <bool Upward>
  static void on_ready(void* self, const error_code& ec) {
    auto* op = static_cast<RelayOp*>(self);
    Direction& d = Upward ? op->up_dir_ : op->down_dir_;
    --op->pending_;
    if (ec) {
      const bool on_source =
          (Upward ? op->up_wait_ : op->down_wait_).kind() == EdgeWait::Kind::read;
      op->finish_error(d, on_source, ec);
    } else {
      op->resume(Upward);
    }
    op->settle();
  }

  void finish_error(Direction& d, bool read_side, const error_code& ec) {
    d.finished = true;
    d.lease.reset();
    d.off = d.len = 0;
    d.reason = base::Reason::reset;
    d.read_side_error = read_side;
    d.ec = ec;
    d.aborted = ec == asio::error::operation_aborted;
    if (!d.aborted) stop();
  }

  /// Ends both directions: every pending wait on either socket completes as aborted.
  void stop() {
    if (stopping_) return;
    stopping_ = true;
    error_code ignored;
    down_.socket().cancel(ignored);
    up_.socket().cancel(ignored);
  }

  void arm_watchdog() {
    auto deadline = last_activity_ + options_.idle_timeout;
    if (options_.max_duration.count() > 0 && hard_deadline_ < deadline) deadline = hard_deadline_;
    timer_.expires_at(deadline);
    ++pending_;
    timer_.async_wait([this](const error_code& ec) {
      --pending_;
      on_watchdog(ec);
      settle();
    });
  }

  void on_watchdog(const error_code& ec) {
    if (ec || (up_dir_.finished && down_dir_.finished)) return;
    const auto now = std::chrono::steady_clock::now();
    if (options_.max_duration.count() > 0 && now >= hard_deadline_) {
      timed_out_ = base::Reason::max_duration;
      stop();
      return;
    }
    if (now >= last_activity_ + options_.idle_timeout) {
      if (!peers_took_bytes()) {
        timed_out_ = base::Reason::idle_timeout;
        stop();
        return;
      }
      last_activity_ = now;  // the peers' progress counts as activity
    }
    arm_watchdog();
  }

  /// At an idle deadline (nothing read for idle_timeout): whether a peer acknowledged bytes since
  /// the last deadline. Bytes the kernel holds reach a slow reader without any read or write by
  /// the relay, and that is not idle. The first deadline has no earlier figure: it counts bytes
  /// still waiting in a send queue as progress, so a peer that stopped reading with bytes waiting
  /// is found idle one idle_timeout later, at the second.
  bool peers_took_bytes() {
    const auto down = net::send_progress(down_.socket().native_handle());
    const auto up = net::send_progress(up_.socket().native_handle());
    if (!down || !up) return false;
    const std::uint64_t acked = down->acked + up->acked;
    const bool moved =
        acked_at_deadline_ ? acked != *acked_at_deadline_ : down->waiting || up->waiting;
    acked_at_deadline_ = acked;
    return moved;
  }

  /// After every callback: once both directions are finished, cancel the watchdog; once nothing
  /// is pending either, report.
  void settle() {
    if (!up_dir_.finished || !down_dir_.finished) return;
    if (!timer_cancelled_) {
      timer_cancelled_ = true;
      timer_.cancel();
    }
    if (pending_ == 0) complete();
  }

  void complete() {
    RelayResult result = outcome();
    Handler handler = std::move(handler_);
    delete this;
    std::move(handler)(std::move(result));
  }

  RelayResult outcome() const {
    RelayResult result;
    result.bytes_up = up_dir_.bytes;
    result.bytes_down = down_dir_.bytes;
    if (timed_out_) {
      result.reason = *timed_out_;
      result.closed_by = base::Side::gateway;
      return result;
    }
    // An error wins over EOF; of two errors the one that was not an abort caused the other.
    auto blame = [&](const Direction& d, bool upward) {
      result.reason = base::Reason::reset;
      // Reading the source failed → the source's side; writing the destination → its side.
      const bool client = upward == d.read_side_error;
      result.closed_by = client ? base::Side::client : base::Side::upstream;
      result.detail = d.ec.message();
    };
    if (up_dir_.reason == base::Reason::reset && !up_dir_.aborted) {
      blame(up_dir_, true);
    } else if (down_dir_.reason == base::Reason::reset && !down_dir_.aborted) {
      blame(down_dir_, false);
    } else if (up_dir_.reason == base::Reason::reset || down_dir_.reason == base::Reason::reset) {
      // Both aborted: cancelled from outside (drain); the caller knows why.
      result.reason = base::Reason::reset;
      result.closed_by = base::Side::gateway;
    } else {
      result.reason = base::Reason::eof;
      result.closed_by = first_eof_.value_or(base::Side::client);
    }
    return result;
  }

  DownIo down_;
  UpIo up_;
  asio::steady_timer& timer_;
  BufferPool& pool_;
  RelayOptions options_;
  Handler handler_;
  Direction up_dir_;
  Direction down_dir_;
  EdgeWait up_wait_{this, &RelayOp::on_ready<true>};  ///< one wait per direction at a time
  EdgeWait down_wait_{this, &RelayOp::on_ready<false>};
  std::chrono::steady_clock::time_point last_activity_;
  std::chrono::steady_clock::time_point hard_deadline_;
  std::optional<std::uint64_t> acked_at_deadline_;  ///< see peers_took_bytes
  std::optional<base::Side> first_eof_;
  std::optional<base::Reason> timed_out_;
  std::uint32_t pending_ = 0;
  bool stopping_ = false;
  bool timer_cancelled_ = false;
};

/// The stream the relay drives for a downstream: TcpStream for a plain socket, else the stream
/// itself (by reference: it has read_some/write_some/shutdown_send/socket()).
template <class Downstream>
using DownIo = std::conditional_t<std::is_same_v<Downstream, tcp::socket>, TcpStream, Downstream&>;

}  // namespace relay_detail

/// Relays until both directions reached EOF, a side failed, or a timeout fired; completes with
/// the RelayResult (signature void(RelayResult)). `timer` is the connection's timer. Never fails
/// for I/O errors (they are the result); both sockets are left open for the caller to close, and
/// the caller must close them: when both directions ended with EOF, the last plain-TCP FIN is the
/// caller's close, not a shutdown of the relay's.
/// Cancel by cancelling both sockets (e.g. Connection::force_close): the result is then a reset
/// closed by the gateway.
template <class Downstream, class CompletionToken>
auto async_relay(Downstream& downstream, boost::asio::ip::tcp::socket& upstream,
                 boost::asio::steady_timer& timer, BufferPool& pool, RelayOptions options,
                 CompletionToken&& token) {
  namespace d = relay_detail;
  using Io = d::DownIo<Downstream>;
  return boost::asio::async_initiate<CompletionToken, void(RelayResult)>(
      [&downstream, &upstream, &timer, &pool, options](auto handler) {
        using Op = d::RelayOp<Io, decltype(handler)>;
        (new Op(Io(downstream), TcpStream(upstream), timer, pool, options, std::move(handler)))
            ->start();
      },
      token);
}

/// async_relay with another upstream stream than a plain socket: `upstream` (by reference) has
/// read_some/write_some/shutdown_send/socket() as a TLS stream has (core/via_stream.hpp: the
/// egressd agent's tunnel to its gateway). The plain-socket overload above is unchanged by it.
template <class Downstream, class Upstream, class CompletionToken>
auto async_relay_over(Downstream& downstream, Upstream& upstream, boost::asio::steady_timer& timer,
                      BufferPool& pool, RelayOptions options, CompletionToken&& token) {
  namespace d = relay_detail;
  using Io = d::DownIo<Downstream>;
  return boost::asio::async_initiate<CompletionToken, void(RelayResult)>(
      [&downstream, &upstream, &timer, &pool, options](auto handler) {
        using Op = d::RelayOp<Io, decltype(handler), Upstream&>;
        (new Op(Io(downstream), upstream, timer, pool, options, std::move(handler)))->start();
      },
      token);
}

}  // namespace egress::core
