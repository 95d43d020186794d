#include "core/session.hpp"

#include <spdlog/spdlog.h>

#include <optional>
#include <string>
#include <utility>

#include "base/asio_endpoint.hpp"
#include "core/audit_records.hpp"
#include "core/connection.hpp"
#include "core/http_request_gate.hpp"
#include "core/later_request_check.hpp"
#include "core/relay.hpp"
#include "core/serve.hpp"
#include "core/worker.hpp"
#include "net/log_throttle.hpp"
#include "tls/context_store.hpp"

namespace egress::core {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

/// A connection for its whole life, on the heap: linked into the worker's live list (so a drain
/// reaches it), its limit slots held in its facts, both given back when it is destroyed. The
/// serving coroutine owns it until the relay starts; from then on the relay's completion handler
/// does, so an idle relayed connection keeps no coroutine frame alive.
class LiveConnection {
 public:
  LiveConnection(Worker& worker, std::size_t listener, tcp::socket socket)
      : worker(worker),
        conn(std::move(socket), worker.runtime().next_connection_id(),
             worker.runtime().listeners[listener]) {
    worker.link(conn);
    conn.use_via(worker.runtime().via.get(), &worker.runtime().audit.options().instance_id);
  }
  LiveConnection(const LiveConnection&) = delete;
  LiveConnection& operator=(const LiveConnection&) = delete;
  ~LiveConnection() { worker.unlink(conn); }

  Worker& worker;
  Connection conn;
};

/// The end of a relayed connection: metrics, close (or pass a reset on), connection.close record.
/// `refused`: the request gate stopped the connection (a later request's Host, see
/// core/http_request_gate.hpp), which the relay reports as a reset on the client's side.
void finish_relay(Worker& worker, Connection& conn, RelayResult rr,
                  std::optional<std::string> refused = std::nullopt) {
  if (conn.force_closed()) {
    rr.reason = conn.revoked() ? conn.revoked()->reason : base::Reason::drain;
    rr.closed_by = base::Side::gateway;
    rr.detail = conn.revoked() ? conn.revoked()->detail : std::string();
  } else {
    apply_refusal(rr, std::move(refused));
  }
  // The egressd agent: the gateway refused the tunnel (its answer was the first thing read from
  // it, so nothing of the destination's reached the workload), which is reset as a deny is.
  ViaStream* via = conn.via_stream();
  if (via != nullptr && !conn.force_closed()) via->settle_answer();
  const bool via_refused = via != nullptr && via->refusal() && !conn.force_closed();
  if (via_refused) {
    rr.reason = via->refusal()->reason;
    rr.closed_by = base::Side::upstream;
    rr.detail = via->refusal()->detail;
  }
  worker.metrics().bytes(rr.bytes_up, rr.bytes_down);
  worker.metrics().closed(conn.facts.listener.index, rr.reason);
  // A reset is passed on: the other side learns the stream broke, not that it ended. A refused
  // request resets both sides: the upstream must not take a truncated request for a whole one.
  // So does a revoked connection: neither side may take what it got for the whole stream.
  const bool reset = rr.reason == base::Reason::reset || rr.reason == base::Reason::host_changed ||
                     conn.revoked() || via_refused;
  conn.end_both(reset ? base::Ending::reset : base::Ending::close);
  auto record = close_record(
      conn.facts, rr,
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - conn.accepted_at));
  if (conn.revoked()) record.rule = conn.revoked()->rule;
  if (via != nullptr) record.via_conn = via->decision();
  worker.runtime().audit.submit({audit::Clock::now(), std::move(record)});
}

/// Relays `down` (the client's side) with the connection's upstream: the socket dialled to the
/// destination, or the egressd agent's tunnel to its gateway.
template <class Down, class Done>
void relay_upstream(LiveConnection& l, Down& down, const RelayOptions& options, Done done) {
  if (ViaStream* via = l.conn.via_stream()) {
    async_relay_over(down, *via, l.conn.timer(), l.worker.buffers(), options, std::move(done));
  } else {
    async_relay(down, l.conn.upstream(), l.conn.timer(), l.worker.buffers(), options,
                std::move(done));
  }
}

/// The relay of a connection named by its first HTTP request's Host: the client's side goes
/// through an HttpRequestGate, which the completion handler owns with the connection.
template <class Inner>
void start_gated_relay(std::unique_ptr<LiveConnection> live, Inner inner, RelayOptions options) {
  LiveConnection& l = *live;
  using Gate = HttpRequestGate<Inner>;
  auto gate = std::make_unique<Gate>(inner, LaterRequestCheck(l.conn.facts, &l.worker.names()),
                                     l.conn.facts.listener.config.peek.max_bytes);
  Gate& g = *gate;
  auto done = [live = std::move(live), gate = std::move(gate)](RelayResult rr) {
    finish_relay(live->worker, live->conn, std::move(rr), gate->refused());
  };
  relay_upstream(l, g, options, std::move(done));
}

/// Hands the connection to a callback relay that owns it until the close record is written.
void start_relay(std::unique_ptr<LiveConnection> live) {
  LiveConnection& l = *live;
  l.conn.relaying = true;
  // Decided by a policy replaced while the upstream connect ran: the re-decision of the reload
  // skipped it (not relayed yet), so it is decided again here.
  if (const auto running = l.worker.runtime().policy.current();
      running && l.conn.facts.policy && running != l.conn.facts.policy &&
      l.worker.runtime().config.policy_on_change == config::PolicyOnChange::reevaluate) {
    if (auto why = redecide(l.conn.facts, *running, std::chrono::system_clock::now())) {
      l.conn.revoke(std::move(*why));
      finish_relay(l.worker, l.conn, RelayResult{});
      return;
    }
  }
  // Verified with a CRL replaced while the upstream connect ran (the reload's pass skipped it):
  // its certificate is checked against the CRLs running now, whatever policy.on_change says.
  if (l.conn.facts.identity) {
    const auto& factory = *l.worker.runtime().chains[l.conn.facts.listener.index];
    if (const tls::ContextStore* store = std::as_const(factory).tls_store()) {
      if (auto why = recheck_certificate(l.conn.facts, store->current()->revocations())) {
        l.conn.revoke(std::move(*why));
        finish_relay(l.worker, l.conn, RelayResult{});
        return;
      }
    }
  }
  const auto& up = l.worker.runtime().config.upstream;
  const RelayOptions options{up.idle_timeout, up.max_duration, l.conn.forced_flag()};
  // Issue 19: a connection decided by its first request's Host has every later request's Host
  // checked. Every other connection relays the stream itself.
  if (l.conn.facts.name && l.conn.facts.name->source == filters::NameSource::http_host) {
    if (l.conn.tls) {
      start_gated_relay<tls::TlsSocket&>(std::move(live), *l.conn.tls, options);
    } else {
      start_gated_relay(std::move(live), TcpStream(l.conn.socket()), options);
    }
    return;
  }
  auto done = [live = std::move(live)](RelayResult rr) {
    finish_relay(live->worker, live->conn, std::move(rr));
  };
  if (l.conn.tls) {
    relay_upstream(l, *l.conn.tls, options, std::move(done));
  } else {
    relay_upstream(l, l.conn.socket(), options, std::move(done));
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
  conn.facts.src = base::from_asio(peer);
  conn.facts.local = base::from_asio(local);
  // TCP_NODELAY comes from the listening socket (accepted sockets inherit it: listener.cpp).
  // No policy snapshot here: the policy step takes it when it decides (after the handshake).
  const SessionServices services{worker.chain(listener), rt.audit, rt.policy, worker.metrics(),
                                 rt.config.upstream};
  bool relay = false;
  try {
    relay = co_await serve(conn.facts, conn.accepted_at, conn, services);
  } catch (const std::exception& e) {
    // Not expected (I/O errors are values); keep the worker alive and the client informed.
    static net::LogThrottle throttle;
    if (const auto held = throttle.admit()) {
      spdlog::error("connection {}: {}{}", conn.facts.id, e.what(), net::suppressed(*held));
    }
    conn.end(base::Ending::reset);
    co_return;
  }
  // Outside the try: once handed over, `live` (and `conn`) belong to the relay.
  if (relay) start_relay(std::move(live));
}

}  // namespace egress::core
