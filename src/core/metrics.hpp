#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/audit_log.hpp"
#include "audit/record.hpp"
#include "base/reason.hpp"

namespace egress::core {

/// A counter written by one thread (its worker) and read by the scraper: a relaxed load + store
/// instead of a locked read-modify-write, because there is exactly one writer.
class Counter {
 public:
  void add(std::uint64_t n = 1) noexcept {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::uint64_t get() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

/// A latency histogram with fixed buckets (seconds: 100µs … 10s), single writer.
class Histogram {
 public:
  static constexpr std::array<double, 16> kBounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                     0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                                     1,      2.5,     5,      10};
  void observe(std::chrono::nanoseconds d) noexcept;
  /// Non-cumulative count of bucket i (kBounds.size() = +Inf).
  std::uint64_t bucket(std::size_t i) const noexcept { return buckets_[i].get(); }
  std::uint64_t count() const noexcept { return count_.get(); }
  std::uint64_t sum_ns() const noexcept { return sum_ns_.get(); }

 private:
  std::array<Counter, kBounds.size() + 1> buckets_{};
  Counter count_;
  Counter sum_ns_;
};

/// One worker's counters. Only that worker's thread writes; Metrics::render() sums all workers.
/// Labels are bounded: listener index (from the config), decision, and base::Reason.
class WorkerMetrics {
 public:
  explicit WorkerMetrics(std::size_t listeners);

  /// A connection.decision: `allow` with its reason.
  void decision(std::size_t listener, bool allow, base::Reason reason) noexcept {
    decisions_[index(listener, reason) * 2 + (allow ? 1 : 0)].add();
  }
  /// A connection.close of an allowed connection.
  void closed(std::size_t listener, base::Reason reason) noexcept {
    closes_[index(listener, reason)].add();
  }
  /// A TLS handshake result on a listener: Reason{} (0) = ok, else the deny reason.
  void tls_handshake(std::size_t listener, base::Reason result) noexcept {
    tls_[index(listener, result)].add();
  }
  /// A connection the name step ran for: where its name came from and what DNS said of it (the
  /// decision record's name_source and name_verified).
  void name_step(std::size_t listener, audit::NameSource source,
                 audit::NameVerified verified) noexcept {
    names_[(listener * kNameSources + static_cast<std::size_t>(source)) * kNameVerdicts +
           static_cast<std::size_t>(verified)]
        .add();
  }
  /// A trusted load balancer's PROXY LOCAL connection (a health check), closed without a record.
  void proxy_local(std::size_t listener) noexcept { proxy_local_[listener].add(); }
  void bytes(std::uint64_t up, std::uint64_t down) noexcept {
    bytes_up_.add(up);
    bytes_down_.add(down);
  }
  /// Accept → decision (all filters, TLS handshake included).
  void decision_latency(std::chrono::nanoseconds d) noexcept { decision_latency_.observe(d); }
  /// Upstream connect start → connected.
  void connect_latency(std::chrono::nanoseconds d) noexcept { connect_latency_.observe(d); }

 private:
  friend class Metrics;
  std::size_t index(std::size_t listener, base::Reason reason) const noexcept {
    return listener * base::kReasonCount + static_cast<std::size_t>(reason);
  }
  std::unique_ptr<Counter[]> decisions_;
  std::unique_ptr<Counter[]> closes_;
  std::unique_ptr<Counter[]> tls_;
  static constexpr std::size_t kNameSources = 4;   // audit::NameSource
  static constexpr std::size_t kNameVerdicts = 4;  // audit::NameVerified
  std::unique_ptr<Counter[]> names_;
  std::unique_ptr<Counter[]> proxy_local_;  ///< per listener
  Counter bytes_up_;
  Counter bytes_down_;
  Histogram decision_latency_;
  Histogram connect_latency_;
};

/// What a scrape needs besides the workers' counters.
struct ScrapeInputs {
  std::uint64_t active_connections = 0;
  std::vector<std::uint64_t> active_by_listener;  ///< indexed like the listeners
  /// Accepted, not yet decided (limits.max_pending), indexed like the listeners.
  std::vector<std::uint64_t> pending_by_listener;
  /// Source addresses (IPv6: prefixes) with live connections; nullopt when limits.per_source
  /// is off (nothing is counted then).
  std::optional<std::uint64_t> sources;
  std::string policy_version;  ///< empty when none is loaded
  std::size_t policy_rules = 0;
  std::optional<audit::Stats> audit;
  /// The earliest nextUpdate of the running CRLs (Unix seconds); nullopt without CRLs.
  std::optional<std::int64_t> crl_next_update;
};

/// All metrics of the gateway: the workers' counters plus gateway-wide ones.
class Metrics {
 public:
  Metrics(std::vector<std::string> listener_names, unsigned workers);

  WorkerMetrics& worker(unsigned i) { return *workers_[i]; }

  /// Called by the control thread after a SIGHUP reload: ok when every part succeeded.
  void policy_reload(bool ok) noexcept { (ok ? reloads_ok_ : reloads_failed_).add(); }

  /// The `part` label values of egressd_reload_failures_total.
  static constexpr std::array<std::string_view, 3> kReloadParts = {"policy", "tls", "crl"};
  /// A reload part that failed (an index into kReloadParts). Control thread.
  void reload_part_failed(std::size_t part) noexcept { reload_failures_[part].add(); }

  /// Prometheus text exposition format 0.0.4.
  std::string render(const ScrapeInputs& in) const;

 private:
  std::vector<std::string> listener_names_;
  std::vector<std::unique_ptr<WorkerMetrics>> workers_;
  Counter reloads_ok_;
  Counter reloads_failed_;
  std::array<Counter, kReloadParts.size()> reload_failures_{};
};

}  // namespace egress::core
