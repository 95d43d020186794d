#pragma once

// The request that opens a tunnel on a `destination: connect` listener (issue 20, section 1):
// `CONNECT host:port HTTP/1.1` (RFC 9110 §9.3.6), read with Beast's HTTP/1.x parser before any
// byte goes upstream. No I/O: the listener reads the socket, feeds the bytes, and answers the
// status this reader gives when it refuses.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "base/ip_address.hpp"
#include "peek/peek_status.hpp"

namespace egress::peek {

/// The largest CONNECT request head read by default (issue 20: 431 past 8 KiB).
inline constexpr std::size_t kDefaultMaxConnectHead = 8 * 1024;

/// What a ConnectRequestReader found.
struct ConnectRequest {
  PeekStatus status = PeekStatus::need_more;
  /// done: the authority's host when it is a DNS name, normalised (lowercase, no trailing dot);
  /// empty when `address` is set.
  std::string name;
  /// done: the authority's host when it is an IP literal (dotted quad, or IPv6 in brackets);
  /// IPv4-mapped IPv6 is IPv4 (base::IpAddress). NAT64 and other IPv6 forms stay IPv6: the policy
  /// sees the IPv4 address inside them, as in transparent mode.
  std::optional<base::IpAddress> address;
  /// done: the authority's port, 1-65535.
  std::uint16_t port = 0;
  /// done: 10 or 11 (HTTP/1.0 or 1.1).
  int version = 0;
  /// done: bytes of the head (request line, fields, the blank line). Bytes after it are the
  /// tunnel's first bytes: the listener consumes exactly `length` bytes and relays the rest.
  std::size_t length = 0;
  /// done: the `Egressd-Agent-Conn` field (the egressd agent's conn_id, so agent and gateway audit
  /// records can be joined), as sent; nullopt without one. No other field is kept: the identity
  /// comes from the client certificate, so Proxy-Authorization is ignored (and never kept, so it
  /// cannot reach a log).
  std::optional<std::string> agent_conn;
  /// invalid: the status the listener answers with: 400 (malformed), 405 (not CONNECT) or 431
  /// (head over max_head_bytes). 0 otherwise. Never 505: see ConnectRequestReader.
  int status_code = 0;
  /// invalid: what is wrong, one line for the answer's body ("CONNECT target \"127.1:443\": a
  /// legacy IPv4 form (only dotted-quad addresses)"). Client bytes in it are escaped and
  /// truncated.
  std::string detail;
};

/// Reads the CONNECT request at the start of a client's stream.
///
/// Done: one HTTP/1.x request head, its method CONNECT, its target in authority-form `host:port`
/// (RFC 9110 §9.3.6: nothing else) where host is a DNS name (hostname_error accepts it), a
/// dotted-quad IPv4 address or a bracketed IPv6 address (no zone), and port is 1-65535. A Host
/// field is optional (the target is the whole authority; RFC 9110's own example sends one without
/// the port); when present, exactly one, naming the same host, and the same port if it has one.
///
/// Invalid, checked in this order, each with its status:
/// * 400 at once: a first byte that cannot start a method (not a token character; Beast skips no
///   empty line before the request line), so a TLS ClientHello or a PROXY v2 header sent to this
///   port is answered without waiting for the header timeout.
/// * 431: the head is longer than `max_head_bytes`, reported as soon as that many bytes are there
///   without its end (a head of exactly max_head_bytes is read).
/// * 400: not an HTTP/1.0 or HTTP/1.1 request head (Beast's error: "bad method", "bad version",
///   "bad field", ...). Another version is 400, not 505: Beast refuses it with the request line
///   (so this reader would have to parse the line again itself to tell "HTTP/2.0" from "HTTX/1.1"),
///   issue 20 names no 505, and the one client that sends another version in this form, h2 with
///   prior knowledge ("PRI * HTTP/2.0"), reads no HTTP/1 answer anyway. HTTP/1.2 (RFC 9110 §2.5
///   would read it as 1.1) exists in no client.
/// * 405: a method other than CONNECT (the listener is a tunnel, not a forward proxy).
/// * 400: a target that is not `host:port` (origin- or absolute-form, userinfo, no port, port 0 or
///   over 65535, an unbracketed IPv6 address, a bracketed non-IPv6 one, a host hostname_error
///   refuses); a numeric IPv4 spelling other than the dotted quad ("2130706433", "0x7f.1",
///   "127.1", "0177.0.0.1", "127.0.0.1."). Those are refused, not read as the address inet_aton
///   would make of them: no ordinary client sends them, resolvers and libraries disagree on what
///   they mean, and a refusal names the spelling in the client's answer, where a decision on a
///   rewritten address would be hard to explain. Also 400: two Host fields, a Host that cannot be
///   parsed or disagrees with the target; content (Content-Length other than 0, or
///   Transfer-Encoding: a CONNECT request has none, §9.3.6, and bytes read as both a body and the
///   tunnel would be a smuggling channel); two Egressd-Agent-Conn fields, or one that is empty,
///   longer than 128 bytes or has a byte outside visible ASCII.
///
/// Feeding: every call gets the whole prefix of the stream seen so far, from its first byte, each
/// prefix extending the previous one (as ClientHelloReader). The reader looks for the head's end
/// (the first CRLF CRLF, as Beast's parser does) from where it stopped, so a byte-at-a-time client
/// costs O(n) in all, and gives Beast the whole head in one piece: the answer depends on the first
/// max_head_bytes bytes only, never on how they were split (Beast fed in pieces reports a bad
/// request line early or late depending on the split). Bytes after the head are never looked at.
/// After done or invalid, read() returns the same result.
class ConnectRequestReader {
 public:
  explicit ConnectRequestReader(std::size_t max_head_bytes = kDefaultMaxConnectHead) noexcept
      : max_head_bytes_(max_head_bytes) {}
  ConnectRequestReader(const ConnectRequestReader&) = delete;
  ConnectRequestReader& operator=(const ConnectRequestReader&) = delete;

  /// See the class comment. The reference stays valid until the next call or destruction.
  const ConnectRequest& read(std::span<const std::uint8_t> prefix);
  const ConnectRequest& result() const noexcept { return result_; }
  std::size_t max_head_bytes() const noexcept { return max_head_bytes_; }

 private:
  const ConnectRequest& fail(int status_code, std::string detail);
  const ConnectRequest& parse(std::span<const std::uint8_t> head);

  std::size_t max_head_bytes_;
  std::size_t seen_ = 0;      // bytes of the stream presented so far
  std::size_t searched_ = 0;  // where the search for CRLF CRLF resumes
  ConnectRequest result_;
};

/// One-shot form: read(bytes) on a fresh reader.
ConnectRequest read_connect_request(std::span<const std::uint8_t> bytes,
                                    std::size_t max_head_bytes = kDefaultMaxConnectHead);

}  // namespace egress::peek
