#include "core/serve.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <string>
#include <thread>
#include <vector>

#include "core/audit_records.hpp"
#include "core/connect_answer.hpp"
#include "filters/name_reader.hpp"
#include "peek/hostname.hpp"

namespace egress::core {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

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

/// Ends an allowed connection that never reached the relay (connect failure, drain, audit): its
/// connection.close record, and an RST.
void finish_early(const filters::Facts& facts, Clock::time_point accepted_at, SessionIo& io,
                  const SessionServices& s, base::Reason reason, base::Side by, std::string detail,
                  base::Ending ending = base::Ending::reset) {
  RelayResult r;
  r.reason = reason;
  r.closed_by = by;
  r.detail = std::move(detail);
  s.metrics.closed(facts.listener.index, reason);
  s.audit.submit(
      {audit::Clock::now(), close_record(facts, r,
                                         std::chrono::duration_cast<std::chrono::microseconds>(
                                             Clock::now() - accepted_at))});
  io.end(ending);
}

// --- CONNECT listeners (issue 20)
// -----------------------------------------------------------------

/// How long an answer may take to reach the client's socket buffer: it is a few hundred bytes,
/// so only a client that reads nothing and has filled its window waits this long.
constexpr std::chrono::milliseconds kAnswerLimit{5000};

bool is_connect_listener(const filters::Facts& facts) noexcept {
  return facts.listener.config.destination == config::DestinationMode::connect;
}

/// "<instance>-<counter>", as the audit records write the connection's id.
std::string audited_conn_id(const filters::Facts& facts, const SessionServices& s) {
  return s.audit.options().instance_id + "-" + std::to_string(facts.id);
}

/// The CONNECT request's "host:port" (the name, or the IP literal's address).
std::string authority(const filters::Facts& facts) {
  if (facts.connect && !facts.connect->name.empty())
    return facts.connect->name + ":" + std::to_string(facts.connect->port);
  return facts.dst ? facts.dst->to_string() : std::string();
}

/// The answer to a CONNECT request the chain denied, or nothing: a request that never ended
/// (connect_request_timeout) and a connection denied before its request was read (a TLS failure,
/// a limit) get none, as on a transparent listener.
std::optional<std::string> deny_answer(const filters::Facts& facts,
                                       const audit::ConnectionDecision& d,
                                       const SessionServices& s) {
  if (!is_connect_listener(facts) || !facts.connect) return std::nullopt;
  if (d.reason == base::to_string(base::Reason::connect_request_timeout)) return std::nullopt;
  const std::string id = audited_conn_id(facts, s);
  const std::string auth = authority(facts);
  ConnectAnswerFields a;
  a.conn_id = id;
  a.reason = d.reason;
  a.detail = d.detail;
  if (d.reason == base::to_string(base::Reason::connect_request_invalid)) {
    a.status = facts.connect->status != 0 ? facts.connect->status : 400;
    return connect_answer(a);
  }
  a.status = 403;
  a.rule = d.rule;
  a.policy_version = d.policy_version;
  a.authority = auth;
  return connect_answer(a);
}

/// The name inside a CONNECT name's tunnel, read after the 200 and before any byte goes upstream:
/// a ClientHello SNI or HTTP Host that is not the CONNECT name (case-insensitive, one trailing dot
/// ignored) is why the tunnel closes (sni_mismatch), as is a ClientHello or request head that
/// cannot be read (its name cannot be shown to be the CONNECT name). Nothing when the name matches
/// or none is sent.
boost::asio::awaitable<std::optional<std::string>> tunnel_name_mismatch(filters::Facts& facts,
                                                                        SessionIo& io) {
  filters::NameFacts seen;
  const auto refused = co_await filters::read_name(io, facts.listener.config.peek, seen);
  const std::string& asked = facts.connect->name;
  if (refused) {
    co_return "the tunnel's first bytes cannot be read (" +
        std::string(base::to_string(refused->reason)) + ": " + refused->detail +
        "); CONNECT name " + asked;
  }
  if (seen.source == filters::NameSource::none) co_return std::nullopt;
  if (peek::normalize_hostname(seen.host) == peek::normalize_hostname(asked))
    co_return std::nullopt;
  co_return std::string(seen.source == filters::NameSource::sni ? "SNI " : "Host ") + seen.host +
      " is not the CONNECT name " + asked;
}

/// An allowed CONNECT request after its decision record: dial the allowed addresses (Happy
/// Eyeballs), answer 200 or 502/504, check a name's tunnel. True when the relay comes next.
boost::asio::awaitable<bool> connect_tunnel(filters::Facts& facts, Clock::time_point accepted_at,
                                            SessionIo& io, const SessionServices& s) {
  std::vector<base::Endpoint> dsts;
  const std::uint16_t port = facts.connect ? facts.connect->port : facts.dst->port;
  if (facts.connect) {
    for (const auto& a : facts.connect->dial) dsts.push_back({a, port});
  }
  if (dsts.empty()) dsts.push_back(*facts.dst);  // an IP literal whose step left dial empty
  const std::string id = audited_conn_id(facts, s);
  const std::string auth = authority(facts);

  const auto connect_start = Clock::now();
  const upstream::ConnectOptions options{.timeout = s.upstream.connect_timeout,
                                         .mark = s.upstream.mark,
                                         .client_bytes_waiting = io.client_bytes_waiting()};
  upstream::DialResult dialled = co_await io.dial_upstream(dsts, options);
  if (io.force_closed()) {
    finish_early(facts, accepted_at, io, s, base::Reason::drain, base::Side::gateway, "");
    co_return false;
  }
  if (!dialled.result.ok()) {
    upstream::ConnectResult& cr = dialled.result;
    ConnectAnswerFields a;
    a.status = cr.error == base::Reason::upstream_timeout ? 504 : 502;
    a.conn_id = id;
    a.reason = base::to_string(cr.error);
    a.detail = cr.detail;
    a.authority = auth;
    // Written before the record's FIN: the client reads why, then the end of the stream.
    const bool told = co_await io.write_client(connect_answer(a), true, kAnswerLimit);
    const bool theirs = cr.error == base::Reason::upstream_refused ||
                        cr.error == base::Reason::upstream_unreachable;
    finish_early(facts, accepted_at, io, s, cr.error,
                 theirs ? base::Side::upstream : base::Side::gateway, std::move(cr.detail),
                 told ? base::Ending::close : base::Ending::reset);
    co_return false;
  }
  s.metrics.connect_latency(Clock::now() - connect_start);
  facts.dst = dialled.connected;  // the close record names the address the tunnel goes to

  ConnectAnswerFields ok;
  ok.status = 200;
  ok.conn_id = id;
  if (!co_await io.write_client(connect_answer(ok), false, kAnswerLimit)) {
    finish_early(facts, accepted_at, io, s,
                 io.force_closed() ? base::Reason::drain : base::Reason::reset,
                 io.force_closed() ? base::Side::gateway : base::Side::client,
                 io.force_closed() ? "" : "the 200 answer could not be written");
    co_return false;
  }
  if (facts.connect && !facts.connect->name.empty()) {
    auto mismatch = co_await tunnel_name_mismatch(facts, io);
    if (io.force_closed()) {
      finish_early(facts, accepted_at, io, s, base::Reason::drain, base::Side::gateway, "");
      co_return false;
    }
    if (mismatch) {
      finish_early(facts, accepted_at, io, s, base::Reason::sni_mismatch, base::Side::gateway,
                   std::move(*mismatch));
      co_return false;
    }
  }
  co_return true;
}

}  // namespace

asio::awaitable<bool> serve(filters::Facts& facts, Clock::time_point accepted_at, SessionIo& io,
                            const SessionServices& s) {
  const std::size_t li = facts.listener.index;
  const auto& audit_options = s.audit.options();

  // --- decide -----------------------------------------------------------------------------------
  base::Outcome outcome = co_await s.chain.run(facts, io);
  if (outcome.reason == base::Reason::proxy_local) {
    // A trusted balancer's health check (PROXY LOCAL): no client traffic, so no decision and no
    // record; counted, and closed with a FIN as a TCP check expects.
    s.metrics.proxy_local(li);
    io.end(outcome.ending);
    co_return false;
  }
  s.metrics.decision_latency(Clock::now() - accepted_at);
  if (facts.tls_handshake) s.metrics.tls_handshake(li, *facts.tls_handshake);
  if (outcome.allow && audit_options.on_error == audit::Options::OnError::fail_closed &&
      !s.audit.healthy()) {
    outcome = base::Outcome::denied(base::Reason::audit_unavailable,
                                    "audit log cannot be written (audit.on_error: fail_closed)");
  }
  s.metrics.decision(li, outcome.allow, outcome.reason);
  const bool allow = outcome.allow;
  const base::Ending ending = outcome.ending;
  audit::Record decision{audit::Clock::now(),
                         decision_record(facts, std::move(outcome), &s.policy)};
  if (const auto& name = std::get<audit::ConnectionDecision>(decision.event).name)
    s.metrics.name_step(li, name->source, name->verified);
  if (!allow) {
    auto answer = deny_answer(facts, std::get<audit::ConnectionDecision>(decision.event), s);
    s.audit.submit(std::move(decision));
    if (answer) {
      // The answer is on the wire before the FIN: an RST could discard it unread.
      const bool told = co_await io.write_client(*answer, true, kAnswerLimit);
      io.end(told ? base::Ending::close : base::Ending::reset);
    } else {
      io.end(ending);
    }
    co_return false;
  }
  if (audit_options.write_ahead) {
    // The upstream connect follows this connection's own record only (issue 17 item 12): the
    // sink's health now says nothing about a record that failed before it recovered.
    if (!co_await write_ahead(s.audit, std::move(decision), io.timer())) {
      finish_early(facts, accepted_at, io, s, base::Reason::audit_unavailable, base::Side::gateway,
                   "decision record not written (audit.on_error: fail_closed)");
      co_return false;
    }
  } else {
    s.audit.submit(std::move(decision));
  }
  if (io.force_closed()) {
    finish_early(facts, accepted_at, io, s, base::Reason::drain, base::Side::gateway, "");
    co_return false;
  }

  // --- upstream ---------------------------------------------------------------------------------
  if (is_connect_listener(facts)) co_return co_await connect_tunnel(facts, accepted_at, io, s);
  const auto connect_start = Clock::now();
  upstream::ConnectResult cr =
      co_await io.connect_upstream(*facts.dst, {.timeout = s.upstream.connect_timeout,
                                                .mark = s.upstream.mark,
                                                .client_bytes_waiting = io.client_bytes_waiting()});
  if (!cr.ok()) {
    if (io.force_closed()) {
      finish_early(facts, accepted_at, io, s, base::Reason::drain, base::Side::gateway, "");
    } else {
      const bool theirs = cr.error == base::Reason::upstream_refused ||
                          cr.error == base::Reason::upstream_unreachable;
      finish_early(facts, accepted_at, io, s, cr.error,
                   theirs ? base::Side::upstream : base::Side::gateway, std::move(cr.detail));
    }
    co_return false;
  }
  s.metrics.connect_latency(Clock::now() - connect_start);
  co_return true;
}

}  // namespace egress::core
