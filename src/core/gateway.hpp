#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "audit/audit_log.hpp"
#include "config/config.hpp"
#include "core/reload_report.hpp"
#include "core/runtime.hpp"
#include "core/worker.hpp"
#include "policy/store.hpp"
#include "upstream/address_monitor.hpp"
#include "upstream/loop_guard.hpp"

namespace egress::core {

/// The running gateway: workers, listeners, the policy store, the audit log, and the control
/// thread's signal handling (SIGTERM/SIGINT drain, SIGHUP reload, SIGUSR1 audit reopen).
class Gateway {
 public:
  /// Builds everything and binds every listener (workers x listeners acceptors). `policy` must
  /// already hold a policy. Throws std::runtime_error / std::system_error with a clear message.
  Gateway(const config::GatewayConfig& config, policy::PolicyStore& policy, audit::AuditLog& audit);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  /// The control thread's io_context: signals, drain, and the admin server (the metrics_text,
  /// not_ready_reason and policy_json callbacks must run on this thread).
  boost::asio::io_context& control() noexcept { return control_; }

  /// Starts the workers and handles signals until drained; returns the process exit code.
  int run();

  /// SIGHUP: reloads the policy, then each TLS listener's material (cert, key, client_ca, crl:
  /// one context, swapped whole); a part that fails keeps its running state while the others
  /// are applied. Then writes ONE policy.reload record whose result is ok only when every part
  /// succeeded, logs and counts each failed part, and keeps the report for GET /policy. Also
  /// re-reads the local addresses (they are followed with rtnetlink anyway). Control thread.
  void reload();

  /// SIGTERM/SIGINT: stop accepting, wait up to drain_timeout, then force-close. Control thread.
  void begin_drain();

  /// Prometheus text for GET /metrics.
  std::string metrics_text() const;
  /// nullopt when ready: listeners bound and accepting, policy loaded, audit healthy, and no
  /// listener running on a CRL past its nextUpdate (checked against the clock at each call).
  std::optional<std::string> not_ready_reason() const;
  /// JSON for GET /policy.
  std::string policy_json() const;

 private:
  /// Each TLS listener's earliest CRL nextUpdate as running now: ("listeners[i].tls.crl",
  /// RFC 3339 or empty when it has no CRL).
  std::vector<std::pair<std::string, std::string>> crl_next_updates() const;
  /// How long a reload waits for the workers' re-decision of their live connections.
  static constexpr std::chrono::milliseconds kRedecideWait{2000};
  struct LiveRecheck {
    RedecideCounts counts;
    unsigned unanswered = 0;  ///< workers that did not answer within kRedecideWait
  };
  /// After a reload: every worker checks its relayed connections (Worker::recheck: reloaded
  /// CRLs, and the new policy with policy.on_change: reevaluate); waits up to kRedecideWait for
  /// their counts. Control thread.
  LiveRecheck recheck_live(LiveCheck check);
  void poll_drain();
  void finish();

  const config::GatewayConfig& config_;
  policy::PolicyStore& policy_;
  audit::AuditLog& audit_;
  upstream::LoopGuard loop_guard_;
  Runtime runtime_;
  std::vector<std::unique_ptr<Worker>> workers_;
  boost::asio::io_context control_{1};
  /// Keeps loop_guard_'s local addresses current (rtnetlink), on control_.
  std::unique_ptr<upstream::AddressMonitor> addresses_;
  std::unique_ptr<boost::asio::steady_timer> drain_timer_;
  bool draining_ = false;
  bool forced_ = false;
  bool started_ = false;
  std::size_t drained_at_start_ = 0;
  std::chrono::steady_clock::time_point drain_deadline_;
  std::optional<ReloadReport> last_reload_;  ///< nullopt until the first SIGHUP
};

}  // namespace egress::core
