#include "core/gateway.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <system_error>
#include <utility>

#include "clock/rfc3339.hpp"
#include "core/audit_records.hpp"
#include "core/listener.hpp"
#include "policy/policy.hpp"
#include "tls/context_store.hpp"

namespace egress::core {

namespace asio = boost::asio;

namespace {

std::vector<base::Endpoint> own_endpoints(const config::GatewayConfig& c) {
  std::vector<base::Endpoint> out;
  for (const auto& l : c.listeners) out.push_back(l.address);
  out.push_back(c.admin_address);
  return out;
}

}  // namespace

Gateway::Gateway(const config::GatewayConfig& config, policy::PolicyStore& policy,
                 audit::AuditLog& audit)
    : config_(config),
      policy_(policy),
      audit_(audit),
      loop_guard_(own_endpoints(config)),
      runtime_(config, audit, policy) {
  // Local addresses are followed as they change (rtnetlink), from before the first accept. A
  // gateway that cannot follow them refuses to start (docs/config.md, "Loop guard").
  try {
    addresses_ = std::make_unique<upstream::AddressMonitor>(control_, loop_guard_);
  } catch (const std::system_error& e) {
    throw std::runtime_error(std::string("loop guard: cannot follow the local addresses: ") +
                             e.what());
  }
  for (const auto& l : runtime_.listeners) {
    runtime_.chains.push_back(std::make_unique<filters::ChainFactory>(
        l, filters::ChainServices{policy_, loop_guard_, runtime_.limits}));
  }
  for (const auto& l : config_.listeners) check_address_free(l);
  for (unsigned i = 0; i < config_.workers; ++i) {
    workers_.push_back(std::make_unique<Worker>(i, runtime_));
  }
}

Gateway::~Gateway() {
  for (auto& w : workers_) {
    w->stop_accepting();
    w->force_close_all();
  }
  workers_.clear();
}

int Gateway::run() {
  asio::signal_set signals(control_, SIGINT, SIGTERM, SIGHUP);
  signals.add(SIGUSR1);
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int sig) {
        if (ec) return;
        if (sig == SIGHUP) {
          spdlog::info("SIGHUP: reloading");
          reload();
        } else if (sig == SIGUSR1) {
          spdlog::info("SIGUSR1: reopening the audit log");
          audit_.reopen();
        } else {
          spdlog::info("{}: draining (drain_timeout {}ms)", sig == SIGTERM ? "SIGTERM" : "SIGINT",
                       config_.drain_timeout.count());
          begin_drain();
        }
        signals.async_wait(on_signal);
      };
  signals.async_wait(on_signal);

  for (auto& w : workers_) w->start();
  started_ = true;
  const auto policy = policy_.current();
  audit::GatewayStart start;
  start.version = EGRESS_VERSION_STRING;
  start.policy_version = policy ? policy->version() : "";
  for (std::size_t i = 0; i < config_.listeners.size(); ++i) {
    const auto& l = config_.listeners[i];
    start.listeners.push_back(l.name + "=" + l.address.to_string());
    spdlog::info("listener {} on {} (destination {}{}, filters {})", l.name, l.address.to_string(),
                 config::to_string(l.destination),
                 l.address.address.is_v6() && l.address.address.is_unspecified()
                     ? (l.v6_only ? ", IPv6 only" : ", dual-stack")
                     : "",
                 workers_.front()->chain(i).describe());
  }
  start.workers = config_.workers;
  spdlog::info("workers: {}", config_.workers);
  if (policy) {
    spdlog::info("policy {} loaded from {}: {} rules", policy->version(), policy_.dir().string(),
                 policy->rule_count());
  }
  audit_.submit({audit::Clock::now(), std::move(start)});

  addresses_->start();
  control_.run();
  addresses_->stop();
  signals.cancel();
  for (auto& w : workers_) w->join();
  return 0;
}

void Gateway::reload() {
  ReloadReport report;
  report.at = std::chrono::system_clock::now();
  // What the live connections are checked against once every part ran: one pass per worker.
  LiveCheck live;
  live.crls.resize(runtime_.chains.size());

  auto result = policy_.reload();
  const auto running = policy_.current();
  report.policy_version = running ? running->version() : "";
  report.rule_count = running ? running->rule_count() : 0;
  for (const auto& w : result.warnings) spdlog::warn("policy: {}", w.to_string());
  if (!result.errors.empty()) {
    report.policy.result = PartResult::failed;
    for (const auto& e : result.errors) {
      spdlog::error("policy reload: {}", e.to_string());
      report.policy.errors.push_back(e.to_string());
    }
    spdlog::error("policy reload failed ({} errors); keeping policy {}", result.errors.size(),
                  report.policy_version);
  } else {
    spdlog::info("policy reloaded: {} ({} rules)", report.policy_version, report.rule_count);
    if (running && started_ && config_.policy_on_change == config::PolicyOnChange::reevaluate) {
      live.policy = running;
    }
  }

  // TLS material after the policy: each listener's cert, key, client_ca and crl build one
  // context, swapped whole or not at all (a CRL only means something against its CA bundle).
  for (std::size_t i = 0; i < runtime_.chains.size(); ++i) {
    tls::ContextStore* store = runtime_.chains[i]->tls_store();
    if (store == nullptr) continue;
    const std::string where = "listeners[" + std::to_string(i) + "].tls";
    const auto error = store->reload();
    if (error) {
      spdlog::error("listener {}: reload: {} (keeping the running TLS material)",
                    runtime_.listeners[i].name(), listener_error(where, *error));
    } else {
      const auto& info = store->current()->info();
      spdlog::info(
          "listener {}: TLS material reloaded (certificate {} until {}, {} CAs, {} CRLs{}{})",
          runtime_.listeners[i].name(), info.server_subject, info.server_not_after, info.ca_count,
          info.crl_count, info.earliest_crl_next_update.empty() ? "" : ", next update ",
          info.earliest_crl_next_update);
    }
    const bool has_crl = !config_.listeners[i].tls.crl.empty();
    report.add_listener(where, error, has_crl);
    // A CRL that loaded is asked about every live client certificate of the listener, whatever
    // policy.on_change says: a revocation is a security event, not a policy change.
    if (!error && has_crl) live.crls[i] = store->current();
  }
  // The egressd agent's client material (upstream.via.tls): the tls part, as a listener's is.
  // Connections already tunnelled keep the context they were made with.
  if (runtime_.via) {
    const auto error = runtime_.via->reload();
    if (error) {
      spdlog::error("upstream.via: reload: {} (keeping the running TLS material)",
                    listener_error("upstream.via.tls", *error));
    } else {
      spdlog::info("upstream.via: TLS material reloaded");
    }
    report.add_listener("upstream.via.tls", error, false);
  }
  if (started_ && !live.empty()) {
    const bool with_certs = !live.crls.empty() && !std::all_of(live.crls.begin(), live.crls.end(),
                                                               [](const auto& c) { return !c; });
    const bool with_policy = live.policy != nullptr;
    const LiveRecheck done = recheck_live(std::move(live));
    if (with_policy) {
      report.live = LiveRedecision{done.counts.redecided, done.counts.revoked, done.unanswered};
    }
    if (with_certs) {
      report.crl_live =
          LiveCertCheck{done.counts.cert_checked, done.counts.cert_revoked, done.unanswered};
    }
  }
  // The running policy's next `expires`, from the last firing on (core/worker.hpp).
  if (report.policy.result == PartResult::ok && started_) {
    for (auto& w : workers_) w->watch_expiry();
  }
  for (const auto& [where, next] : crl_next_updates()) {
    if (!next.empty() && (report.crl_next_update.empty() || next < report.crl_next_update)) {
      report.crl_next_update = next;
    }
  }

  // Local addresses are followed with rtnetlink; a full re-read here costs nothing and is what
  // an operator who suspects the list expects SIGHUP to do.
  addresses_->resync();
  spdlog::debug("reload: policy {} running from {} ({} rules)",
                running ? running->version() : "(none)", policy_.dir().string(),
                running ? running->rule_count() : 0);

  // One record, written after every part ran, so it can say what each did.
  audit_.submit({audit::Clock::now(), reload_record(report)});
  runtime_.metrics.policy_reload(report.ok());
  const std::array<const ReloadPart*, 3> parts = {
      &report.policy, report.tls ? &*report.tls : nullptr, report.crl ? &*report.crl : nullptr};
  std::string summary;
  for (std::size_t p = 0; p < parts.size(); ++p) {
    if (parts[p] == nullptr) continue;
    if (parts[p]->result == PartResult::failed) runtime_.metrics.reload_part_failed(p);
    summary += (summary.empty() ? "" : ", ") + std::string(Metrics::kReloadParts[p]) + " " +
               std::string(to_string(parts[p]->result));
  }
  if (report.ok()) {
    spdlog::info("reload ok ({})", summary);
  } else {
    spdlog::error("reload failed ({}); a failed part keeps its running state", summary);
  }
  last_reload_ = std::move(report);
}

Gateway::LiveRecheck Gateway::recheck_live(LiveCheck check) {
  // The workers answer from their own threads; a late answer (after the wait below) lands in
  // the shared tally and is dropped with it.
  struct Tally {
    std::mutex mutex;
    std::condition_variable answered_cv;
    RedecideCounts counts;
    unsigned answered = 0;
  };
  auto tally = std::make_shared<Tally>();
  const auto started = std::chrono::steady_clock::now();
  for (auto& w : workers_) {
    w->recheck(check, [tally](RedecideCounts c) {
      const std::lock_guard lock(tally->mutex);
      tally->counts += c;
      ++tally->answered;
      tally->answered_cv.notify_all();
    });
  }
  std::unique_lock lock(tally->mutex);
  const auto all = static_cast<unsigned>(workers_.size());
  tally->answered_cv.wait_for(lock, kRedecideWait, [&] { return tally->answered == all; });
  LiveRecheck out{tally->counts, all - tally->answered};
  lock.unlock();
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  if (out.unanswered > 0) {
    spdlog::error("reload: {} of {} workers did not re-check their connections within {} ms",
                  out.unanswered, all, kRedecideWait.count());
  }
  if (check.policy) {
    spdlog::info("policy reload: {} live connections re-decided, {} closed ({} ms)",
                 out.counts.redecided, out.counts.revoked, took.count());
  }
  if (out.counts.cert_checked > 0 || out.counts.cert_revoked > 0) {
    spdlog::info("CRL reload: {} live client certificates checked, {} revoked and closed ({} ms)",
                 out.counts.cert_checked, out.counts.cert_revoked, took.count());
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> Gateway::crl_next_updates() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (std::size_t i = 0; i < runtime_.chains.size(); ++i) {
    const tls::ContextStore* store = std::as_const(*runtime_.chains[i]).tls_store();
    if (store == nullptr) continue;
    out.emplace_back("listeners[" + std::to_string(i) + "].tls.crl",
                     store->current()->info().earliest_crl_next_update);
  }
  return out;
}

void Gateway::begin_drain() {
  if (draining_) return;
  draining_ = true;
  for (auto& w : workers_) {
    w->stop_accepting();
    drained_at_start_ += w->live();
  }
  drain_deadline_ = std::chrono::steady_clock::now() + config_.drain_timeout;
  drain_timer_ = std::make_unique<asio::steady_timer>(control_);
  poll_drain();
}

void Gateway::poll_drain() {
  std::size_t live = 0;
  for (auto& w : workers_) live += w->live();
  const auto now = std::chrono::steady_clock::now();
  if (live == 0) {
    finish();
    return;
  }
  if (!forced_ && now >= drain_deadline_) {
    forced_ = true;
    spdlog::warn("drain_timeout reached: closing {} connections", live);
    for (auto& w : workers_) w->force_close_all();
  } else if (forced_ && now >= drain_deadline_ + std::chrono::seconds(5)) {
    spdlog::error("{} connections still open 5s after being closed; exiting anyway", live);
    finish();
    return;
  }
  // Polling only while draining: no timer runs in normal operation.
  drain_timer_->expires_after(std::chrono::milliseconds(20));
  drain_timer_->async_wait([this](const boost::system::error_code& ec) {
    if (!ec) poll_drain();
  });
}

void Gateway::finish() {
  std::size_t forced = 0;
  for (auto& w : workers_) forced += w->forced();
  audit::GatewayStop stop;
  stop.reason = "signal";
  stop.connections_forced = forced;
  // Connections alive when the drain began and that ended by themselves.
  stop.connections_drained = drained_at_start_ >= forced ? drained_at_start_ - forced : 0;
  audit_.submit({audit::Clock::now(), std::move(stop)});
  spdlog::info("drained: {} finished, {} closed at drain_timeout", stop.connections_drained,
               forced);
  control_.stop();
}

std::string Gateway::metrics_text() const {
  ScrapeInputs in;
  in.active_connections = runtime_.limits.active();
  for (std::size_t i = 0; i < runtime_.limits.listeners(); ++i) {
    in.active_by_listener.push_back(runtime_.limits.active(i));
    in.pending_by_listener.push_back(runtime_.limits.pending(i));
  }
  if (runtime_.limits.sources().enabled()) in.sources = runtime_.limits.sources().sources();
  if (const auto p = policy_.current()) {
    in.policy_version = p->version();
    in.policy_rules = p->rule_count();
  }
  in.audit = audit_.stats();
  for (const auto& [where, next] : crl_next_updates()) {
    const auto t = next.empty() ? std::nullopt : clock::parse_rfc3339(next);
    if (!t) continue;
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(t->time_since_epoch());
    if (!in.crl_next_update || seconds.count() < *in.crl_next_update) {
      in.crl_next_update = seconds.count();
    }
  }
  return runtime_.metrics.render(in);
}

std::optional<std::string> Gateway::not_ready_reason() const {
  if (!started_) return "starting";
  if (draining_) return "draining";
  if (!policy_.current()) return "no policy loaded";
  if (!audit_.healthy()) return "audit log unavailable";
  const auto now = std::chrono::system_clock::now();
  for (const auto& [where, next] : crl_next_updates()) {
    if (auto why = crl_not_ready_reason(where, next, now)) return why;
  }
  return std::nullopt;
}

std::string Gateway::policy_json() const {
  boost::json::object o;
  const auto p = policy_.current();
  o["version"] = p ? p->version() : "";
  o["commit"] = p ? p->git_commit() : "";
  o["loaded_at"] = p ? clock::format_rfc3339(p->loaded_at()) : "";
  o["rule_count"] = p ? p->rule_count() : 0;
  o["dir"] = policy_.dir().string();
  if (last_reload_) {
    o["last_reload"] = to_json(*last_reload_);
  } else {
    o["last_reload"] = {{"result", "none"}, {"errors", boost::json::array{}}};
  }
  return boost::json::serialize(o);
}

}  // namespace egress::core
