#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace egress::core {

/// Connection limits, global and per listener, shared by all workers. A slot is taken at accept
/// and given back when the connection's coroutine ends; the counts double as the
/// active-connections gauges.
class ConnectionLimits {
 public:
  /// `global` = limits.max_connections, `per_listener[i]` = listeners[i].max_connections;
  /// 0 means unlimited.
  ConnectionLimits(std::uint64_t global, std::vector<std::uint64_t> per_listener)
      : global_max_(global),
        listener_max_(std::move(per_listener)),
        listener_active_(new std::atomic<std::uint64_t>[listener_max_.size()]) {
    for (std::size_t i = 0; i < listener_max_.size(); ++i) listener_active_[i] = 0;
  }

  /// Takes a slot on `listener`; false (and nothing taken) when either limit is reached.
  bool try_acquire(std::size_t listener) noexcept {
    const std::uint64_t g = active_.fetch_add(1, std::memory_order_relaxed);
    if (global_max_ != 0 && g >= global_max_) {
      active_.fetch_sub(1, std::memory_order_relaxed);
      return false;
    }
    const std::uint64_t l = listener_active_[listener].fetch_add(1, std::memory_order_relaxed);
    if (listener_max_[listener] != 0 && l >= listener_max_[listener]) {
      listener_active_[listener].fetch_sub(1, std::memory_order_relaxed);
      active_.fetch_sub(1, std::memory_order_relaxed);
      return false;
    }
    return true;
  }

  /// Gives back a slot taken by try_acquire.
  void release(std::size_t listener) noexcept {
    listener_active_[listener].fetch_sub(1, std::memory_order_relaxed);
    active_.fetch_sub(1, std::memory_order_relaxed);
  }

  std::uint64_t active() const noexcept { return active_.load(std::memory_order_relaxed); }
  std::uint64_t active(std::size_t listener) const noexcept {
    return listener_active_[listener].load(std::memory_order_relaxed);
  }
  std::size_t listeners() const noexcept { return listener_max_.size(); }

 private:
  std::atomic<std::uint64_t> active_{0};
  std::uint64_t global_max_;
  std::vector<std::uint64_t> listener_max_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> listener_active_;
};

}  // namespace egress::core
