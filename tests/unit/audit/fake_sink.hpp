#pragma once

// A sink the test controls: it can hold the writer thread inside write(2) (to fill the queue
// deterministically), fail (to make the log unhealthy) until told otherwise, and take only so many
// bytes (a nearly full disk) before it fails.

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
  /// Bytes write() still takes (-1: no limit). A write that does not fit takes what fits and
  /// returns ENOSPC: with cut_torn (a file sink) only the whole lines that fit (the torn rest is
  /// cut off and uses no room), without it (a pipe) exactly `room` bytes.
  long long room = -1;
  bool cut_torn = true;
  int entered = 0;  ///< write() calls so far
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
  void set_room(long long r) {
    std::lock_guard lk(mu);
    room = r;
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
    if (c_->room >= 0 && data.size() > static_cast<std::size_t>(c_->room)) {
      auto fits = data.substr(0, static_cast<std::size_t>(c_->room));
      if (c_->cut_torn) {
        const auto nl = fits.rfind('\n');
        fits = fits.substr(0, nl == std::string_view::npos ? 0 : nl + 1);
      }
      c_->data.append(fits);
      c_->room -= static_cast<long long>(fits.size());
      kept = fits.size();
      return std::make_error_code(std::errc::no_space_on_device);
    }
    if (c_->room >= 0) c_->room -= static_cast<long long>(data.size());
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
