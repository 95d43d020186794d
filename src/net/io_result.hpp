#pragma once

// The outcome of one non-blocking transfer attempt on a byte stream (a TCP socket, or TLS over
// one). The relay (core/relay.hpp) drives every stream through this one vocabulary: it tries the
// operation, and when the stream says it must wait, waits for that readiness of the underlying
// socket and tries again. No operation ever blocks.

#include <boost/system/error_code.hpp>
#include <cstddef>
#include <cstdint>

namespace egress::net {

struct IoResult {
  enum class Status : std::uint8_t {
    done,        ///< `bytes` were transferred (> 0 for reads and writes), or the shutdown is sent
    want_read,   ///< retry once the socket is readable (TLS may need this even to write)
    want_write,  ///< retry once the socket is writable (TLS may need this even to read)
    eof,         ///< reads only: the peer ended its stream (TCP FIN, TLS close_notify/truncation)
    error,       ///< `ec` says what; the stream is broken
  };
  Status status = Status::done;
  std::size_t bytes = 0;
  boost::system::error_code ec;

  static IoResult transferred(std::size_t n) noexcept { return {Status::done, n, {}}; }
  static IoResult wait_read() noexcept { return {Status::want_read, 0, {}}; }
  static IoResult wait_write() noexcept { return {Status::want_write, 0, {}}; }
  static IoResult end() noexcept { return {Status::eof, 0, {}}; }
  static IoResult failed(boost::system::error_code e) noexcept { return {Status::error, 0, e}; }
};

}  // namespace egress::net
