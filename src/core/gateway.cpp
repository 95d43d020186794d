#include "core/gateway.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json.hpp>
#include <csignal>

#include "clock/rfc3339.hpp"
#include "core/listener.hpp"
#include "policy/policy.hpp"

namespace egress::core {

namespace asio = boost::asio;

namespace {

std::vector<net::Endpoint> own_endpoints(const config::GatewayConfig& c) {
  std::vector<net::Endpoint> out;
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
  if (!loop_guard_.refresh()) spdlog::warn("cannot read interface addresses (getifaddrs)");
  for (const auto& l : runtime_.listeners) {
    runtime_.chains.push_back(
        std::make_unique<filters::ChainFactory>(l, filters::ChainServices{policy_, loop_guard_}));
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
                 runtime_.chains[i]->build().describe());
  }
  start.workers = config_.workers;
  spdlog::info("workers: {}", config_.workers);
  if (policy) {
    spdlog::info("policy {} loaded from {}: {} rules", policy->version(), policy_.dir().string(),
                 policy->rule_count());
  }
  audit_.submit({audit::Clock::now(), std::move(start)});

  control_.run();
  signals.cancel();
  for (auto& w : workers_) w->join();
  return 0;
}

void Gateway::reload() {
  auto result = policy_.reload();
  last_reload_at_ = std::chrono::system_clock::now();
  audit::PolicyReload record;
  const auto running = policy_.current();
  record.version = running ? running->version() : "";
  record.rule_count = running ? running->rule_count() : 0;
  for (const auto& w : result.warnings) spdlog::warn("policy: {}", w.to_string());
  if (!result.errors.empty()) {
    record.ok = false;
    last_reload_result_ = "failed";
    last_reload_errors_.clear();
    for (const auto& e : result.errors) {
      spdlog::error("policy reload: {}", e.to_string());
      record.errors.push_back(e.to_string());
      last_reload_errors_.push_back(e.to_string());
    }
    spdlog::error("policy reload failed ({} errors); keeping policy {}", result.errors.size(),
                  record.version);
    runtime_.metrics.policy_reload(false);
  } else {
    record.ok = true;
    last_reload_result_ = "ok";
    last_reload_errors_.clear();
    spdlog::info("policy reloaded: {} ({} rules)", record.version, record.rule_count);
    runtime_.metrics.policy_reload(true);
  }
  audit_.submit({audit::Clock::now(), std::move(record)});

  if (!loop_guard_.refresh()) spdlog::warn("cannot read interface addresses (getifaddrs)");
  for (std::size_t i = 0; i < runtime_.chains.size(); ++i) {
    for (const auto& e : runtime_.chains[i]->reload()) {
      spdlog::error("listener {}: reload: {}", runtime_.listeners[i].name(), e);
    }
  }
  for (auto& hook : on_reload) hook();
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
  return runtime_.metrics.render(in);
}

std::optional<std::string> Gateway::not_ready_reason() const {
  if (!started_) return "starting";
  if (draining_) return "draining";
  if (!policy_.current()) return "no policy loaded";
  if (!audit_.healthy()) return "audit log unavailable";
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
  boost::json::object last;
  last["result"] = last_reload_result_;
  if (last_reload_at_.time_since_epoch().count() != 0)
    last["at"] = clock::format_rfc3339(last_reload_at_);
  boost::json::array errs;
  for (const auto& e : last_reload_errors_) errs.emplace_back(e);
  last["errors"] = std::move(errs);
  o["last_reload"] = std::move(last);
  return boost::json::serialize(o);
}

}  // namespace egress::core
