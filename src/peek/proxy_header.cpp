#include "peek/proxy_header.hpp"

#include <algorithm>
#include <array>
#include <boost/crc.hpp>
#include <cstdio>
#include <cstring>

#include "peek/quoted_bytes.hpp"

namespace egress::peek {

namespace {

constexpr std::uint8_t kV1Signature[5] = {'P', 'R', 'O', 'X', 'Y'};
constexpr std::size_t kV1MaxLine = 107;    // §2.1: the worst case, "PROXY UNKNOWN ffff:...\r\n"
constexpr std::size_t kV2Fixed = 16;       // signature, ver_cmd, fam, len
constexpr std::size_t kMaxUniqueId = 128;  // §2.2.5

// §2.2's TLV types and PP2_TYPE_SSL's subtypes and client bits.
constexpr std::uint8_t kTlvAlpn = 0x01;
constexpr std::uint8_t kTlvAuthority = 0x02;
constexpr std::uint8_t kTlvCrc32c = 0x03;
constexpr std::uint8_t kTlvUniqueId = 0x05;
constexpr std::uint8_t kTlvSsl = 0x20;
constexpr std::uint8_t kSslVersion = 0x21;
constexpr std::uint8_t kSslCn = 0x22;
constexpr std::uint8_t kSslCipher = 0x23;
constexpr std::uint8_t kSslSigAlg = 0x24;
constexpr std::uint8_t kSslKeyAlg = 0x25;
constexpr std::uint8_t kClientSsl = 0x01;
constexpr std::uint8_t kClientCertConn = 0x02;
constexpr std::uint8_t kClientCertSess = 0x04;

// RFC 4960 Appendix B: CRC32c (Castagnoli), reflected, initial and final XOR all ones.
using Crc32c = boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true>;

std::string hex8(unsigned v) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "0x%02x", v & 0xffu);
  return buf;
}

// Client bytes for a detail: at most 48 of them, quoted.
std::string printable(std::span<const std::uint8_t> bytes) {
  return quoted_bytes(bytes, 48);
}

std::string printable(std::string_view text) {
  return quoted_bytes(text, 48);
}

// Bytes shared by `prefix` and `signature` from the start agree.
bool starts_like(std::span<const std::uint8_t> prefix, std::span<const std::uint8_t> signature) {
  const std::size_t n = std::min(prefix.size(), signature.size());
  return std::equal(prefix.begin(), prefix.begin() + static_cast<std::ptrdiff_t>(n),
                    signature.begin());
}

ProxyHeaderResult invalid(int version, std::string detail) {
  ProxyHeaderResult r;
  r.status = PeekStatus::invalid;
  r.version = version;
  r.detail = std::move(detail);
  return r;
}

// ---- v1 (§2.1) ----

// A decimal 0..max without leading zeros ("0" itself is fine); nullopt otherwise.
std::optional<unsigned> strict_decimal(std::string_view s, unsigned max, std::size_t max_digits) {
  if (s.empty() || s.size() > max_digits) return std::nullopt;
  if (s.size() > 1 && s[0] == '0') return std::nullopt;
  unsigned v = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  if (v > max) return std::nullopt;
  return v;
}

// "exactly 4 integers in the range [0..255] ... separated by exactly one dot ... Heading zeroes
// are not permitted": written here rather than left to inet_pton, whose strictness is the libc's.
std::optional<base::IpAddress> parse_v4(std::string_view s) {
  std::array<std::uint8_t, 4> bytes{};
  for (std::size_t i = 0; i < 4; ++i) {
    const std::size_t dot = i < 3 ? s.find('.') : s.size();
    if (dot == std::string_view::npos) return std::nullopt;
    const auto v = strict_decimal(s.substr(0, dot), 255, 3);
    if (!v) return std::nullopt;
    bytes[i] = static_cast<std::uint8_t>(*v);
    s.remove_prefix(i < 3 ? dot + 1 : dot);
  }
  return base::IpAddress::v4(bytes);
}

// inet_pton's IPv6 text (RFC 4291 §2.2, an embedded dotted quad included: HAProxy writes a mapped
// address as ::ffff:a.b.c.d); IPv4-mapped comes out as IPv4.
std::optional<base::IpAddress> parse_v6(std::string_view s) {
  if (s.find(':') == std::string_view::npos) return std::nullopt;
  return base::IpAddress::parse(s);
}

bool v1_tcp_char(std::uint8_t c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '.' ||
         c == ':' || c == ' ';
}

// What is wrong with the start of a v1 line already, before its CRLF; empty when nothing is.
// `line` starts with "PROXY" and holds no CR or LF.
std::string v1_early_problem(std::string_view line) {
  if (line.size() > 5 && line[5] != ' ')
    return "v1 \"PROXY\" is followed by " + printable(line.substr(5, 1)) + ", not one space";
  if (line.size() <= 6) return {};
  const std::string_view rest = line.substr(6);
  const std::string_view token = rest.substr(0, rest.find(' '));
  const bool complete = token.size() < rest.size();
  for (const std::string_view known : {"TCP4", "TCP6", "UNKNOWN"}) {
    if (complete ? token == known : known.starts_with(token)) {
      if (known == "UNKNOWN") return {};  // §2.1: anything before the CRLF is ignored
      for (std::size_t i = token.size(); i < rest.size(); ++i) {
        if (!v1_tcp_char(static_cast<std::uint8_t>(rest[i]))) {
          return "v1 " + std::string(known) + " line has " + printable(rest.substr(i, 1)) +
                 ", not part of an address or port";
        }
      }
      return {};
    }
  }
  // Quote the token only through its first byte that fits no protocol, so the detail does not
  // depend on how much of the line has arrived.
  std::size_t matched = 0;
  for (const std::string_view known : {"TCP4", "TCP6", "UNKNOWN"}) {
    std::size_t n = 0;
    while (n < token.size() && n < known.size() && token[n] == known[n]) ++n;
    matched = std::max(matched, n);
  }
  return "v1 protocol starting " + printable(token.substr(0, matched + 1)) +
         " is not TCP4, TCP6 or UNKNOWN";
}

// A whole v1 line without its CRLF, whose start v1_early_problem has passed.
ProxyHeaderResult parse_v1(std::string_view line, std::size_t length) {
  ProxyHeaderResult r;
  r.status = PeekStatus::done;
  r.version = 1;
  r.command = ProxyCommand::proxy;
  r.length = length;
  if (line.size() <= 6) return invalid(1, "v1 line " + printable(line) + " has no protocol");
  const std::string_view rest = line.substr(6);
  if (rest == "UNKNOWN" || rest.starts_with("UNKNOWN ")) return r;
  const bool v4 = rest.starts_with("TCP4 ");
  if (!v4 && !rest.starts_with("TCP6 "))
    return invalid(1, "v1 " + printable(rest) + " has no addresses after its protocol");
  const char* family = v4 ? "TCP4" : "TCP6";
  std::string_view fields[4];
  std::string_view tail = rest.substr(5);
  for (std::size_t i = 0; i < 4; ++i) {
    const std::size_t space = i < 3 ? tail.find(' ') : tail.size();
    if (space == std::string_view::npos) {
      return invalid(1, "v1 " + std::string(family) + " line " + printable(line) + " has " +
                            std::to_string(i + 1) + " of its 4 fields (addresses and ports)");
    }
    fields[i] = tail.substr(0, space);
    if (fields[i].empty()) {
      return invalid(1, "v1 " + std::string(family) + " line " + printable(line) +
                            " has an empty field (two spaces, or a space before the CRLF)");
    }
    tail.remove_prefix(i < 3 ? space + 1 : space);
  }
  if (fields[3].find(' ') != std::string_view::npos) {
    return invalid(1, "v1 " + std::string(family) + " line " + printable(line) +
                          " has more than its 4 fields");
  }
  static constexpr const char* kNames[4] = {"source address", "destination address", "source port",
                                            "destination port"};
  std::optional<base::IpAddress> addresses[2];
  for (std::size_t i = 0; i < 2; ++i) {
    addresses[i] = v4 ? parse_v4(fields[i]) : parse_v6(fields[i]);
    if (!addresses[i]) {
      return invalid(
          1, "v1 " + std::string(family) + " " + kNames[i] + " " + printable(fields[i]) +
                 " is not " +
                 (v4 ? "an IPv4 address (4 decimals 0-255, no leading zeros)" : "an IPv6 address"));
    }
  }
  std::uint16_t ports[2] = {};
  for (std::size_t i = 0; i < 2; ++i) {
    const auto port = strict_decimal(fields[2 + i], 65535, 5);
    if (!port) {
      return invalid(1, "v1 " + std::string(kNames[2 + i]) + " " + printable(fields[2 + i]) +
                            " is not a port (0-65535, decimal, no leading zeros)");
    }
    ports[i] = static_cast<std::uint16_t>(*port);
  }
  r.transport = v4 ? ProxyTransport::tcp4 : ProxyTransport::tcp6;
  r.source = base::Endpoint{*addresses[0], ports[0]};
  r.destination = base::Endpoint{*addresses[1], ports[1]};
  return r;
}

ProxyHeaderResult read_v1(std::span<const std::uint8_t> prefix) {
  const std::string_view text(reinterpret_cast<const char*>(prefix.data()),
                              std::min(prefix.size(), kV1MaxLine));
  const std::size_t end = text.find_first_of("\r\n");
  // The same problem whatever the prefix's length: the first one in the line, once it is seen.
  std::string problem = v1_early_problem(text.substr(0, end));
  if (!problem.empty()) return invalid(1, std::move(problem));
  if (end != std::string_view::npos) {
    if (text[end] == '\n') {
      return invalid(
          1, "v1 line " + printable(text.substr(0, end + 1)) + " ends in a lone LF, not CRLF");
    }
    // A CR as the 107th byte leaves no room for its LF: "no CRLF" below, with or without it.
    if (end + 1 < kV1MaxLine && end + 1 < prefix.size()) {
      if (prefix[end + 1] != '\n') {
        return invalid(
            1, "v1 line " + printable(prefix.first(end + 2)) + " has a CR not followed by LF");
      }
      return parse_v1(text.substr(0, end), end + 2);
    }
  }
  if (prefix.size() >= kV1MaxLine) {
    return invalid(1, "v1 line has no CRLF in its first 107 bytes: " + printable(text));
  }
  ProxyHeaderResult r;
  r.version = 1;
  return r;  // need_more
}

// ---- v2 (§2.2) ----

std::uint16_t be16(const std::uint8_t* p) noexcept {
  return static_cast<std::uint16_t>((unsigned{p[0]} << 8) | p[1]);
}
std::uint32_t be32(const std::uint8_t* p) noexcept {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         p[3];
}

// The address block's size for the seven family/protocol bytes §2.2 lists; -1 for the others.
int address_block_size(std::uint8_t fam) noexcept {
  switch (fam) {
    case 0x00:
      return 0;
    case 0x11:
    case 0x12:
      return 12;
    case 0x21:
    case 0x22:
      return 36;
    case 0x31:
    case 0x32:
      return 216;
    default:
      return -1;
  }
}

ProxyTransport transport_of(std::uint8_t fam) noexcept {
  switch (fam) {
    case 0x11:
      return ProxyTransport::tcp4;
    case 0x12:
      return ProxyTransport::udp4;
    case 0x21:
      return ProxyTransport::tcp6;
    case 0x22:
      return ProxyTransport::udp6;
    case 0x31:
      return ProxyTransport::unix_stream;
    case 0x32:
      return ProxyTransport::unix_dgram;
    default:
      return ProxyTransport::unspec;
  }
}

const char* tlv_name(std::uint8_t type) noexcept {
  switch (type) {
    case kTlvAlpn:
      return "PP2_TYPE_ALPN";
    case kTlvAuthority:
      return "PP2_TYPE_AUTHORITY";
    case kTlvCrc32c:
      return "PP2_TYPE_CRC32C";
    case kTlvUniqueId:
      return "PP2_TYPE_UNIQUE_ID";
    case kTlvSsl:
      return "PP2_TYPE_SSL";
    case kSslVersion:
      return "PP2_SUBTYPE_SSL_VERSION";
    case kSslCn:
      return "PP2_SUBTYPE_SSL_CN";
    case kSslCipher:
      return "PP2_SUBTYPE_SSL_CIPHER";
    case kSslSigAlg:
      return "PP2_SUBTYPE_SSL_SIG_ALG";
    case kSslKeyAlg:
      return "PP2_SUBTYPE_SSL_KEY_ALG";
    default:
      return "TLV";
  }
}

std::string as_string(std::span<const std::uint8_t> v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size());
}

// Walks TLVs (type, 16-bit length, value) over `block`, calling on_tlv(type, value, offset) for
// each; `where` names the container in details. Empty when they tile the block exactly.
template <typename OnTlv>
std::string walk_tlvs(std::span<const std::uint8_t> block, std::size_t block_offset,
                      const char* where, OnTlv&& on_tlv) {
  std::size_t at = 0;
  while (at < block.size()) {
    if (block.size() - at < 3) {
      return "v2 TLV header at byte " + std::to_string(block_offset + at) +
             " runs past the end of " + where + " (" + std::to_string(block.size() - at) +
             " bytes left)";
    }
    const std::uint8_t type = block[at];
    const std::size_t length = be16(block.data() + at + 1);
    if (length > block.size() - at - 3) {
      return "v2 " + std::string(tlv_name(type)) + " (" + hex8(type) + ") at byte " +
             std::to_string(block_offset + at) + " of length " + std::to_string(length) +
             " runs past the end of " + where + " (" + std::to_string(block.size() - at - 3) +
             " bytes left)";
    }
    std::string problem = on_tlv(type, block.subspan(at + 3, length), block_offset + at);
    if (!problem.empty()) return problem;
    at += 3 + length;
  }
  return {};
}

std::string parse_ssl(std::span<const std::uint8_t> value, std::size_t offset, ProxySsl& ssl) {
  if (value.size() < 5) {
    return "v2 PP2_TYPE_SSL value of " + std::to_string(value.size()) +
           " bytes is shorter than its client and verify fields (5)";
  }
  ssl.client_ssl = (value[0] & kClientSsl) != 0;
  ssl.cert_conn = (value[0] & kClientCertConn) != 0;
  ssl.cert_sess = (value[0] & kClientCertSess) != 0;
  ssl.verify = be32(value.data() + 1);
  bool seen[5] = {};
  return walk_tlvs(value.subspan(5), offset + 3 + 5, "its PP2_TYPE_SSL",
                   [&](std::uint8_t type, std::span<const std::uint8_t> v, std::size_t) {
                     std::string* field = nullptr;
                     switch (type) {
                       case kSslVersion:
                         field = &ssl.version;
                         break;
                       case kSslCn:
                         field = &ssl.cn;
                         break;
                       case kSslCipher:
                         field = &ssl.cipher;
                         break;
                       case kSslSigAlg:
                         field = &ssl.sig_alg;
                         break;
                       case kSslKeyAlg:
                         field = &ssl.key_alg;
                         break;
                       default:
                         return std::string();  // a subtype for later: skipped
                     }
                     if (seen[type - kSslVersion])
                       return "v2 " + std::string(tlv_name(type)) + " appears twice";
                     seen[type - kSslVersion] = true;
                     *field = as_string(v);
                     return std::string();
                   });
}

ProxyHeaderResult read_v2(std::span<const std::uint8_t> prefix, std::size_t max_bytes) {
  ProxyHeaderResult r;
  r.version = 2;
  if (prefix.size() > 12) {
    const unsigned version = prefix[12] >> 4;
    const unsigned command = prefix[12] & 0x0f;
    if (version != 2)
      return invalid(2, "v2 version nibble is " + std::to_string(version) + ", not 2");
    if (command > 1) {
      return invalid(
          2, "v2 command " + std::to_string(command) + " is neither LOCAL (0) nor PROXY (1)");
    }
    r.command = command == 0 ? ProxyCommand::local : ProxyCommand::proxy;
  }
  if (prefix.size() > 13) {
    const unsigned family = prefix[13] >> 4;
    const unsigned protocol = prefix[13] & 0x0f;
    if (family > 3) {
      return invalid(2, "v2 address family " + std::to_string(family) +
                            " is not UNSPEC, INET, INET6 or UNIX (0-3)");
    }
    if (protocol > 2) {
      return invalid(2, "v2 transport protocol " + std::to_string(protocol) +
                            " is not UNSPEC, STREAM or DGRAM (0-2)");
    }
  }
  if (prefix.size() < kV2Fixed) return r;  // need_more
  const std::uint8_t fam = prefix[13];
  const std::size_t length = be16(prefix.data() + 14);
  const std::size_t total = kV2Fixed + length;
  if (total > max_bytes) {
    return invalid(2, "v2 header of " + std::to_string(total) + " bytes is larger than the " +
                          std::to_string(max_bytes) + " accepted");
  }
  const int block = address_block_size(fam);
  if (r.command == ProxyCommand::proxy && block > 0 && length < static_cast<std::size_t>(block)) {
    return invalid(2, "v2 length " + std::to_string(length) + " is shorter than the " +
                          std::to_string(block) + "-byte address block of family " + hex8(fam));
  }
  if (prefix.size() < total) return r;  // need_more
  r.length = total;
  const std::span<const std::uint8_t> header = prefix.first(total);
  const std::uint8_t* a = header.data() + kV2Fixed;
  if (r.command == ProxyCommand::proxy) {
    r.transport = transport_of(fam);
    if (fam == 0x11 || fam == 0x12) {
      r.source = base::Endpoint{base::IpAddress::v4({a[0], a[1], a[2], a[3]}), be16(a + 8)};
      r.destination = base::Endpoint{base::IpAddress::v4({a[4], a[5], a[6], a[7]}), be16(a + 10)};
    } else if (fam == 0x21 || fam == 0x22) {
      std::array<std::uint8_t, 16> src{}, dst{};
      std::memcpy(src.data(), a, 16);
      std::memcpy(dst.data(), a + 16, 16);
      r.source = base::Endpoint{base::IpAddress::v6(src), be16(a + 32)};
      r.destination = base::Endpoint{base::IpAddress::v6(dst), be16(a + 34)};
    }
  }
  // TLVs follow the address block; where that block's size is not known (a family/protocol pair
  // §2.2 does not list) or does not fit (LOCAL, whose block is ignored), there are none to read.
  if (block < 0 || static_cast<std::size_t>(block) > length) {
    r.status = PeekStatus::done;
    return r;
  }
  const std::size_t tlv_start = kV2Fixed + static_cast<std::size_t>(block);
  std::string problem = walk_tlvs(
      header.subspan(tlv_start), tlv_start, "the header",
      [&](std::uint8_t type, std::span<const std::uint8_t> value, std::size_t at) -> std::string {
        const auto once = [&](bool present) -> std::string {
          return present ? "v2 " + std::string(tlv_name(type)) + " appears twice" : std::string();
        };
        std::string twice;
        switch (type) {
          case kTlvAlpn:
            if (twice = once(r.alpn.has_value()); twice.empty()) r.alpn = as_string(value);
            return twice;
          case kTlvAuthority:
            if (twice = once(r.authority.has_value()); twice.empty())
              r.authority = as_string(value);
            return twice;
          case kTlvUniqueId:
            if (value.size() > kMaxUniqueId) {
              return "v2 PP2_TYPE_UNIQUE_ID of " + std::to_string(value.size()) +
                     " bytes (at most 128)";
            }
            if (twice = once(r.unique_id.has_value()); twice.empty())
              r.unique_id = as_string(value);
            return twice;
          case kTlvSsl:
            if (twice = once(r.ssl.has_value()); !twice.empty()) return twice;
            r.ssl.emplace();
            return parse_ssl(value, at, *r.ssl);
          case kTlvCrc32c: {
            if (twice = once(r.crc32c_verified); !twice.empty()) return twice;
            if (value.size() != 4) {
              return "v2 PP2_TYPE_CRC32C value of " + std::to_string(value.size()) +
                     " bytes, not 4";
            }
            // §2.2.3: the CRC32c of the whole header with this value's 4 bytes as zeros.
            const std::size_t v = at + 3;
            Crc32c crc;
            crc.process_bytes(header.data(), v);
            const std::uint8_t zeros[4] = {};
            crc.process_bytes(zeros, 4);
            crc.process_bytes(header.data() + v + 4, total - v - 4);
            const std::uint32_t sent = be32(value.data());
            if (crc.checksum() != sent) {
              char buf[64];
              std::snprintf(buf, sizeof(buf), "v2 CRC32c 0x%08x does not match the header's 0x%08x",
                            sent, crc.checksum());
              return buf;
            }
            r.crc32c_verified = true;
            return {};
          }
          default:
            return {};  // PP2_TYPE_NOOP, _NETNS, the custom ranges, ...: nothing to check
        }
      });
  if (!problem.empty()) return invalid(2, std::move(problem));
  r.status = PeekStatus::done;
  return r;
}

}  // namespace

std::string_view to_string(ProxyTransport t) noexcept {
  switch (t) {
    case ProxyTransport::unspec:
      return "unspec";
    case ProxyTransport::tcp4:
      return "tcp4";
    case ProxyTransport::tcp6:
      return "tcp6";
    case ProxyTransport::udp4:
      return "udp4";
    case ProxyTransport::udp6:
      return "udp6";
    case ProxyTransport::unix_stream:
      return "unix_stream";
    case ProxyTransport::unix_dgram:
      return "unix_dgram";
  }
  return "unspec";
}

ProxyHeaderResult read_proxy_header(std::span<const std::uint8_t> prefix, std::size_t max_bytes) {
  if (prefix.empty()) return {};
  if (starts_like(prefix, kProxyV2Signature)) {
    if (prefix.size() < sizeof(kProxyV2Signature)) return {};
    return read_v2(prefix, max_bytes);
  }
  if (starts_like(prefix, kV1Signature)) {
    if (prefix.size() < sizeof(kV1Signature)) return {};
    return read_v1(prefix);
  }
  ProxyHeaderResult r =
      invalid(0, "no PROXY protocol header: the stream starts with " + printable(prefix));
  r.no_header = true;
  return r;
}

}  // namespace egress::peek
