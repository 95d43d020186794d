#include "audit/writer.hpp"

#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "audit/encoder.hpp"
#include "audit/origin.hpp"

namespace egress::audit {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Records encoded and written per write(2): large enough to amortise the syscall, small enough
// that write-ahead callers are not held behind a huge batch.
constexpr std::size_t kMaxBatchRecords = 512;
constexpr std::size_t kMaxBatchBytes = 1 << 20;
// A submitter that finds the writer idle writes at most this many queued records itself (plus
// its own); a longer queue is the writer thread's work.
constexpr std::size_t kMaxCallerRecords = 64;
// ... and at most this many more batches that other threads queued while it was writing.
constexpr int kMaxCallerRounds = 4;
constexpr std::chrono::milliseconds kFirstRetry{20};
// A failing sink is retried at most this far apart: space freed on a full disk is used (and new
// connections allowed again) within about this long.
constexpr std::chrono::milliseconds kMaxRetry{250};

struct Item {
  Record record;
  WrittenCallback on_written;
};

bool is_regular_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// The queue is two vectors: submitters append to incoming_, the writer swaps it with the batch it
// has finished. Both keep their capacity, so a submit in the steady state allocates nothing and
// holds the mutex for one move. The bound counts both: incoming_ plus what the writer holds and
// has not yet written.
//
// Caller writes (issue 7): when the sink is a regular file and the writer thread is idle (asleep,
// nothing pending, the queue short), submit() takes the writer's role for one batch: it encodes
// the queued records and its own, extends the chain and writes them with one write(2) on the
// calling thread, under a token (direct_active_) that keeps the writer thread out of its state.
// A write-ahead connection then costs no wake-up of the writer and no post back: the hand-off was
// two context switches and three futex calls per connection. Pipes, FIFOs and stdout are never
// written by callers (they can block for as long as the reader likes, and EPIPE would raise
// SIGPIPE on a worker); a busy writer, a pending retry, a reopen or close keep the hand-off.
class WriterAuditLog final : public AuditLog {
 public:
  WriterAuditLog(const Options& options, std::unique_ptr<Sink> sink, ChainState start,
                 bool caller_writes)
      : options_(options),
        sink_(std::move(sink)),
        caller_writes_(caller_writes),
        direct_ok_(caller_writes),
        chain_(std::move(start)) {
    if (options_.queue_capacity == 0) options_.queue_capacity = 1;
    if (options_.gateway_id.empty()) options_.gateway_id = host_name();
    if (options_.instance_id.empty()) options_.instance_id = random_instance_id();
    thread_ = std::thread([this] { run(); });
  }

  ~WriterAuditLog() override { close(); }

  // AuditLog
  void submit(Record record, WrittenCallback on_written) override {
    std::unique_lock lk(mu_);
    while (!closed_ && incoming_.size() + in_hand_ >= options_.queue_capacity) {
      // A failing sink never drains the queue; blocking then would freeze the workers with
      // nothing to show for it, so while unhealthy a full queue drops (counted) in either mode.
      if (options_.on_overflow == Options::Overflow::drop ||
          !healthy_.load(std::memory_order_relaxed)) {
        break;
      }
      not_full_.wait(lk);
    }
    if (closed_ || incoming_.size() + in_hand_ >= options_.queue_capacity) {
      // A full queue of a working sink in drop mode is on_overflow's choice; anything else
      // (closed, or the sink failing) is a failure the caller must treat as such.
      const bool by_choice = !closed_ && healthy_.load(std::memory_order_relaxed) &&
                             options_.on_overflow == Options::Overflow::drop;
      lk.unlock();
      count_drop(std::move(on_written), by_choice ? WriteOutcome::dropped : WriteOutcome::failed);
      return;
    }
    // While the sink fails, nothing new is written before the failed write's retry succeeds: a
    // write-ahead caller is told `failed` at once instead of waiting for the disk to come back. The
    // record stays queued and is written on recovery. (Records queued before the failure are
    // told by the writer thread, see fail().)
    WrittenCallback tell_now;
    if (!healthy_.load(std::memory_order_relaxed)) {
      tell_now = std::exchange(on_written, WrittenCallback{});
    } else if (direct_ok_ && writer_idle_ && !direct_active_ && !reopen_requested_ &&
               incoming_.size() < kMaxCallerRecords) {
      write_here(lk, Item{std::move(record), std::move(on_written)});
      return;
    }
    incoming_.push_back(Item{std::move(record), std::move(on_written)});
    depth_.store(incoming_.size() + in_hand_, std::memory_order_relaxed);
    // A submitter writing for the writer takes this record too, or wakes the writer when done.
    const bool wake = writer_waiting_ && !direct_active_;
    lk.unlock();
    if (wake) not_empty_.notify_one();
    if (tell_now) tell_now(WriteOutcome{WriteOutcome::failed});
  }

  bool healthy() const noexcept override { return healthy_.load(std::memory_order_relaxed); }

  void reopen() override {
    {
      std::lock_guard lk(mu_);
      reopen_requested_ = true;
    }
    not_empty_.notify_one();
  }

  void close() override {
    {
      std::lock_guard lk(mu_);
      closed_ = true;
    }
    not_empty_.notify_one();
    not_full_.notify_all();
    std::lock_guard join_lk(join_mu_);
    if (thread_.joinable()) thread_.join();
  }

  Stats stats() const noexcept override {
    Stats s;
    s.records_written = written_.load(std::memory_order_relaxed);
    s.records_dropped = dropped_.load(std::memory_order_relaxed);
    s.write_errors = write_errors_.load(std::memory_order_relaxed);
    s.queue_depth = depth_.load(std::memory_order_relaxed);
    s.sink_healthy = healthy_.load(std::memory_order_relaxed);
    return s;
  }

  const Options& options() const noexcept override { return options_; }

 private:
  void count_drop(WrittenCallback on_written, WriteOutcome::Kind why) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    unreported_drops_.fetch_add(1, std::memory_order_relaxed);
    if (on_written) on_written(WriteOutcome{why});
  }

  // Writes `item`, and what was queued before it, on the calling thread. Called with lk held
  // and the writer idle; returns with lk released.
  void write_here(std::unique_lock<std::mutex>& lk, Item item) {
    direct_active_ = true;
    batch_.clear();
    next_ = 0;
    batch_.swap(incoming_);  // queued first: the file keeps the order of submission
    batch_.push_back(std::move(item));
    in_hand_ = batch_.size();
    depth_.store(in_hand_, std::memory_order_relaxed);
    lk.unlock();
    for (int round = 1;; ++round) {
      while (pending_.empty() && !batch_done()) {
        encode_some();
        if (!flush_pending()) break;
      }
      lk.lock();
      // Records other threads queued during this write are written too: that is cheaper than
      // waking the writer thread for them (their callbacks post to their own executors).
      const bool more = round < kMaxCallerRounds && pending_.empty() && batch_done() &&
                        !incoming_.empty() && incoming_.size() < kMaxCallerRecords && !closed_ &&
                        !reopen_requested_ && healthy_.load(std::memory_order_relaxed);
      if (!more) break;
      batch_.clear();
      next_ = 0;
      batch_.swap(incoming_);
      in_hand_ += batch_.size();
      depth_.store(in_hand_, std::memory_order_relaxed);
      lk.unlock();
    }
    direct_active_ = false;
    const bool quiet = pending_.empty() && batch_done();
    writer_idle_ = quiet;
    // The writer sleeps on a deadline computed before this write: wake it when it has work (a
    // failed write's retry, records queued meanwhile, close, reopen) or a new fsync deadline.
    const bool wake =
        !quiet || !incoming_.empty() || closed_ || reopen_requested_ ||
        (dirty_ && options_.fsync == Options::Fsync::interval && !writer_has_deadline_);
    if (wake) rearm_ = true;
    const bool notify = wake || writer_wants_token_;
    lk.unlock();
    if (notify) not_empty_.notify_one();
  }

  // --- writer thread ---

  bool batch_done() const { return next_ >= batch_.size(); }

  void run() {
    // A stdout sink whose reader went away must fail like a full disk (EPIPE: unhealthy, fail
    // closed), not kill the gateway with SIGPIPE. SIGPIPE goes to the writing thread, so blocking
    // it here is enough and leaves the rest of the process alone.
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    for (;;) {
      bool do_reopen = false;
      bool stop = false;
      {
        std::unique_lock lk(mu_);
        const auto deadline = next_deadline();
        writer_waiting_ = true;
        writer_idle_ = pending_.empty() && batch_done();
        writer_has_deadline_ = deadline.has_value();
        // While a failed write waits for its retry, nothing new is encoded: records stay in the
        // bounded queue.
        const auto ready = [&] {
          return !direct_active_ && (closed_ || reopen_requested_ || rearm_ ||
                                     (pending_.empty() && (!batch_done() || !incoming_.empty())));
        };
        if (deadline) {
          not_empty_.wait_until(lk, *deadline, ready);
        } else {
          not_empty_.wait(lk, ready);
        }
        if (direct_active_) {
          // A deadline passed while a submitter holds the writer's state: wait for it.
          writer_wants_token_ = true;
          not_empty_.wait(lk, [&] { return !direct_active_; });
          writer_wants_token_ = false;
        }
        writer_waiting_ = false;
        writer_idle_ = false;
        writer_has_deadline_ = false;
        rearm_ = false;
        do_reopen = std::exchange(reopen_requested_, false);
        stop = closed_;
        if (pending_.empty() && batch_done() && !incoming_.empty()) {
          batch_.clear();
          next_ = 0;
          batch_.swap(incoming_);
          in_hand_ = batch_.size();
        }
      }

      if (do_reopen) reopen_sink();
      if (!pending_.empty() && (stop || SteadyClock::now() >= retry_at_)) flush_pending();
      while (pending_.empty() && !batch_done()) {
        encode_some();
        if (!flush_pending()) break;
      }
      maybe_sync(false);

      if (stop) {
        finish();
        return;
      }
    }
  }

  std::optional<SteadyClock::time_point> next_deadline() const {
    std::optional<SteadyClock::time_point> d;
    if (!pending_.empty()) d = retry_at_;
    if (dirty_ && options_.fsync == Options::Fsync::interval) {
      const auto at = last_sync_ + options_.fsync_interval;
      if (!d || at < *d) d = at;
    }
    return d;
  }

  // Encodes up to one write's worth of the batch into pending_, extending the chain.
  void encode_some() {
    const std::size_t end = std::min(batch_.size(), next_ + kMaxBatchRecords);
    for (; next_ < end && pending_.size() < kMaxBatchBytes; ++next_) {
      Item& item = batch_[next_];
      const std::size_t start = pending_.size();
      const ChainFields fields{chain_.seq + 1, chain_.prev,
                               unreported_drops_.exchange(0, std::memory_order_relaxed)};
      encode_record(item.record, fields, {options_.gateway_id, options_.instance_id}, pending_);
      hasher_.hex(std::string_view(pending_).substr(start), hash_);
      pending_ += '\n';
      chain_.seq = fields.seq;
      chain_.prev.assign(hash_.data(), hash_.size());
      pending_callbacks_.push_back(std::move(item.on_written));
      pending_ends_.push_back(pending_.size());
    }
  }

  // Writes pending_ (from pending_kept_ on). True when everything pending is now written.
  //
  // A write cut short (ENOSPC on a nearly full disk) keeps what it got in: the records whose
  // whole line reached the kernel are written (callback `written`, counted, queue slots freed)
  // and the rest is retried from where it stopped, so a disk with room for one record takes one
  // record (issue 17 item 11). The chain stays whole: the records were chained in this order when
  // they were encoded, and a line is only ever written after the one before it.
  bool flush_pending() {
    while (!pending_.empty()) {
      std::size_t kept = 0;
      const auto data = std::string_view(pending_).substr(pending_kept_);
      const std::error_code ec = sink_->write(data, kept);
      pending_kept_ += ec ? std::min(kept, data.size()) : data.size();
      const std::size_t acked = acknowledge_written();
      if (!ec) {
        pending_.clear();
        pending_callbacks_.clear();
        pending_ends_.clear();
        pending_kept_ = 0;
        pending_acked_ = 0;
        retry_delay_ = kFirstRetry;
        if (!healthy_.load(std::memory_order_relaxed)) {
          spdlog::info("audit: writing to {} again", sink_->name());
          healthy_.store(true, std::memory_order_relaxed);
        }
        return true;
      }
      write_errors_.fetch_add(1, std::memory_order_relaxed);
      // Some records got in: there may be room for more (the error may have been the kernel's
      // answer to the part that did not fit). Try the rest at once; a write that gets nothing in
      // waits for its retry.
      if (acked > 0) {
        retry_delay_ = kFirstRetry;  // room is coming back: the next retry comes soon
        continue;
      }
      fail(ec);
      return false;
    }
    return true;
  }

  // The records of pending_ whose whole line is now in the sink (ends <= pending_kept_): callback
  // `written`, counted, their queue slots given back. Returns how many.
  std::size_t acknowledge_written() {
    const std::size_t from = pending_acked_;
    while (pending_acked_ < pending_ends_.size() &&
           pending_ends_[pending_acked_] <= pending_kept_) {
      dirty_ = true;
      auto& cb = pending_callbacks_[pending_acked_++];
      if (cb) std::exchange(cb, WrittenCallback{})(WriteOutcome{WriteOutcome::written});
    }
    const std::size_t n = pending_acked_ - from;
    if (n == 0) return 0;
    written_.fetch_add(n, std::memory_order_relaxed);
    {
      std::lock_guard lk(mu_);
      in_hand_ -= n;
      depth_.store(incoming_.size() + in_hand_, std::memory_order_relaxed);
    }
    not_full_.notify_all();
    return n;
  }

  // A write got nothing in: unhealthy until a retry does.
  void fail(const std::error_code& ec) {
    std::vector<WrittenCallback> queued_behind;
    if (healthy_.exchange(false, std::memory_order_relaxed)) {
      spdlog::error("audit: cannot write to {}: {}", sink_->name(), ec.message());
      // Blocked submitters re-check: a full queue now drops. Taking the lock orders this
      // notification after a submitter's check of healthy_ and its wait.
      std::lock_guard lk(mu_);
      // Records queued behind the failed write are not written before it: their callers are
      // told now too (submit() tells later ones itself while unhealthy).
      for (auto& item : incoming_) {
        if (item.on_written) queued_behind.push_back(std::exchange(item.on_written, {}));
      }
    }
    for (std::size_t i = next_; i < batch_.size(); ++i) {
      if (batch_[i].on_written) queued_behind.push_back(std::exchange(batch_[i].on_written, {}));
    }
    not_full_.notify_all();
    // Write-ahead callers must not wait for the disk to come back: tell them now. The records
    // stay pending (same seq) and are written when the sink recovers, without a callback.
    for (std::size_t i = pending_acked_; i < pending_callbacks_.size(); ++i) {
      if (auto& cb = pending_callbacks_[i]) {
        std::exchange(cb, WrittenCallback{})(WriteOutcome{WriteOutcome::failed});
      }
    }
    for (auto& cb : queued_behind) cb(WriteOutcome{WriteOutcome::failed});
    last_error_ = ec;
    retry_at_ = SteadyClock::now() + retry_delay_;
    retry_delay_ = std::min(retry_delay_ * 2, kMaxRetry);
  }

  void reopen_sink() {
    spdlog::debug("audit: reopening {} (SIGUSR1)", sink_->name());
    if (const auto ec = sink_->reopen()) {
      write_errors_.fetch_add(1, std::memory_order_relaxed);
      spdlog::error("audit: cannot reopen {}: {} (still writing to the old file)", sink_->name(),
                    ec.message());
    } else {
      spdlog::debug("audit: reopened {}: new records go to the file now at that path",
                    sink_->name());
      if (caller_writes_) {
        // Submitters may only write a regular file, and the new path may be anything.
        std::lock_guard lk(mu_);
        direct_ok_ = is_regular_file(options_.path);
      }
    }
    // On success the new file's first record names the last hash of the old one: chain_ is
    // unchanged.
  }

  void maybe_sync(bool force) {
    if (!dirty_ || options_.fsync != Options::Fsync::interval) return;
    const auto now = SteadyClock::now();
    if (!force && now < last_sync_ + options_.fsync_interval) return;
    if (const auto ec = sink_->sync()) {
      write_errors_.fetch_add(1, std::memory_order_relaxed);
      spdlog::error("audit: fsync {}: {}", sink_->name(), ec.message());
    }
    dirty_ = false;
    last_sync_ = now;
  }

  // Closing: everything queued before close() is written, retrying a failing sink for up to
  // options_.flush_timeout; what still cannot be written then is counted as dropped and said.
  void finish() {
    const auto deadline = SteadyClock::now() + options_.flush_timeout;
    bool waited = false;
    for (;;) {
      if (pending_.empty() || flush_pending()) {
        while (pending_.empty() && !batch_done()) {
          encode_some();
          if (!flush_pending()) break;
        }
      }
      if (pending_.empty() && batch_done()) {
        std::lock_guard lk(mu_);
        if (incoming_.empty()) break;
        batch_.clear();
        next_ = 0;
        batch_.swap(incoming_);
        in_hand_ = batch_.size();
        continue;
      }
      // The sink fails: wait for its retry, as long as the deadline allows.
      const auto now = SteadyClock::now();
      if (now >= deadline) break;
      if (!waited) {
        waited = true;
        spdlog::warn(
            "audit: closing: waiting up to {} ms for {} queued record(s) to be written to {}",
            options_.flush_timeout.count(), unwritten(), sink_->name());
      }
      std::this_thread::sleep_until(std::min(std::max(retry_at_, now + kFirstRetry), deadline));
    }
    if (const std::uint64_t lost = unwritten(); lost > 0) {
      spdlog::error(
          "audit: {} record(s) could not be written to {} before closing (gave up after {} ms: {})",
          lost, sink_->name(), options_.flush_timeout.count(), last_error_.message());
      for (std::size_t i = pending_acked_; i < pending_callbacks_.size(); ++i) {
        count_drop(std::move(pending_callbacks_[i]), WriteOutcome::failed);
      }
      pending_.clear();
      pending_callbacks_.clear();
      pending_ends_.clear();
      pending_kept_ = 0;
      pending_acked_ = 0;
      std::vector<Item> rest;
      {
        std::lock_guard lk(mu_);
        rest.swap(incoming_);
      }
      for (; next_ < batch_.size(); ++next_) {
        count_drop(std::move(batch_[next_].on_written), WriteOutcome::failed);
      }
      for (auto& item : rest) count_drop(std::move(item.on_written), WriteOutcome::failed);
    } else if (waited) {
      spdlog::info("audit: closing: every queued record written to {}", sink_->name());
    }
    {
      std::lock_guard lk(mu_);
      in_hand_ = 0;
      depth_.store(0, std::memory_order_relaxed);
    }
    if (options_.fsync == Options::Fsync::interval) {
      maybe_sync(true);
    } else if (dirty_) {
      sink_->sync();
    }
  }

  // Records submitted and neither written nor dropped (writer thread, while closing).
  std::uint64_t unwritten() {
    std::lock_guard lk(mu_);
    return (pending_callbacks_.size() - pending_acked_) + (batch_.size() - next_) +
           incoming_.size();
  }

  Options options_;
  std::unique_ptr<Sink> sink_;

  // Shared with submitters, under mu_.
  mutable std::mutex mu_;
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  std::vector<Item> incoming_;
  std::size_t in_hand_ = 0;  // taken by the writer, not yet written
  bool closed_ = false;
  bool reopen_requested_ = false;
  bool writer_waiting_ = false;
  const bool caller_writes_;
  bool direct_ok_;                    // the sink is a regular file: submitters may write it
  bool writer_idle_ = false;          // the writer waits with nothing pending or in hand
  bool writer_has_deadline_ = false;  // ... and will wake by itself (retry or fsync)
  bool direct_active_ = false;        // a submitter holds the writer-thread state below
  bool rearm_ = false;                // the writer must recompute its deadline
  bool writer_wants_token_ = false;   // the writer waits for direct_active_ to clear

  std::atomic<bool> healthy_{true};
  std::atomic<std::uint64_t> written_{0};
  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<std::uint64_t> unreported_drops_{0};
  std::atomic<std::uint64_t> write_errors_{0};
  std::atomic<std::uint64_t> depth_{0};

  // Writer thread only (or the submitter holding direct_active_).
  std::vector<Item> batch_;  // swapped out of incoming_
  std::size_t next_ = 0;     // first item of batch_ not yet encoded
  ChainState chain_;
  LineHasher hasher_;
  std::array<char, 64> hash_{};
  std::string pending_;                             // encoded lines not yet written
  std::size_t pending_kept_ = 0;                    // bytes of pending_ in the sink
  std::vector<WrittenCallback> pending_callbacks_;  // one per record of pending_
  std::vector<std::size_t> pending_ends_;           // where each record's line ends in pending_
  std::size_t pending_acked_ = 0;                   // records of pending_ written (a prefix)
  std::error_code last_error_;
  SteadyClock::time_point retry_at_{};
  std::chrono::milliseconds retry_delay_ = kFirstRetry;
  bool dirty_ = false;
  SteadyClock::time_point last_sync_ = SteadyClock::now();

  std::mutex join_mu_;
  std::thread thread_;
};

}  // namespace

std::unique_ptr<AuditLog> start_audit_log(const Options& options, std::unique_ptr<Sink> sink,
                                          ChainState start) {
  return start_audit_log(options, std::move(sink), std::move(start), WriteMode::writer_thread);
}

std::unique_ptr<AuditLog> start_audit_log(const Options& options, std::unique_ptr<Sink> sink,
                                          ChainState start, WriteMode mode) {
  return std::make_unique<WriterAuditLog>(options, std::move(sink), std::move(start),
                                          mode == WriteMode::caller_when_idle);
}

std::unique_ptr<AuditLog> open_audit_log(const Options& options) {
  if (options.path == "-") return start_audit_log(options, open_stdout_sink(), ChainState{});
  ResumeResult resume;
  auto sink = open_file_sink(options.path, resume);
  if (resume.torn_bytes > 0) {
    spdlog::warn("audit: {}: cut {} byte(s) of a torn last line (never acknowledged)", options.path,
                 resume.torn_bytes);
  }
  // Only a regular file may be written by the submitting thread (see WriterAuditLog); a FIFO
  // or a device behind the path keeps the writer thread.
  const WriteMode mode =
      is_regular_file(options.path) ? WriteMode::caller_when_idle : WriteMode::writer_thread;
  if (resume.empty) {
    spdlog::debug("audit: opened {} (a new chain; {})", options.path,
                  mode == WriteMode::caller_when_idle ? "regular file" : "not a regular file");
  } else {
    spdlog::debug("audit: opened {} (continuing its chain after seq {}; {})", options.path,
                  resume.state.seq,
                  mode == WriteMode::caller_when_idle ? "regular file" : "not a regular file");
  }
  return start_audit_log(options, std::move(sink), std::move(resume.state), mode);
}

}  // namespace egress::audit
