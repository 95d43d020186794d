#pragma once

// How far the peer of a TCP socket has taken what was sent to it: the relay's idle watchdog asks
// this before it calls a connection idle, since bytes sitting in the kernel's send queue reach a
// slow reader without any read or write by the gateway.

#include <cstdint>
#include <optional>

namespace egress::net {

struct SendProgress {
  std::uint64_t acked = 0;  ///< bytes the peer acknowledged over the connection's life
  bool waiting = false;     ///< bytes sent but not acknowledged, or not yet sent
};

/// One getsockopt(TCP_INFO) on the TCP socket `fd`; nothing when it fails.
std::optional<SendProgress> send_progress(int fd) noexcept;

}  // namespace egress::net
