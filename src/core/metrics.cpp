#include "core/metrics.hpp"

#include <fmt/format.h>

#include "admin/prometheus_text.hpp"

namespace egress::core {

void Histogram::observe(std::chrono::nanoseconds d) noexcept {
  const double s = std::chrono::duration<double>(d).count();
  std::size_t i = 0;
  while (i < kBounds.size() && s > kBounds[i]) ++i;
  buckets_[i].add();
  count_.add();
  sum_ns_.add(d.count() > 0 ? static_cast<std::uint64_t>(d.count()) : 0);
}

WorkerMetrics::WorkerMetrics(std::size_t listeners)
    : decisions_(new Counter[listeners * base::kReasonCount * 2]),
      closes_(new Counter[listeners * base::kReasonCount]),
      tls_(new Counter[listeners * base::kReasonCount]),
      names_(new Counter[listeners * kNameSources * kNameVerdicts]),
      proxy_local_(new Counter[listeners]) {}

Metrics::Metrics(std::vector<std::string> listener_names, unsigned workers)
    : listener_names_(std::move(listener_names)) {
  for (unsigned i = 0; i < workers; ++i) {
    workers_.push_back(std::make_unique<WorkerMetrics>(listener_names_.size()));
  }
}

namespace {

void render_histogram(std::string& out, std::string_view name, std::string_view help,
                      const std::vector<const Histogram*>& hs) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} histogram\n", name, help, name);
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i <= Histogram::kBounds.size(); ++i) {
    for (const Histogram* h : hs) cumulative += h->bucket(i);
    if (i < Histogram::kBounds.size()) {
      fmt::format_to(std::back_inserter(out), "{}_bucket{{le=\"{}\"}} {}\n", name,
                     Histogram::kBounds[i], cumulative);
    } else {
      fmt::format_to(std::back_inserter(out), "{}_bucket{{le=\"+Inf\"}} {}\n", name, cumulative);
    }
  }
  std::uint64_t count = 0;
  std::uint64_t sum_ns = 0;
  for (const Histogram* h : hs) {
    count += h->count();
    sum_ns += h->sum_ns();
  }
  fmt::format_to(std::back_inserter(out), "{}_sum {:.9f}\n{}_count {}\n", name,
                 static_cast<double>(sum_ns) / 1e9, name, count);
}

}  // namespace

std::string Metrics::render(const ScrapeInputs& in) const {
  std::string out;
  out.reserve(8192);
  auto put = [&out]<typename... T>(fmt::format_string<T...> f, T&&... args) {
    fmt::format_to(std::back_inserter(out), f, std::forward<T>(args)...);
  };
  const std::size_t nl = listener_names_.size();

  put("# HELP egressd_connections_total Connection decisions by listener, decision and reason.\n"
      "# TYPE egressd_connections_total counter\n");
  for (std::size_t l = 0; l < nl; ++l) {
    for (std::size_t r = 1; r < base::kReasonCount; ++r) {
      if (!is_decision_reason(static_cast<base::Reason>(r))) continue;
      for (int allow = 0; allow < 2; ++allow) {
        std::uint64_t v = 0;
        for (const auto& w : workers_)
          v += w->decisions_[(l * base::kReasonCount + r) * 2 + allow].get();
        if (v == 0) continue;
        put("egressd_connections_total{{listener=\"{}\",decision=\"{}\",reason=\"{}\"}} {}\n",
            admin::escape_label_value(listener_names_[l]), allow ? "allow" : "deny",
            to_string(static_cast<base::Reason>(r)), v);
      }
    }
  }
  put("# HELP egressd_connections_closed_total Allowed connections closed, by listener and "
      "reason.\n# TYPE egressd_connections_closed_total counter\n");
  for (std::size_t l = 0; l < nl; ++l) {
    for (std::size_t r = 1; r < base::kReasonCount; ++r) {
      std::uint64_t v = 0;
      for (const auto& w : workers_) v += w->closes_[l * base::kReasonCount + r].get();
      if (v == 0) continue;
      put("egressd_connections_closed_total{{listener=\"{}\",reason=\"{}\"}} {}\n",
          admin::escape_label_value(listener_names_[l]), to_string(static_cast<base::Reason>(r)),
          v);
    }
  }
  put("# HELP egressd_tls_handshakes_total TLS handshakes by listener and result.\n"
      "# TYPE egressd_tls_handshakes_total counter\n");
  for (std::size_t l = 0; l < nl; ++l) {
    for (std::size_t r = 0; r < base::kReasonCount; ++r) {
      std::uint64_t v = 0;
      for (const auto& w : workers_) v += w->tls_[l * base::kReasonCount + r].get();
      if (v == 0) continue;
      put("egressd_tls_handshakes_total{{listener=\"{}\",result=\"{}\"}} {}\n",
          admin::escape_label_value(listener_names_[l]),
          r == 0 ? "ok" : to_string(static_cast<base::Reason>(r)), v);
    }
  }
  put("# HELP egressd_name_verifications_total Connections the name step ran for (a hostname "
      "rule could match), by listener, where the name came from and what DNS said of it.\n"
      "# TYPE egressd_name_verifications_total counter\n");
  for (std::size_t l = 0; l < nl; ++l) {
    for (std::size_t src = 0; src < WorkerMetrics::kNameSources; ++src) {
      for (std::size_t ver = 0; ver < WorkerMetrics::kNameVerdicts; ++ver) {
        std::uint64_t v = 0;
        for (const auto& w : workers_)
          v += w->names_[(l * WorkerMetrics::kNameSources + src) * WorkerMetrics::kNameVerdicts +
                         ver]
                   .get();
        if (v == 0) continue;
        put("egressd_name_verifications_total{{listener=\"{}\",source=\"{}\",result=\"{}\"}} "
            "{}\n",
            admin::escape_label_value(listener_names_[l]),
            audit::to_string(static_cast<audit::NameSource>(src)),
            audit::to_string(static_cast<audit::NameVerified>(ver)), v);
      }
    }
  }
  put("# HELP egressd_proxy_local_connections_total PROXY protocol LOCAL connections (a load "
      "balancer's health check) from trusted sources, closed without a decision record.\n"
      "# TYPE egressd_proxy_local_connections_total counter\n");
  for (std::size_t l = 0; l < nl; ++l) {
    std::uint64_t v = 0;
    for (const auto& w : workers_) v += w->proxy_local_[l].get();
    if (v == 0) continue;
    put("egressd_proxy_local_connections_total{{listener=\"{}\"}} {}\n",
        admin::escape_label_value(listener_names_[l]), v);
  }
  put("# HELP egressd_active_connections Connections currently open.\n"
      "# TYPE egressd_active_connections gauge\n");
  for (std::size_t l = 0; l < nl && l < in.active_by_listener.size(); ++l) {
    put("egressd_active_connections{{listener=\"{}\"}} {}\n",
        admin::escape_label_value(listener_names_[l]), in.active_by_listener[l]);
  }
  put("# HELP egressd_pending_connections Connections accepted and not yet decided (TLS "
      "handshake, peek), counted against limits.max_pending.\n"
      "# TYPE egressd_pending_connections gauge\n");
  for (std::size_t l = 0; l < nl && l < in.pending_by_listener.size(); ++l) {
    put("egressd_pending_connections{{listener=\"{}\"}} {}\n",
        admin::escape_label_value(listener_names_[l]), in.pending_by_listener[l]);
  }
  if (in.sources) {
    put("# HELP egressd_connection_sources Source addresses with live connections, counted "
        "against limits.per_source.\n"
        "# TYPE egressd_connection_sources gauge\negressd_connection_sources {}\n",
        *in.sources);
  }
  std::uint64_t up = 0;
  std::uint64_t down = 0;
  for (const auto& w : workers_) {
    up += w->bytes_up_.get();
    down += w->bytes_down_.get();
  }
  put("# HELP egressd_bytes_total Bytes relayed, by direction (up = client to upstream).\n"
      "# TYPE egressd_bytes_total counter\n"
      "egressd_bytes_total{{direction=\"up\"}} {}\negressd_bytes_total{{direction=\"down\"}} {}\n",
      up, down);

  std::vector<const Histogram*> hs;
  for (const auto& w : workers_) hs.push_back(&w->decision_latency_);
  render_histogram(out, "egressd_decision_duration_seconds",
                   "Time from accept to the policy decision (filters and TLS handshake included).",
                   hs);
  hs.clear();
  for (const auto& w : workers_) hs.push_back(&w->connect_latency_);
  render_histogram(out, "egressd_upstream_connect_duration_seconds",
                   "Time to establish upstream connections that succeeded.", hs);

  put("# HELP egressd_policy_reloads_total Reloads (SIGHUP) by result: ok only when every part "
      "(policy, TLS material, CRL) succeeded.\n"
      "# TYPE egressd_policy_reloads_total counter\n"
      "egressd_policy_reloads_total{{result=\"ok\"}} {}\n"
      "egressd_policy_reloads_total{{result=\"failed\"}} {}\n",
      reloads_ok_.get(), reloads_failed_.get());
  put("# HELP egressd_reload_failures_total Reload parts that failed (the running state of that "
      "part stayed).\n"
      "# TYPE egressd_reload_failures_total counter\n");
  for (std::size_t i = 0; i < kReloadParts.size(); ++i) {
    put("egressd_reload_failures_total{{part=\"{}\"}} {}\n", kReloadParts[i],
        reload_failures_[i].get());
  }
  if (in.crl_next_update) {
    put("# HELP egressd_tls_crl_next_update_timestamp_seconds The earliest nextUpdate of the "
        "running CRLs (Unix time); past it every client certificate is refused.\n"
        "# TYPE egressd_tls_crl_next_update_timestamp_seconds gauge\n"
        "egressd_tls_crl_next_update_timestamp_seconds {}\n",
        *in.crl_next_update);
  }
  put("# HELP egressd_policy_info The running policy (value 1).\n"
      "# TYPE egressd_policy_info gauge\n");
  if (!in.policy_version.empty()) {
    put("egressd_policy_info{{version=\"{}\"}} 1\n", admin::escape_label_value(in.policy_version));
  }
  put("# HELP egressd_policy_rules Rules in the running policy.\n"
      "# TYPE egressd_policy_rules gauge\negressd_policy_rules {}\n",
      in.policy_rules);
  if (in.audit) {
    const audit::Stats& a = *in.audit;
    put("# HELP egressd_audit_records_written_total Audit records handed to the kernel.\n"
        "# TYPE egressd_audit_records_written_total counter\n"
        "egressd_audit_records_written_total {}\n"
        "# HELP egressd_audit_records_dropped_total Audit records dropped (on_overflow: drop).\n"
        "# TYPE egressd_audit_records_dropped_total counter\n"
        "egressd_audit_records_dropped_total {}\n"
        "# HELP egressd_audit_write_errors_total Failed audit writes.\n"
        "# TYPE egressd_audit_write_errors_total counter\n"
        "egressd_audit_write_errors_total {}\n"
        "# HELP egressd_audit_queue_depth Audit records waiting for the writer.\n"
        "# TYPE egressd_audit_queue_depth gauge\n"
        "egressd_audit_queue_depth {}\n"
        "# HELP egressd_audit_sink_healthy 1 while the audit sink accepts writes.\n"
        "# TYPE egressd_audit_sink_healthy gauge\n"
        "egressd_audit_sink_healthy {}\n",
        a.records_written, a.records_dropped, a.write_errors, a.queue_depth,
        a.sink_healthy ? 1 : 0);
  }
  return out;
}

}  // namespace egress::core
