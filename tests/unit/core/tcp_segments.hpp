#pragma once

// What the kernel counted for a TCP socket, for tests that check what went over the wire.

#include <cstdint>

namespace egress::core::test {

/// Segments socket `fd` has received so far, SYN-ACK included (tcpi_segs_in).
std::uint32_t tcp_segments_in(int fd);

}  // namespace egress::core::test
