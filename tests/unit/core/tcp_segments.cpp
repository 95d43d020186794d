#include "tcp_segments.hpp"

// The kernel's struct tcp_info (tcpi_segs_in is newer than glibc's copy); <linux/tcp.h> cannot
// share a translation unit with <netinet/tcp.h>, which asio includes.
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace egress::core::test {

std::uint32_t tcp_segments_in(int fd) {
  tcp_info info{};
  socklen_t len = sizeof info;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return 0;
  return info.tcpi_segs_in;
}

}  // namespace egress::core::test
