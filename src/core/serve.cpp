#include "core/serve.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <thread>

#include "core/audit_records.hpp"

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
                  const SessionServices& s, base::Reason reason, base::Side by,
                  std::string detail) {
  RelayResult r;
  r.reason = reason;
  r.closed_by = by;
  r.detail = std::move(detail);
  s.metrics.closed(facts.listener.index, reason);
  s.audit.submit(
      {audit::Clock::now(), close_record(facts, r,
                                         std::chrono::duration_cast<std::chrono::microseconds>(
                                             Clock::now() - accepted_at))});
  io.end(base::Ending::reset);
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
    s.audit.submit(std::move(decision));
    io.end(ending);
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
