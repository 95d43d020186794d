#pragma once

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/system_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/buffer_pool.hpp"
#include "core/connection.hpp"
#include "core/redecide.hpp"
#include "core/runtime.hpp"
#include "filters/chain.hpp"
#include "resolve/name_verifier.hpp"
#include "resolve/resolver.hpp"

namespace egress::tls {
class ServerContext;
}

namespace egress::core {

/// What one pass over a worker's relayed connections checks (core/redecide.hpp); each part may
/// be empty. A connection is checked against the CRLs, then the expired rules, then the policy;
/// the first that revokes it wins.
struct LiveCheck {
  /// A reloaded policy every connection is decided again with (policy_revoked); null: none
  /// (policy.on_change: keep, or the policy part failed).
  std::shared_ptr<const policy::Policy> policy;
  /// By listener index: a reloaded TLS context whose CRLs each client certificate is checked
  /// against (cert_revoked); null or missing: that listener's connections are not checked.
  std::vector<std::shared_ptr<const tls::ServerContext>> crls;
  /// Rules that just expired: the connections one of them allowed are decided again with
  /// `expiry_policy` (rule_expired).
  std::vector<std::string> expired;
  std::shared_ptr<const policy::Policy> expiry_policy;

  bool empty() const noexcept;
  /// Folds `newer`, requested while this one ran, into this one: the pass then starts again
  /// from the top with both (a newer policy or context replaces an older one).
  void merge(LiveCheck newer);
};

/// One worker thread: its own io_context, its own SO_REUSEPORT acceptor per listener, its own
/// resolver and name verifier (the `dns:` config; the name step of its chains verifies through
/// them), filter chains, relay buffers and metrics. A connection never changes worker.
class Worker {
 public:
  /// Binds this worker's acceptors (throws std::system_error naming the listener on failure),
  /// starts its resolver (throws std::runtime_error "dns: ..." when c-ares cannot start: egressd
  /// refuses to start rather than fail connections later) and builds its chains. Does not start
  /// the thread.
  Worker(unsigned index, Runtime& runtime);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  /// Starts the thread: accept loops run until stop_accepting().
  void start();
  /// Closes the acceptors (thread-safe; takes effect on the worker's thread).
  void stop_accepting();
  /// Force-closes every live connection (drain timeout). Thread-safe.
  void force_close_all();
  /// Connections re-decided per turn of the event loop: a continuation is posted after each
  /// slice, so other connections' I/O runs between them. 64, not 256: bench redecide_10k's
  /// longest round trip through a worker revoking 4,950 connections went from a median of 172 ms
  /// to 94 ms, the time to revoke them all unchanged (docs/performance.md).
  static constexpr std::size_t kRedecideSlice = 64;
  /// Re-decides every relayed connection of this worker with `policy` (core/redecide.hpp) on the
  /// worker's thread, kRedecideSlice at a time, and revokes those now denied
  /// (Connection::revoke: reset, `policy_revoked`). Connections linked meanwhile are decided by
  /// the new policy anyway. Calls `done` on the worker's thread once every connection was seen, or
  /// with the counts so far when a newer call supersedes this one. Thread-safe.
  void redecide(std::shared_ptr<const policy::Policy> policy,
                std::function<void(RedecideCounts)> done);
  /// The same pass with any checks (LiveCheck): reloaded CRLs (Connection::revoke with
  /// cert_revoked), expired rules (rule_expired), a reloaded policy (policy_revoked). A call
  /// made while a pass runs ends that pass (its `done` gets the counts so far) and starts one
  /// with both checks merged. Thread-safe.
  void recheck(LiveCheck check, std::function<void(RedecideCounts)> done);
  /// Arms (again) this worker's one expiry timer for the next `expires` of the running policy
  /// after the last firing: at that instant the connections the expiring rules allowed are
  /// re-decided (rule_expired), and the timer is armed for the next one. Called at start() and
  /// after every reload. Thread-safe.
  void watch_expiry();

  /// Lets the thread finish once nothing is left to do, and joins it.
  void join();

  /// Live connections on this worker (any thread; relaxed).
  std::size_t live() const noexcept { return live_count_.load(std::memory_order_relaxed); }
  /// Connections force-closed by force_close_all().
  std::size_t forced() const noexcept { return forced_count_.load(std::memory_order_relaxed); }

  // For the connection coroutines (worker thread only):
  unsigned index() const noexcept { return index_; }
  boost::asio::io_context& io() noexcept { return io_; }
  Runtime& runtime() noexcept { return runtime_; }
  BufferPool& buffers() noexcept { return buffers_; }
  WorkerMetrics& metrics() noexcept { return runtime_.metrics.worker(index_); }
  filters::FilterChain& chain(std::size_t listener) noexcept { return chains_[listener]; }
  /// The name verifier the chains' name steps fill (the answers held for later requests' Hosts).
  const resolve::NameVerifier& names() const noexcept { return *names_; }
  bool accepting() const noexcept { return accepting_; }
  void link(Connection& c) noexcept;
  void unlink(Connection& c) noexcept;

 private:
  unsigned index_;
  Runtime& runtime_;
  boost::asio::io_context io_{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::vector<boost::asio::ip::tcp::acceptor> acceptors_;
  // Declared before the chains, whose name steps use them, so they are destroyed after them.
  std::unique_ptr<resolve::Resolver> resolver_;
  std::unique_ptr<resolve::NameVerifier> names_;
  std::vector<filters::FilterChain> chains_;
  BufferPool buffers_;
  Connection* live_head_ = nullptr;
  std::atomic<std::size_t> live_count_{0};
  std::atomic<std::size_t> forced_count_{0};
  bool accepting_ = true;
  struct RedecideJob {
    LiveCheck check;
    std::function<void(RedecideCounts)> done;
    RedecideCounts counts;
    std::uint64_t generation = 0;
  };
  void start_recheck(LiveCheck check, std::function<void(RedecideCounts)> done);
  void redecide_slice(std::uint64_t generation);
  void finish_redecide();
  void arm_expiry();
  void on_expiry();
  std::optional<RedecideJob> redecide_job_;
  /// The next connection the running re-decision looks at (unlink() moves it past a leaving one).
  Connection* redecide_next_ = nullptr;
  std::uint64_t redecide_generation_ = 0;
  boost::asio::system_timer expiry_timer_{io_};
  /// Rules expiring after this instant are still to fire (the last firing, or the start).
  std::chrono::system_clock::time_point expiry_from_ = std::chrono::system_clock::now();
  std::uint64_t expiry_generation_ = 0;
  bool expiry_stopped_ = false;
  std::thread thread_;
};

}  // namespace egress::core
