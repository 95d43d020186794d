#pragma once

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace egress::net {

/// Asks the kernel to report, with each read of the TCP socket `fd`, what is left in its receive
/// queue (TCP_INQ, Linux 4.18; a pending FIN counts): core::TcpStream::nothing_behind. Sockets
/// accepted from a listening socket that asked inherit it. Returns false where the kernel cannot;
/// reads then say "not known", which costs a read, never correctness.
inline bool enable_queue_hint(int fd) noexcept {
  const int on = 1;
  return ::setsockopt(fd, IPPROTO_TCP, TCP_INQ, &on, sizeof on) == 0;
}

}  // namespace egress::net
