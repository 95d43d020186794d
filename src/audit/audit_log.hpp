#pragma once

// What the data path uses of the audit library: the log it submits records to, and its options.
// The audit library implements the writer behind it.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "audit/record.hpp"

namespace egress::audit {

/// Options, filled from the gateway config's `audit:` section.
struct Options {
  std::string path = "audit.jsonl";  ///< "-" = stdout
  bool write_ahead = true;
  enum class Overflow { block, drop } on_overflow = Overflow::block;
  enum class OnError { fail_closed, continue_ } on_error = OnError::fail_closed;
  enum class Fsync { none, interval } fsync = Fsync::none;
  std::chrono::milliseconds fsync_interval{1000};
  std::size_t queue_capacity = 65536;
  /// close() waits at most this long for a failing sink to take the records still queued; what
  /// it cannot write by then is counted as dropped and logged with its number.
  std::chrono::milliseconds flush_timeout{5000};
  /// `audit.gateway_id`: the `gateway` field of every record, so a SIEM that collects several
  /// gateways' logs knows which wrote what. Empty: the host name (gethostname).
  std::string gateway_id;
  /// This run's instance id, the prefix of every `conn_id` ("<instance>-<counter>") and the
  /// `instance` of gateway.start. Empty: 16 random hex digits, new at every start (tests set it).
  std::string instance_id;
};

/// Counters for /metrics and /readyz. Monotonic except queue_depth.
struct Stats {
  std::uint64_t records_written = 0;
  std::uint64_t records_dropped = 0;
  std::uint64_t write_errors = 0;
  std::uint64_t queue_depth = 0;
  bool sink_healthy = true;
};

/// What became of a submitted record: the argument of its WrittenCallback.
struct WriteOutcome {
  enum Kind : std::uint8_t {
    /// The record's whole line reached the kernel (it is in the file, after every record
    /// submitted before it).
    written,
    /// Not written because the sink fails (or the log is closed): it stays queued and is written,
    /// with no second call, when the sink recovers, or counted as dropped at close(); a record
    /// that found the queue full while the sink fails is dropped at once (counted). Either way
    /// the caller must act as if it will never be written.
    failed,
    /// Dropped by `on_overflow: drop` (the queue was full, the sink working): counted, reported
    /// in the next record's `records_dropped`, never written.
    dropped,
  };
  Kind kind = failed;

  /// Written or not, for callers that need no more (callbacks taking a `bool`).
  constexpr operator bool() const noexcept {
    return kind == written;
  }  // NOLINT(google-explicit-constructor)
};

/// Called exactly once per record, with its WriteOutcome. While the sink is failing a record
/// submitted is told `failed` at once, inside submit(): nobody waits for a disk to come back.
/// Called on the writer thread, or on the submitting thread: inside submit() for a drop, a
/// failing sink, and when the audit file is a regular file and the writer thread is idle (then
/// submit() does the writer's work itself and calls the callbacks of what it wrote, its own and
/// any queued before it, possibly other threads'). Must be cheap and must not assume the thread:
/// post elsewhere.
using WrittenCallback = std::function<void(WriteOutcome)>;

/// Write-ahead (audit.write_ahead): whether an allowed connection may connect upstream once its
/// decision record's callback has answered. `written`: yes. `failed`: only with on_error
/// `continue` (its record may still be written later, or be lost with the sink: that is what
/// `continue` means); with fail_closed no, even when the sink has recovered by the time the
/// connection looks (the record is still queued behind the failed write), so health is not asked.
/// `dropped` (on_overflow: drop, the sink working): yes, that is what `drop` chose; the loss is
/// counted and reported in the next record.
constexpr bool may_connect(WriteOutcome outcome, Options::OnError on_error) noexcept {
  switch (outcome.kind) {
    case WriteOutcome::written:
    case WriteOutcome::dropped:
      return true;
    case WriteOutcome::failed:
      break;
  }
  return on_error == Options::OnError::continue_;
}

/// The audit log: a bounded queue drained by one writer thread. Thread-safe.
class AuditLog {
 public:
  virtual ~AuditLog() = default;

  /// Queues a record; cheap (one mutex, no encoding: the writer thread encodes and hashes).
  /// With on_overflow=block this waits for room; with drop it counts the drop and calls
  /// on_written(false). While the sink is failing, a full queue drops in both modes (a dead disk
  /// must not freeze the workers). Drops appear as `records_dropped` in the next record written.
  /// on_written may be empty.
  virtual void submit(Record record, WrittenCallback on_written = {}) = 0;

  /// False while the sink is failing (with on_error=fail_closed new connections are then
  /// denied with reason "audit_unavailable").
  virtual bool healthy() const noexcept = 0;

  /// Reopen the file (SIGUSR1, for logrotate). Thread-safe; takes effect on the writer thread,
  /// before the next batch. Takes a mutex: call it from an asio::signal_set handler, never from
  /// a raw signal handler. The chain continues: the new file's first record names the hash of
  /// the old file's last line. If the path cannot be opened, writing continues to the old file.
  virtual void reopen() = 0;

  /// Writes everything queued, then stops the writer thread. Idempotent.
  virtual void close() = 0;

  virtual Stats stats() const noexcept = 0;

  virtual const Options& options() const noexcept = 0;
};

/// Opens the sink and starts the writer thread. Throws std::runtime_error with a clear message
/// when the sink cannot be opened.
std::unique_ptr<AuditLog> open_audit_log(const Options& options);

}  // namespace egress::audit
