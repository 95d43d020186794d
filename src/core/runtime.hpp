#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "audit/audit_log.hpp"
#include "config/config.hpp"
#include "core/metrics.hpp"
#include "core/via_tunnel.hpp"
#include "filters/chain.hpp"
#include "filters/connection_limits.hpp"
#include "filters/listener_info.hpp"
#include "policy/store.hpp"
#include "resolve/held_answers.hpp"

namespace egress::core {

/// Gateway-wide state the workers share. Built once at startup, outlives every worker; apart
/// from the atomics and the thread-safe members (audit log, policy store inside the chains) it is
/// read-only while workers run.
struct Runtime {
  Runtime(const config::GatewayConfig& config, audit::AuditLog& audit,
          const policy::PolicyStore& policy);

  const config::GatewayConfig& config;
  std::vector<filters::ListenerInfo> listeners;  ///< indexed like config.listeners
  filters::ConnectionLimits limits;
  Metrics metrics;
  audit::AuditLog& audit;
  const policy::PolicyStore& policy;
  /// The DNS answers every worker's name verifier holds and shares (`dns:`; thread-safe), so a
  /// name's min_ttl window and refresh rate limit are the gateway's, not a worker's.
  resolve::HeldAnswers held_answers;
  /// The egressd agent's gateway (`upstream.via`); null when connections are dialled directly.
  std::unique_ptr<ViaTunnel> via;
  /// Per listener, set by the gateway before workers start.
  std::vector<std::unique_ptr<filters::ChainFactory>> chains;

  /// Connection ids: unique per process run, in accept order per worker.
  std::uint64_t next_connection_id() noexcept {
    return next_id_.fetch_add(1, std::memory_order_relaxed);
  }

 private:
  std::atomic<std::uint64_t> next_id_{1};
};

}  // namespace egress::core
