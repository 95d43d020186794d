#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/ip_address.hpp"
#include "base/reason.hpp"

namespace egress::filters {

/// Live connections per source address, shared by all workers (threads): a hash map split into
/// shards, each behind its own mutex, so two workers rarely wait for each other and an accept
/// costs one short lock. An address's entry exists only while it has connections, so the map
/// never holds more entries than there are live connections.
class SourceCounts {
 public:
  /// `max` = limits.per_source (0 = unlimited: nothing is counted). IPv6 sources are counted per
  /// prefix of `ipv6_prefix` bits (128 = per address); IPv4 (v4-mapped included, base::IpAddress
  /// normalises them) always per address.
  SourceCounts(std::uint64_t max, unsigned ipv6_prefix) : max_(max), ipv6_prefix_(ipv6_prefix) {}

  bool enabled() const noexcept { return max_ != 0; }

  /// Counts one more connection from `src`; false (and nothing counted) when it already has max.
  bool try_acquire(const base::IpAddress& src) {
    if (!enabled()) return true;
    const Key k = key(src);
    Shard& s = shard(k);
    std::lock_guard lk(s.mu);
    std::uint64_t& n = s.counts[k];  // max_ >= 1: a new entry (0) is always below it
    if (n >= max_) return false;
    ++n;
    return true;
  }

  /// Gives back one connection counted by try_acquire.
  void release(const base::IpAddress& src) noexcept {
    if (!enabled()) return;
    const Key k = key(src);
    Shard& s = shard(k);
    std::lock_guard lk(s.mu);
    auto it = s.counts.find(k);
    if (it == s.counts.end()) return;
    if (--it->second == 0) s.counts.erase(it);
  }

  /// Live connections counted for `src` (its prefix, for IPv6).
  std::uint64_t count(const base::IpAddress& src) const {
    if (!enabled()) return 0;
    const Key k = key(src);
    const Shard& s = shard(k);
    std::lock_guard lk(s.mu);
    auto it = s.counts.find(k);
    return it == s.counts.end() ? 0 : it->second;
  }

  /// Sources with at least one live connection.
  std::size_t sources() const {
    std::size_t n = 0;
    for (const Shard& s : shards_) {
      std::lock_guard lk(s.mu);
      n += s.counts.size();
    }
    return n;
  }

 private:
  struct Key {
    std::uint64_t hi = 0;  // IPv6: the first 64 bits (masked to the prefix)
    std::uint64_t lo = 0;  // IPv6: the last 64 bits (masked); IPv4: the address
    bool v4 = false;
    friend bool operator==(const Key&, const Key&) = default;
  };
  struct Hash {
    std::size_t operator()(const Key& k) const noexcept {
      // splitmix64's finaliser over both halves: addresses differ in their low bits.
      std::uint64_t x = (k.hi * 0x9e3779b97f4a7c15ULL) ^ k.lo ^ (k.v4 ? 1 : 0);
      x ^= x >> 30;
      x *= 0xbf58476d1ce4e5b9ULL;
      x ^= x >> 27;
      x *= 0x94d049bb133111ebULL;
      x ^= x >> 31;
      return static_cast<std::size_t>(x);
    }
  };
  struct alignas(64) Shard {  // a cache line each: workers lock different shards
    mutable std::mutex mu;
    std::unordered_map<Key, std::uint64_t, Hash> counts;
  };
  static constexpr std::size_t kShards = 64;

  Key key(const base::IpAddress& a) const noexcept {
    Key k;
    const auto& b = a.bytes();
    if (a.is_v4()) {
      k.v4 = true;
      k.lo = a.v4_host_order();
      return k;
    }
    // Mask in network byte order: clear every bit past the prefix.
    std::array<std::uint8_t, 16> m = b;
    for (unsigned i = 0; i < 16; ++i) {
      const unsigned first = i * 8;
      if (first >= ipv6_prefix_) {
        m[i] = 0;
      } else if (first + 8 > ipv6_prefix_) {
        m[i] &= static_cast<std::uint8_t>(0xff << (first + 8 - ipv6_prefix_));
      }
    }
    std::memcpy(&k.hi, m.data(), 8);
    std::memcpy(&k.lo, m.data() + 8, 8);
    return k;
  }
  Shard& shard(const Key& k) noexcept { return shards_[Hash{}(k) % kShards]; }
  const Shard& shard(const Key& k) const noexcept { return shards_[Hash{}(k) % kShards]; }

  const std::uint64_t max_;
  const unsigned ipv6_prefix_;
  std::array<Shard, kShards> shards_;
};

/// Connection limits, shared by all workers:
///
/// * max_connections, global and per listener: a slot from accept until the connection ends;
/// * max_pending: a slot from accept until the connection is decided (allow or deny), so
///   connections idling in the TLS handshake (or a peek for bytes) cannot take every slot;
/// * per_source: every live connection (pending or relayed) from one source address.
///
/// Over a limit, a connection is refused with over_limit / over_pending_limit /
/// over_source_limit. The counts double as the active- and pending-connections gauges.
class ConnectionLimits {
 public:
  struct Options {
    std::uint64_t max_connections = 0;        ///< 0 = unlimited
    std::vector<std::uint64_t> per_listener;  ///< listeners[i].max_connections, 0 = unlimited
    std::uint64_t max_pending = 0;            ///< 0 = unlimited
    std::uint64_t per_source = 0;             ///< 0 = unlimited
    unsigned per_source_ipv6_prefix = 128;    ///< IPv6 sources counted per this prefix
  };

  explicit ConnectionLimits(Options o)
      : global_max_(o.max_connections),
        pending_max_(o.max_pending),
        listener_max_(std::move(o.per_listener)),
        listener_active_(new std::atomic<std::uint64_t>[listener_max_.size()]),
        listener_pending_(new std::atomic<std::uint64_t>[listener_max_.size()]),
        sources_(o.per_source, o.per_source_ipv6_prefix) {
    for (std::size_t i = 0; i < listener_max_.size(); ++i) {
      listener_active_[i] = 0;
      listener_pending_[i] = 0;
    }
  }

  /// `global` = limits.max_connections, `per_listener[i]` = listeners[i].max_connections;
  /// 0 means unlimited. No pending or per-source limit.
  ConnectionLimits(std::uint64_t global, std::vector<std::uint64_t> per_listener)
      : ConnectionLimits(Options{global, std::move(per_listener)}) {}

  /// A connection's slots, given back by its destructor (decided() gives back the pending one
  /// early). Empty (admitted() false) when the connection was refused.
  class Ticket {
   public:
    Ticket() = default;
    Ticket(Ticket&& o) noexcept
        : limits_(std::exchange(o.limits_, nullptr)),
          listener_(o.listener_),
          src_(o.src_),
          pending_(std::exchange(o.pending_, false)) {}
    Ticket& operator=(Ticket&& o) noexcept {
      if (this != &o) {
        reset();
        limits_ = std::exchange(o.limits_, nullptr);
        listener_ = o.listener_;
        src_ = o.src_;
        pending_ = std::exchange(o.pending_, false);
      }
      return *this;
    }
    ~Ticket() { reset(); }

    bool admitted() const noexcept { return limits_ != nullptr; }
    /// The connection is decided: its pending slot goes back (idempotent).
    void decided() noexcept {
      if (limits_ && pending_) limits_->release_pending(listener_);
      pending_ = false;
    }
    /// Gives back every slot now (idempotent).
    void reset() noexcept {
      decided();
      if (limits_) limits_->release(listener_, src_);
      limits_ = nullptr;
    }

   private:
    friend class ConnectionLimits;
    Ticket(ConnectionLimits* l, std::size_t listener, const base::IpAddress& src)
        : limits_(l), listener_(listener), src_(src), pending_(true) {}
    ConnectionLimits* limits_ = nullptr;
    std::size_t listener_ = 0;
    base::IpAddress src_;
    bool pending_ = false;
  };

  /// Admits a new connection from `src` on `listener`: takes its source, connection and pending
  /// slots, or none of them. `refused` gets the reason when it is not admitted, checked in this
  /// order: over_source_limit (the source's own budget is the most specific cause),
  /// over_limit, over_pending_limit.
  Ticket admit(std::size_t listener, const base::IpAddress& src, base::Reason& refused) {
    if (!sources_.try_acquire(src)) {
      refused = base::Reason::over_source_limit;
      return {};
    }
    if (!try_acquire(listener)) {
      sources_.release(src);
      refused = base::Reason::over_limit;
      return {};
    }
    const std::uint64_t p = pending_.fetch_add(1, std::memory_order_relaxed);
    if (pending_max_ != 0 && p >= pending_max_) {
      pending_.fetch_sub(1, std::memory_order_relaxed);
      release(listener);
      sources_.release(src);
      refused = base::Reason::over_pending_limit;
      return {};
    }
    listener_pending_[listener].fetch_add(1, std::memory_order_relaxed);
    return Ticket(this, listener, src);
  }

  /// Takes a max_connections slot on `listener`; false (and nothing taken) when either limit is
  /// reached.
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
  /// Admitted connections not yet decided.
  std::uint64_t pending() const noexcept { return pending_.load(std::memory_order_relaxed); }
  std::uint64_t pending(std::size_t listener) const noexcept {
    return listener_pending_[listener].load(std::memory_order_relaxed);
  }
  const SourceCounts& sources() const noexcept { return sources_; }
  std::size_t listeners() const noexcept { return listener_max_.size(); }

 private:
  void release_pending(std::size_t listener) noexcept {
    listener_pending_[listener].fetch_sub(1, std::memory_order_relaxed);
    pending_.fetch_sub(1, std::memory_order_relaxed);
  }
  void release(std::size_t listener, const base::IpAddress& src) noexcept {
    release(listener);
    sources_.release(src);
  }

  std::atomic<std::uint64_t> active_{0};
  std::atomic<std::uint64_t> pending_{0};
  std::uint64_t global_max_;
  std::uint64_t pending_max_;
  std::vector<std::uint64_t> listener_max_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> listener_active_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> listener_pending_;
  SourceCounts sources_;
};

}  // namespace egress::filters
