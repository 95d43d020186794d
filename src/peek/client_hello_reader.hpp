#pragma once

// The server name a TLS client asks for, read from its ClientHello (RFC 8446 §4.1.2, RFC 6066 §3)
// before any byte goes upstream. No I/O: the caller reads the socket and feeds the bytes.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "peek/peek_status.hpp"

namespace egress::peek {

/// What a ClientHelloReader found.
struct ClientHelloResult {
  PeekStatus status = PeekStatus::need_more;
  /// done: the server_name host_name, normalised (lowercase, no trailing dot) and a valid DNS
  /// name; empty when the ClientHello has no server_name extension.
  std::string sni;
  /// done: the encrypted_client_hello extension (0xfe0d) is present. `sni` is then the outer
  /// (public) name; GREASE ECH looks the same, so this proves nothing about the inner name.
  bool ech = false;
  /// done: bytes of the stream from its first byte through the ClientHello's last byte, record
  /// headers included (<= max_bytes). Bytes after it were not read.
  std::size_t length = 0;
  /// invalid: what is wrong, precisely ("server_name extension appears twice", "ClientHello larger
  /// than peek.max_bytes (16384)", ...). Client bytes in it are escaped and truncated.
  std::string detail;
};

/// Reads the SNI of a TLS ClientHello reassembled across TCP segments and across TLS records
/// (content type 22, record version 0x0301-0x0303, each 1..2^14 bytes, no other record type in
/// between). Invalid: a first record that is not a handshake record, a handshake message that is
/// not a ClientHello, a length that disagrees with its container anywhere in the message, a
/// second server_name or encrypted_client_hello extension, a server_name list with other than one
/// host_name, a host_name that is an IP literal (RFC 6066 §3) or not a DNS name, and a ClientHello
/// whose bytes (record headers included) would pass `max_bytes`, reported as soon as its declared
/// length shows it.
///
/// Feeding: every call gets the whole prefix of the stream seen so far, from its first byte, each
/// prefix extending the previous one (the caller keeps these bytes anyway: they go upstream once
/// the connection is allowed). The reader remembers how far it has framed, so a call costs only
/// the bytes that are new, and a byte-at-a-time client costs O(n) in all. No heap allocation but
/// the result's strings. After done or invalid, read() returns the same result.
class ClientHelloReader {
 public:
  explicit ClientHelloReader(std::size_t max_bytes = kDefaultMaxBytes) noexcept
      : max_bytes_(max_bytes) {}

  /// See the class comment. The reference stays valid until the next call or destruction.
  const ClientHelloResult& read(std::span<const std::uint8_t> prefix);
  const ClientHelloResult& result() const noexcept { return result_; }
  std::size_t max_bytes() const noexcept { return max_bytes_; }

 private:
  const ClientHelloResult& fail(std::string detail);
  const ClientHelloResult& parse(std::span<const std::uint8_t> prefix);

  std::size_t max_bytes_;
  ClientHelloResult result_;
  std::size_t framed_ = 0;      // stream offset of the next byte to frame
  std::size_t record_end_ = 0;  // stream offset one past the current record
  std::size_t records_ = 0;     // records seen
  std::size_t seen_ = 0;        // handshake bytes seen (header included)
  std::size_t total_ = 0;       // handshake message size with its header, once known
  std::uint8_t header_[4] = {};
};

/// One-shot form: read(bytes) on a fresh reader.
ClientHelloResult read_client_hello(std::span<const std::uint8_t> bytes,
                                    std::size_t max_bytes = kDefaultMaxBytes);

}  // namespace egress::peek
