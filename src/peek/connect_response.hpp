#pragma once

// The gateway's answer to the egressd agent's CONNECT (issue 20, section 2), read with Beast's
// HTTP/1.x response parser: `200 Connection established` opens the tunnel, anything else refuses
// it. No I/O: the agent's tunnel stream feeds the bytes it read from the gateway.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "peek/peek_status.hpp"

namespace egress::peek {

/// The most bytes of an answer read: its head and, when it refuses, its one-line body.
inline constexpr std::size_t kMaxConnectResponse = 8 * 1024;

/// What read_connect_response found.
struct ConnectResponse {
  PeekStatus status = PeekStatus::need_more;
  /// done: the status code (200: the tunnel is open).
  int code = 0;
  /// done: "HTTP/1.1 403 Forbidden" (the version and reason as sent).
  std::string status_line;
  /// done: the `Egressd-Decision` field (the gateway's conn_id), as sent, at most 128 visible
  /// ASCII bytes; empty without one.
  std::string decision;
  /// done, code other than 200: the body's first line (at most 512 bytes, control bytes as '?').
  std::string body_line;
  /// done, code 200: bytes of the head; what follows is the tunnel's first bytes from upstream.
  /// Other codes: bytes of the head and body.
  std::size_t length = 0;
  /// invalid: why it is not an answer ("bad version", "over 8192 bytes", ...).
  std::string detail;
};

/// Reads the answer at the start of the gateway's stream; `bytes` is all of it seen so far
/// (each call a longer prefix). need_more until the head (and, for a code other than 200, the
/// body of Content-Length bytes) is complete; with `ended` (the gateway closed its side) a
/// refusal whose body was cut short is done with what there is, an incomplete head invalid.
/// A 2xx other than 200, an informational 1xx, or a head over kMaxConnectResponse: invalid.
ConnectResponse read_connect_response(std::span<const std::uint8_t> bytes, bool ended = false);

}  // namespace egress::peek
