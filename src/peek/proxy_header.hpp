#pragma once

// The PROXY protocol header (HAProxy's doc/proxy-protocol.txt, versions 1 and 2) a load balancer
// puts before a client's first byte: the original client and destination addresses, and in v2
// TLVs (the TLS name, the client certificate's state, a CRC32c of the header). No I/O: the caller
// reads the socket and feeds the bytes; it refuses a header from an untrusted source and requires
// one from a trusted source (issue 20, section 3), hence the distinct "no header" answer.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "base/ip_address.hpp"
#include "peek/peek_status.hpp"

namespace egress::peek {

/// v2's command nibble (§2.2). v1 has no command: its lines are `proxy`.
enum class ProxyCommand : std::uint8_t {
  local,  ///< the balancer's own connection (a health check): use the real connection's addresses
  proxy,  ///< relayed on behalf of a client: `source` and `destination` are that connection's
};

/// The transport and family the header announces (v2's 14th byte; v1's TCP4 / TCP6 / UNKNOWN).
enum class ProxyTransport : std::uint8_t {
  unspec,  ///< v1 UNKNOWN, v2 LOCAL (its family is ignored, §2.2), v2 family or protocol UNSPEC,
           ///< or a v2 family/protocol pair §2.2 does not list: use the real connection's addresses
  tcp4,         ///< TCP over IPv4 (v2 0x11, v1 TCP4)
  tcp6,         ///< TCP over IPv6 (v2 0x21, v1 TCP6)
  udp4,         ///< UDP over IPv4 (v2 0x12)
  udp6,         ///< UDP over IPv6 (v2 0x22)
  unix_stream,  ///< AF_UNIX stream (v2 0x31): no IP addresses
  unix_dgram,   ///< AF_UNIX datagram (v2 0x32): no IP addresses
};

/// "unspec" | "tcp4" | "tcp6" | "udp4" | "udp6" | "unix_stream" | "unix_dgram"
std::string_view to_string(ProxyTransport t) noexcept;

/// PP2_TYPE_SSL (0x20, §2.2.6): how the client reached the balancer, if over TLS.
struct ProxySsl {
  /// PP2_CLIENT_SSL (0x01): the client connected over SSL/TLS.
  bool client_ssl = false;
  /// PP2_CLIENT_CERT_CONN (0x02): the client presented a certificate on this connection.
  bool cert_conn = false;
  /// PP2_CLIENT_CERT_SESS (0x04): the client presented a certificate in this TLS session.
  bool cert_sess = false;
  /// `verify`: 0 when the client presented a certificate and it verified; non-zero otherwise.
  std::uint32_t verify = 0;
  /// Sub-TLVs, raw bytes as sent (absent ones empty): PP2_SUBTYPE_SSL_VERSION (0x21), _CN (0x22),
  /// _CIPHER (0x23), _SIG_ALG (0x24), _KEY_ALG (0x25).
  std::string version, cn, cipher, sig_alg, key_alg;

  /// A client certificate was presented (on this connection or in its session) and verified.
  bool verified_client_cert() const noexcept { return (cert_conn || cert_sess) && verify == 0; }
};

/// What read_proxy_header found.
struct ProxyHeaderResult {
  PeekStatus status = PeekStatus::need_more;
  /// invalid: the stream does not start with a PROXY signature at all ("PROXY" for v1, the 12-byte
  /// block for v2), decided at the first byte that departs from both. Any other invalid result is
  /// a header that is there but malformed.
  bool no_header = false;
  /// done (and invalid once the signature is seen): 1 or 2.
  int version = 0;
  ProxyCommand command = ProxyCommand::proxy;
  ProxyTransport transport = ProxyTransport::unspec;
  /// done, command proxy, transport tcp4/tcp6/udp4/udp6: the original client (source) and the
  /// address it connected to (destination). IPv4-mapped IPv6 addresses are IPv4 (base::IpAddress).
  /// Otherwise nullopt: the caller uses the real connection's addresses (§2.1 UNKNOWN, §2.2 LOCAL
  /// and UNSPEC).
  std::optional<base::Endpoint> source, destination;
  /// done: bytes of the stream the header takes (v1 through its CRLF; v2 16 + its length field);
  /// the client's own bytes start there.
  std::size_t length = 0;

  // v2 TLVs (§2.2.1-2.2.6). Each of these may appear at most once; other types are skipped.
  /// PP2_TYPE_AUTHORITY (0x02): the name the client asked for (TLS SNI), raw bytes as sent.
  std::optional<std::string> authority;
  /// PP2_TYPE_ALPN (0x01): the negotiated application protocol, raw bytes as sent.
  std::optional<std::string> alpn;
  /// PP2_TYPE_UNIQUE_ID (0x05): the balancer's connection id (at most 128 bytes).
  std::optional<std::string> unique_id;
  /// PP2_TYPE_SSL (0x20).
  std::optional<ProxySsl> ssl;
  /// PP2_TYPE_CRC32C (0x03) was present and matched the header (a mismatch is invalid).
  bool crc32c_verified = false;

  /// invalid: what is wrong ("v2 address length 8 is shorter than TCP over IPv4's 12 bytes",
  /// "v1 source port \"08080\" has a leading zero", ...). Client bytes in it are escaped and
  /// truncated.
  std::string detail;
};

/// Reads a PROXY protocol v1 or v2 header at the start of a client's stream, exactly as the spec
/// writes it. Done once the whole header is there and valid; later bytes are never looked at.
///
/// v1 (§2.1): "PROXY", one space, "TCP4" / "TCP6" / "UNKNOWN", for TCP one space-separated source
/// address, destination address, source port and destination port, CRLF, in at most 107 bytes.
/// IPv4 addresses are four decimal numbers 0-255 without leading zeros; IPv6 addresses are
/// inet_pton's text form (so "::ffff:192.0.2.1", as HAProxy writes a mapped address); ports are
/// 0-65535 without leading zeros; the address family must match the protocol. After UNKNOWN
/// anything up to the CRLF is ignored. A lone CR or LF is invalid, found as soon as it is seen.
///
/// v2 (§2.2): the 12-byte signature, version nibble 2, command LOCAL (0) or PROXY (1), family 0-3
/// and protocol 0-2 (anything else invalid), a length of at least the family's address block
/// (12 / 36 / 216 bytes; not enforced for LOCAL, whose address block is ignored), then TLVs to the
/// end of the header: each TLV inside it, PP2_TYPE_SSL's sub-TLVs inside its value, a CRC32c
/// (RFC 4960 App. B) that must match the header with its own value zeroed. Problems with the fixed
/// 16 bytes are reported as soon as they are seen; the length field is checked against max_bytes.
///
/// Pure: every call gets the whole prefix of the stream seen so far, from its first byte (each
/// call is a fresh read; a v1 line is at most 107 bytes and a v2 header is framed by its 16 first
/// bytes, so reading it again costs little). No heap allocation but the result's strings.
/// `max_bytes` bounds a v2 header (16 + its length field; v1 lines are bounded by the spec), so
/// the caller's buffer stays bounded; it is checked as soon as the length field is there.
ProxyHeaderResult read_proxy_header(std::span<const std::uint8_t> prefix,
                                    std::size_t max_bytes = kDefaultMaxBytes);

/// The v2 signature (§2.2): \r\n\r\n\0\r\nQUIT\n.
inline constexpr std::uint8_t kProxyV2Signature[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                                       0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

}  // namespace egress::peek
