#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "base/ip_address.hpp"

namespace egress::upstream {

/// Refuses destinations that are the gateway itself (always on, not a policy choice):
/// an unspecified address (0.0.0.0, ::), any listener or admin endpoint, or a local address
/// (an interface address or loopback) with a listener or admin port. Thread-safe: the set of
/// local addresses is an immutable snapshot, read lock-free by the workers and swapped whole by
/// set_local_addresses() (the gateway's AddressMonitor calls it on every rtnetlink change).
class LoopGuard {
 public:
  /// `own`: every listener and the admin endpoint, as configured (unspecified addresses allowed).
  explicit LoopGuard(std::vector<base::Endpoint> own);

  /// True when connecting to `dst` would reach the gateway itself.
  bool is_loop(const base::Endpoint& dst) const noexcept;

  /// Replaces the local addresses (tests; refresh() uses the interfaces).
  void set_local_addresses(std::vector<base::IpAddress> addresses);

  /// Re-reads the interfaces' addresses (getifaddrs) once. Returns false (keeping the previous
  /// set) when they cannot be read. The gateway follows changes with an AddressMonitor instead.
  bool refresh();

  /// The addresses of every local interface (getifaddrs), IPv4 and IPv6.
  static std::vector<base::IpAddress> interface_addresses();

 private:
  std::vector<base::Endpoint> own_;
  std::vector<std::uint16_t> ports_;
  std::atomic<std::shared_ptr<const std::vector<base::IpAddress>>> local_;
};

}  // namespace egress::upstream
