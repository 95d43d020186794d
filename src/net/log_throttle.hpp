#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>

namespace egress::net {

/// Keeps a warning that can repeat per connection or per event (an accept that fails while the
/// descriptor limit is reached, an exception in a session) to at most one line per `interval`,
/// and counts the lines it held back, so the next line can say how many there were (issue 17
/// items 7 and 13: 24 million identical lines in five minutes). One throttle per call site:
///
///     static net::LogThrottle throttle;
///     if (const auto held = throttle.admit()) spdlog::warn("...{}", ..., net::suppressed(*held));
///
/// Thread-safe and lock-free: workers share one call site's throttle.
class LogThrottle {
 public:
  using Clock = std::chrono::steady_clock;

  explicit LogThrottle(Clock::duration interval = std::chrono::seconds(10)) noexcept
      : interval_(interval) {}
  LogThrottle(const LogThrottle&) = delete;
  LogThrottle& operator=(const LogThrottle&) = delete;

  /// Whether a line may be written now: the number of lines held back since the last one
  /// written (0 for the first), or nullopt when this one is to be held back (and is counted).
  std::optional<std::uint64_t> admit(Clock::time_point now = Clock::now()) noexcept {
    const std::int64_t t = now.time_since_epoch().count();
    std::int64_t next = next_.load(std::memory_order_relaxed);
    if (t >= next &&
        next_.compare_exchange_strong(next, t + interval_.count(), std::memory_order_relaxed)) {
      return held_.exchange(0, std::memory_order_relaxed);
    }
    held_.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  }

  /// Lines held back since the last one written.
  std::uint64_t held() const noexcept { return held_.load(std::memory_order_relaxed); }

 private:
  const Clock::duration interval_;
  // The first admit() always passes: steady_clock's epoch is in the past.
  std::atomic<std::int64_t> next_{std::numeric_limits<std::int64_t>::min()};
  std::atomic<std::uint64_t> held_{0};
};

/// The tail of a throttled line: "" or " (N similar lines suppressed)".
inline std::string suppressed(std::uint64_t held) {
  return held == 0 ? std::string() : " (" + std::to_string(held) + " similar lines suppressed)";
}

}  // namespace egress::net
