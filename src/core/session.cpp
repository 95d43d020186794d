#include "core/session.hpp"

#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <thread>

#include "base/asio_endpoint.hpp"
#include "core/audit_records.hpp"
#include "core/relay.hpp"
#include "core/worker.hpp"
#include "filters/original_dst.hpp"
#include "filters/policy_filter.hpp"
#include "net/log_throttle.hpp"
#include "upstream/connect.hpp"

namespace egress::core {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

/// RST instead of FIN: SO_LINGER {on, 0} then close.
void reset(tcp::socket& s) noexcept {
  if (!s.is_open()) return;
  const ::linger lg{1, 0};
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  boost::system::error_code ignored;
  s.close(ignored);
}

void close(tcp::socket& s) noexcept {
  boost::system::error_code ignored;
  if (s.is_open()) s.close(ignored);
}

/// Write-ahead: submits the record and resumes on this connection's executor once the audit
/// writer says what became of it (written, failed, dropped); true when the connection may then
/// connect upstream (audit::may_connect). The timer is a waitable event that the answer cancels.
asio::awaitable<bool> write_ahead(audit::AuditLog& log, audit::Record record,
                                  asio::steady_timer& timer) {
  struct Waiter {
    asio::any_io_executor executor;
    asio::steady_timer& timer;
    bool done = false;
    audit::WriteOutcome::Kind outcome = audit::WriteOutcome::failed;
  } waiter{timer.get_executor(), timer};
  // Usually the log writes on this very thread, inside submit() (an idle writer lets the
  // submitter write): then no post and no timer wait. From another thread, the answer is posted.
  const std::thread::id here = std::this_thread::get_id();
  log.submit(std::move(record), [w = &waiter, here](audit::WriteOutcome outcome) {
    auto tell = [w, outcome] {
      w->done = true;
      w->outcome = outcome.kind;
      w->timer.cancel();
    };
    if (std::this_thread::get_id() == here) {
      tell();
    } else {
      asio::post(w->executor, tell);
    }
  });
  while (!waiter.done) {
    timer.expires_at(asio::steady_timer::time_point::max());
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  co_return audit::may_connect({waiter.outcome}, log.options().on_error);
}

std::chrono::microseconds since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t);
}

/// A connection for its whole life, on the heap: linked into the worker's live list (so a drain
/// reaches it) and holding its max_connections slot, both given back when it is destroyed. The
/// serving coroutine owns it until the relay starts; from then on the relay's completion handler
/// does, so an idle relayed connection keeps no coroutine frame alive.
class LiveConnection {
 public:
  LiveConnection(Worker& worker, std::size_t listener, tcp::socket socket)
      : worker(worker),
        conn(std::move(socket), worker.runtime().next_connection_id(),
             worker.runtime().listeners[listener], worker.metrics()) {
    worker.link(conn);
  }
  LiveConnection(const LiveConnection&) = delete;
  LiveConnection& operator=(const LiveConnection&) = delete;
  ~LiveConnection() { worker.unlink(conn); }

  Worker& worker;
  Connection conn;
  /// Its max_connections, max_pending and per_source slots; given back when this is destroyed
  /// (the pending one when the connection is decided).
  ConnectionLimits::Ticket slots;
};

/// Closes an allowed connection that never reached the relay (connect failure, drain, audit).
void finish_early(Worker& worker, Connection& conn, base::Reason reason, base::Side by,
                  std::string detail) {
  RelayResult r;
  r.reason = reason;
  r.closed_by = by;
  r.detail = std::move(detail);
  worker.metrics().closed(conn.listener.index, reason);
  worker.runtime().audit.submit(
      {audit::Clock::now(), close_record(conn, r, since(conn.accepted_at))});
  reset(conn.socket());
  close(conn.upstream());
}

/// Whether the client's first bytes are already here (e.g. its request came right behind the TCP
/// or TLS handshake): one FIONREAD.
bool bytes_waiting(Connection& conn) {
  if (conn.tls && conn.tls->buffered()) return true;
  int n = 0;
  return ::ioctl(conn.socket().native_handle(), FIONREAD, &n) == 0 && n > 0;
}

/// Takes the connection's slots (per_source, max_connections, max_pending). When one is full:
/// the deny record, a reset, and false.
bool admit(LiveConnection& live) {
  Connection& conn = live.conn;
  Runtime& rt = live.worker.runtime();
  const std::size_t li = conn.listener.index;
  base::Reason reason{};
  live.slots = rt.limits.admit(li, conn.src.address, reason);
  if (live.slots.admitted()) return true;
  const char* detail = reason == base::Reason::over_source_limit    ? "limits.per_source reached"
                       : reason == base::Reason::over_pending_limit ? "limits.max_pending reached"
                                                                    : "max_connections reached";
  // Where it was going still belongs in the record: one getsockopt, no handshake.
  filters::OriginalDstFilter(conn.listener.config.destination).apply(conn);
  live.worker.metrics().decision(li, false, reason);
  rt.audit.submit({audit::Clock::now(), decision_record(conn, false, reason, detail)});
  reset(conn.socket());
  return false;
}

/// Decides and connects: true when the connection is allowed and connected upstream (the relay
/// comes next); false when it was denied or ended early (its records are written).
asio::awaitable<bool> serve(LiveConnection& live) {
  Worker& worker = live.worker;
  Connection& conn = live.conn;
  Runtime& rt = worker.runtime();
  const std::size_t li = conn.listener.index;
  const auto& audit_options = rt.audit.options();
  const bool fail_closed = audit_options.on_error == audit::Options::OnError::fail_closed;

  // --- decide -----------------------------------------------------------------------------------
  bool allow = false;
  base::Reason reason = base::Reason::no_policy;
  std::string detail;
  if (!admit(live)) co_return false;

  const filters::Verdict verdict = co_await worker.chain(li).run(conn);
  // Decided (allow or deny): the pending slot goes back, so a long-lived relayed connection does
  // not hold the handshake budget.
  live.slots.decided();
  worker.metrics().decision_latency(Clock::now() - conn.accepted_at);
  allow = verdict == filters::Verdict::Continue;
  if (conn.denied()) {
    allow = false;
    reason = *conn.denied();
    detail = conn.deny_detail();
  } else if (conn.decision) {
    reason = filters::reason_of(*conn.decision);
  }
  if (allow && fail_closed && !rt.audit.healthy()) {
    allow = false;
    reason = base::Reason::audit_unavailable;
    detail = "audit log cannot be written (audit.on_error: fail_closed)";
  }
  worker.metrics().decision(li, allow, reason);
  audit::Record decision{audit::Clock::now(), decision_record(conn, allow, reason, detail)};
  if (!allow) {
    rt.audit.submit(std::move(decision));
    if (reason >= base::Reason::no_client_cert && reason <= base::Reason::tls_handshake_failed) {
      // The TLS stage failed: OpenSSL's alert is already on the wire; a FIN after it, so the
      // client reads the alert (an RST could discard it).
      close(conn.socket());
    } else {
      reset(conn.socket());
    }
    co_return false;
  }
  if (audit_options.write_ahead) {
    // The upstream connect follows this connection's own record only (issue 17 item 12): the
    // sink's health now says nothing about a record that failed before it recovered.
    if (!co_await write_ahead(rt.audit, std::move(decision), conn.timer())) {
      finish_early(worker, conn, base::Reason::audit_unavailable, base::Side::gateway,
                   "decision record not written (audit.on_error: fail_closed)");
      co_return false;
    }
  } else {
    rt.audit.submit(std::move(decision));
  }
  if (conn.force_closed()) {
    finish_early(worker, conn, base::Reason::drain, base::Side::gateway, "");
    co_return false;
  }

  // --- upstream ---------------------------------------------------------------------------------
  const auto& up = rt.config.upstream;
  const auto connect_start = Clock::now();
  upstream::ConnectResult cr = co_await upstream::connect(
      conn.upstream(), *conn.dst,
      {.timeout = up.connect_timeout, .mark = up.mark, .client_bytes_waiting = bytes_waiting(conn)},
      conn.timer());
  if (!cr.ok()) {
    if (conn.force_closed()) {
      finish_early(worker, conn, base::Reason::drain, base::Side::gateway, "");
    } else {
      const bool theirs = cr.error == base::Reason::upstream_refused ||
                          cr.error == base::Reason::upstream_unreachable;
      finish_early(worker, conn, cr.error, theirs ? base::Side::upstream : base::Side::gateway,
                   std::move(cr.detail));
    }
    co_return false;
  }
  worker.metrics().connect_latency(Clock::now() - connect_start);

  co_return true;
}

/// The end of a relayed connection: metrics, close (or pass a reset on), connection.close record.
void finish_relay(Worker& worker, Connection& conn, RelayResult rr) {
  if (conn.force_closed()) {
    rr.reason = base::Reason::drain;
    rr.closed_by = base::Side::gateway;
    rr.detail.clear();
  }
  worker.metrics().bytes(rr.bytes_up, rr.bytes_down);
  worker.metrics().closed(conn.listener.index, rr.reason);
  if (rr.reason == base::Reason::reset) {
    // Pass a reset on: the other side learns the stream broke, not that it ended.
    reset(conn.socket());
    reset(conn.upstream());
  } else {
    close(conn.socket());
    close(conn.upstream());
  }
  worker.runtime().audit.submit(
      {audit::Clock::now(), close_record(conn, rr, since(conn.accepted_at))});
}

/// Hands the connection to a callback relay that owns it until the close record is written.
void start_relay(std::unique_ptr<LiveConnection> live) {
  LiveConnection& l = *live;
  auto done = [live = std::move(live)](RelayResult rr) {
    finish_relay(live->worker, live->conn, std::move(rr));
  };
  const auto& up = l.worker.runtime().config.upstream;
  const RelayOptions options{up.idle_timeout, up.max_duration};
  if (l.conn.tls) {
    async_relay(*l.conn.tls, l.conn.upstream(), l.conn.timer(), l.worker.buffers(), options,
                std::move(done));
  } else {
    async_relay(l.conn.socket(), l.conn.upstream(), l.conn.timer(), l.worker.buffers(), options,
                std::move(done));
  }
}

}  // namespace

asio::awaitable<void> serve_connection(Worker& worker, std::size_t listener, tcp::socket socket,
                                       tcp::endpoint peer) {
  auto live = std::make_unique<LiveConnection>(worker, listener, std::move(socket));
  Connection& conn = live->conn;
  Runtime& rt = worker.runtime();

  boost::system::error_code ec;
  // getsockname stays: with REDIRECT/TPROXY the local address is the connection's own.
  const auto local = conn.socket().local_endpoint(ec);
  if (ec) co_return;  // the client left before we looked: nothing to decide, nothing to audit
  conn.src = base::from_asio(peer);
  conn.local = base::from_asio(local);
  // TCP_NODELAY comes from the listening socket (accepted sockets inherit it: listener.cpp).
  // No policy snapshot here: the policy filter takes it when it decides (after the handshake).
  conn.policy_store = &rt.policy;
  bool relay = false;
  try {
    relay = co_await serve(*live);
  } catch (const std::exception& e) {
    // Not expected (I/O errors are values); keep the worker alive and the client informed.
    static net::LogThrottle throttle;
    if (const auto held = throttle.admit()) {
      spdlog::error("connection {}: {}{}", conn.id, e.what(), net::suppressed(*held));
    }
    reset(conn.socket());
    close(conn.upstream());
    co_return;
  }
  // Outside the try: once handed over, `live` (and `conn`) belong to the relay.
  if (relay) start_relay(std::move(live));
}

}  // namespace egress::core
