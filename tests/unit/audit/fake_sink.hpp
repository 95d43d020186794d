#pragma once

// A sink the test controls: it can hold the writer thread inside write(2) (to fill the queue
// deterministically) and fail (to make the log unhealthy) until told otherwise.

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include "audit/sink.hpp"
#include "audit/writer.hpp"

namespace egress::audit::testing {

struct FakeSinkControl {
  std::mutex mu;
  std::condition_variable cv;
  bool hold = false;  ///< write() waits while true
  bool fail = false;  ///< write() returns ENOSPC while true
  int entered = 0;    ///< write() calls so far
  int reopens = 0;
  int syncs = 0;
  std::string data;  ///< everything written successfully

  void set_hold(bool h) {
    std::lock_guard lk(mu);
    hold = h;
    cv.notify_all();
  }
  void set_fail(bool f) {
    std::lock_guard lk(mu);
    fail = f;
    cv.notify_all();
  }
  /// Waits until write() has been entered at least `n` times.
  void wait_entered(int n) {
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return entered >= n; });
  }
  std::string contents() {
    std::lock_guard lk(mu);
    return data;
  }
};

class FakeSink final : public Sink {
 public:
  explicit FakeSink(std::shared_ptr<FakeSinkControl> c) : c_(std::move(c)) {}
  std::error_code write(std::string_view data, std::size_t& kept) override {
    std::unique_lock lk(c_->mu);
    ++c_->entered;
    c_->cv.notify_all();
    c_->cv.wait(lk, [&] { return !c_->hold; });
    kept = 0;
    if (c_->fail) return std::make_error_code(std::errc::no_space_on_device);
    c_->data.append(data);
    return {};
  }
  std::error_code reopen() override {
    std::lock_guard lk(c_->mu);
    ++c_->reopens;
    return {};
  }
  std::error_code sync() override {
    std::lock_guard lk(c_->mu);
    ++c_->syncs;
    return {};
  }
  const std::string& name() const noexcept override { return name_; }

 private:
  std::shared_ptr<FakeSinkControl> c_;
  std::string name_ = "fake";
};

/// An audit log over a FakeSink, with the control the test holds.
struct FakeSinkLog {
  explicit FakeSinkLog(Options o = {}, WriteMode mode = WriteMode::writer_thread) : options(o) {
    log = start_audit_log(options, std::make_unique<FakeSink>(control), ChainState{}, mode);
  }
  Options options;
  std::shared_ptr<FakeSinkControl> control = std::make_shared<FakeSinkControl>();
  std::unique_ptr<AuditLog> log;
};

}  // namespace egress::audit::testing
