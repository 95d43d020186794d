#include "peek/proxy_header.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace egress::peek {
namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes hex(std::string_view text) {
  Bytes out;
  for (std::size_t i = 0; i + 1 < text.size(); i += 2)
    out.push_back(
        static_cast<std::uint8_t>(std::stoul(std::string(text.substr(i, 2)), nullptr, 16)));
  return out;
}

Bytes text(std::string_view s) {
  return Bytes(s.begin(), s.end());
}

ProxyHeaderResult read(const Bytes& b, std::size_t max_bytes = kDefaultMaxBytes) {
  return read_proxy_header(b, max_bytes);
}

std::string ep(const std::optional<base::Endpoint>& e) {
  return e ? e->to_string() : "none";
}

// Real headers, captured once (2026-12-07) from HAProxy 2.6.12 relaying to a Python listener on
// 127.0.0.1: each is the header followed by the client's first bytes ("hello-..."). The
// configuration: a TLS frontend (`verify optional`, SNI api.example.com) whose server line has
// `send-proxy-v2 proxy-v2-options ssl,cert-cn,ssl-cipher,cert-sig,cert-key,authority,crc32c,
// unique-id`; plain frontends on [::1] and on `:::port v4v6` with `send-proxy-v2` and with
// `send-proxy`; a server with `check send-proxy-v2 check-send-proxy` for the LOCAL health check.

// TLS client with a certificate (CN workload-a): SSL (client 0x07, verify 0, TLSv1.3, CN, key and
// signature algorithms, cipher), AUTHORITY, UNIQUE_ID, CRC32C.
const Bytes kHaproxyV2Tls =
    hex("0d0a0d0a000d0a515549540a2111008b7f0000017f000001936842690300047e"
        "83a16802000f6170692e6578616d706c652e636f6d05000f3132372e302e302e"
        "313a33373733362000510700000000210007544c5376312e3322000a776f726b"
        "6c6f61642d61250005454332353624001165636473612d776974682d53484132"
        "3536230016544c535f4145535f3235365f47434d5f53484133383468656c6c6f"
        "2d7632746c730a");
// The same without a client certificate: client 0x01, no CN.
const Bytes kHaproxyV2TlsNoCert =
    hex("0d0a0d0a000d0a515549540a2111007e7f0000017f000001937842690300044c"
        "801b7202000f6170692e6578616d706c652e636f6d05000f3132372e302e302e"
        "313a33373735322000440100000000210007544c5376312e3325000545433235"
        "3624001165636473612d776974682d534841323536230016544c535f4145535f"
        "3235365f47434d5f53484133383468656c6c6f2d7632746c732d6e6f63657274"
        "0a");
const Bytes kHaproxyV2Tcp6 =
    hex("0d0a0d0a000d0a515549540a2121002400000000000000000000000000000001"
        "00000000000000000000000000000001ba32426a68656c6c6f2d76322d36");
// An IPv4 client on a v4v6 socket: HAProxy sends its IPv4-mapped address as TCP over IPv6.
const Bytes kHaproxyV2Mapped =
    hex("0d0a0d0a000d0a515549540a2121002400000000000000000000ffff7f000001"
        "00000000000000000000ffff7f000001d93e426d68656c6c6f2d76322d6d6170"
        "706564");
const Bytes kHaproxyV1Tcp4 =
    hex("50524f58592054435034203132372e302e302e31203132372e302e302e312033"
        "343535382031373030330d0a68656c6c6f2d76312d34");
const Bytes kHaproxyV1Tcp6 =
    hex("50524f58592054435036203a3a31203a3a312036303236322031373030340d0a"
        "68656c6c6f2d76312d36");
const Bytes kHaproxyV1Mapped =
    hex("50524f58592054435036203a3a666666663a3132372e302e302e31203a3a6666"
        "66663a3132372e302e302e312034383637382031373030360d0a68656c6c6f2d"
        "76312d6d6170706564");
const Bytes kHaproxyV2LocalCheck = hex("0d0a0d0a000d0a515549540a20000000");

// RFC 4960 Appendix B's CRC32c, bit by bit: a reference independent of the reader's Boost.CRC.
std::uint32_t reference_crc32c(const Bytes& b) {
  std::uint32_t crc = 0xffffffff;
  for (const std::uint8_t byte : b) {
    crc ^= byte;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
  }
  return ~crc;
}

// A v2 header written from §2.2: signature, ver_cmd, fam, length of `body`, body.
Bytes v2(std::uint8_t ver_cmd, std::uint8_t fam, const Bytes& body) {
  Bytes out(kProxyV2Signature, kProxyV2Signature + 12);
  out.push_back(ver_cmd);
  out.push_back(fam);
  out.push_back(static_cast<std::uint8_t>(body.size() >> 8));
  out.push_back(static_cast<std::uint8_t>(body.size()));
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

Bytes tlv(std::uint8_t type, const Bytes& value) {
  Bytes out{type, static_cast<std::uint8_t>(value.size() >> 8),
            static_cast<std::uint8_t>(value.size())};
  out.insert(out.end(), value.begin(), value.end());
  return out;
}

Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// 192.0.2.1:51000 -> 198.51.100.7:443
const Bytes kTcp4Block = hex("c0000201c6336407c73801bb");

// A v2 TCP4 header whose last TLV is a CRC32C filled in by the reference.
Bytes v2_with_crc(const Bytes& tlvs_before) {
  Bytes h = v2(0x21, 0x11, cat({kTcp4Block, tlvs_before, tlv(0x03, {0, 0, 0, 0})}));
  const std::uint32_t crc = reference_crc32c(h);
  const std::size_t at = h.size() - 4;
  for (int i = 0; i < 4; ++i) h[at + i] = static_cast<std::uint8_t>(crc >> (24 - 8 * i));
  return h;
}

void expect_invalid(const Bytes& b, std::string_view detail_part, int version) {
  const auto r = read(b);
  EXPECT_EQ(r.status, PeekStatus::invalid) << "detail: " << r.detail;
  EXPECT_FALSE(r.no_header);
  EXPECT_EQ(r.version, version);
  EXPECT_NE(r.detail.find(detail_part), std::string::npos)
      << "detail \"" << r.detail << "\" lacks \"" << detail_part << "\"";
  EXPECT_FALSE(r.source);
  EXPECT_FALSE(r.authority);
  EXPECT_FALSE(r.ssl);
}

TEST(ProxyHeader, HaproxyV2OverTlsWithEveryTlv) {
  const auto r = read(kHaproxyV2Tls);
  ASSERT_EQ(r.status, PeekStatus::done) << r.detail;
  EXPECT_FALSE(r.no_header);
  EXPECT_EQ(r.version, 2);
  EXPECT_EQ(r.command, ProxyCommand::proxy);
  EXPECT_EQ(r.transport, ProxyTransport::tcp4);
  EXPECT_EQ(ep(r.source), "127.0.0.1:37736");
  EXPECT_EQ(ep(r.destination), "127.0.0.1:17001");
  EXPECT_EQ(r.length, 16u + 0x8b);
  EXPECT_EQ(std::string(kHaproxyV2Tls.begin() + static_cast<std::ptrdiff_t>(r.length),
                        kHaproxyV2Tls.end()),
            "hello-v2tls\n");
  EXPECT_EQ(r.authority, "api.example.com");
  EXPECT_EQ(r.unique_id, "127.0.0.1:37736");
  EXPECT_FALSE(r.alpn);
  EXPECT_TRUE(r.crc32c_verified);
  ASSERT_TRUE(r.ssl);
  EXPECT_TRUE(r.ssl->client_ssl);
  EXPECT_TRUE(r.ssl->cert_conn);
  EXPECT_TRUE(r.ssl->cert_sess);
  EXPECT_EQ(r.ssl->verify, 0u);
  EXPECT_TRUE(r.ssl->verified_client_cert());
  EXPECT_EQ(r.ssl->version, "TLSv1.3");
  EXPECT_EQ(r.ssl->cn, "workload-a");
  EXPECT_EQ(r.ssl->cipher, "TLS_AES_256_GCM_SHA384");
  EXPECT_EQ(r.ssl->sig_alg, "ecdsa-with-SHA256");
  EXPECT_EQ(r.ssl->key_alg, "EC256");
  EXPECT_TRUE(r.detail.empty());
}

TEST(ProxyHeader, HaproxyV2OverTlsWithoutClientCertificate) {
  const auto r = read(kHaproxyV2TlsNoCert);
  ASSERT_EQ(r.status, PeekStatus::done) << r.detail;
  EXPECT_EQ(ep(r.source), "127.0.0.1:37752");
  EXPECT_TRUE(r.crc32c_verified);
  ASSERT_TRUE(r.ssl);
  EXPECT_TRUE(r.ssl->client_ssl);
  EXPECT_FALSE(r.ssl->cert_conn);
  EXPECT_FALSE(r.ssl->cert_sess);
  EXPECT_FALSE(r.ssl->verified_client_cert());  // verify is 0, but no certificate was presented
  EXPECT_EQ(r.ssl->cn, "");
  EXPECT_EQ(r.ssl->version, "TLSv1.3");
}

TEST(ProxyHeader, HaproxyV2Tcp6AndMappedSource) {
  auto r = read(kHaproxyV2Tcp6);
  ASSERT_EQ(r.status, PeekStatus::done) << r.detail;
  EXPECT_EQ(r.transport, ProxyTransport::tcp6);
  EXPECT_EQ(ep(r.source), "[::1]:47666");
  EXPECT_EQ(ep(r.destination), "[::1]:17002");
  EXPECT_EQ(r.length, 52u);
  EXPECT_FALSE(r.crc32c_verified);
  EXPECT_FALSE(r.ssl);
  r = read(kHaproxyV2Mapped);
  ASSERT_EQ(r.status, PeekStatus::done) << r.detail;
  EXPECT_EQ(r.transport, ProxyTransport::tcp6);  // as announced; the addresses are IPv4
  ASSERT_TRUE(r.source);
  EXPECT_TRUE(r.source->address.is_v4());
  EXPECT_EQ(ep(r.source), "127.0.0.1:55614");
  EXPECT_EQ(ep(r.destination), "127.0.0.1:17005");
}

TEST(ProxyHeader, HaproxyV1Lines) {
  auto r = read(kHaproxyV1Tcp4);
  ASSERT_EQ(r.status, PeekStatus::done) << r.detail;
  EXPECT_EQ(r.version, 1);
  EXPECT_EQ(r.command, ProxyCommand::proxy);
  EXPECT_EQ(r.transport, ProxyTransport::tcp4);
  EXPECT_EQ(ep(r.source), "127.0.0.1:34558");
  EXPECT_EQ(ep(r.destination), "127.0.0.1:17003");
  EXPECT_EQ(r.length, std::string_view("PROXY TCP4 127.0.0.1 127.0.0.1 34558 17003\r\n").size());
  r = read(kHaproxyV1Tcp6);
  ASSERT_EQ(r.status, PeekStatus::done) << r.detail;
  EXPECT_EQ(r.transport, ProxyTransport::tcp6);
  EXPECT_EQ(ep(r.source), "[::1]:60262");
  EXPECT_EQ(ep(r.destination), "[::1]:17004");
  r = read(kHaproxyV1Mapped);
  ASSERT_EQ(r.status, PeekStatus::done) << r.detail;
  EXPECT_EQ(r.transport, ProxyTransport::tcp6);
  EXPECT_EQ(ep(r.source), "127.0.0.1:48678");
  EXPECT_TRUE(r.source->address.is_v4());
  EXPECT_EQ(ep(r.destination), "127.0.0.1:17006");
}

TEST(ProxyHeader, HaproxyLocalHealthCheck) {
  const auto r = read(kHaproxyV2LocalCheck);
  ASSERT_EQ(r.status, PeekStatus::done) << r.detail;
  EXPECT_EQ(r.version, 2);
  EXPECT_EQ(r.command, ProxyCommand::local);
  EXPECT_EQ(r.transport, ProxyTransport::unspec);
  EXPECT_FALSE(r.source);
  EXPECT_FALSE(r.destination);
  EXPECT_EQ(r.length, 16u);
}

TEST(ProxyHeader, LocalIgnoresItsAddressBlockButReadsTlvsAfterIt) {
  // §2.2: LOCAL "must use the real connection endpoints and discard the protocol block".
  auto r = read(v2(0x20, 0x11, cat({kTcp4Block, tlv(0x02, text("a.example"))})));
  ASSERT_EQ(r.status, PeekStatus::done) << r.detail;
  EXPECT_EQ(r.command, ProxyCommand::local);
  EXPECT_EQ(r.transport, ProxyTransport::unspec);
  EXPECT_FALSE(r.source);
  EXPECT_EQ(r.authority, "a.example");
  // A LOCAL block shorter than its family's addresses is skipped whole ("must not assume zero").
  r = read(v2(0x20, 0x21, Bytes(5, 0xee)));
  ASSERT_EQ(r.status, PeekStatus::done) << r.detail;
  EXPECT_EQ(r.length, 21u);
  EXPECT_FALSE(r.authority);
}

TEST(ProxyHeader, HandWrittenFamilies) {
  // UDP over IPv4 (0x12): addresses as for TCP; the caller decides what a UDP header means.
  auto r = read(v2(0x21, 0x12, kTcp4Block));
  ASSERT_EQ(r.status, PeekStatus::done) << r.detail;
  EXPECT_EQ(r.transport, ProxyTransport::udp4);
  EXPECT_EQ(ep(r.source), "192.0.2.1:51000");
  EXPECT_EQ(ep(r.destination), "198.51.100.7:443");
  // UDP over IPv6 (0x22), 2001:db8::1:1000 -> 2001:db8::2:53.
  r = read(v2(0x21, 0x22,
              hex("20010db8000000000000000000000001"
                  "20010db8000000000000000000000002"
                  "03e80035")));
  ASSERT_EQ(r.status, PeekStatus::done) << r.detail;
  EXPECT_EQ(r.transport, ProxyTransport::udp6);
  EXPECT_EQ(ep(r.source), "[2001:db8::1]:1000");
  EXPECT_EQ(ep(r.destination), "[2001:db8::2]:53");
  // UNIX stream (0x31): 2 x 108 bytes of paths, no IP endpoints; TLVs after the block.
  r = read(v2(0x21, 0x31, cat({Bytes(216, 0), tlv(0x02, text("u.example"))})));
  ASSERT_EQ(r.status, PeekStatus::done) << r.detail;
  EXPECT_EQ(r.transport, ProxyTransport::unix_stream);
  EXPECT_FALSE(r.source);
  EXPECT_EQ(r.authority, "u.example");
  r = read(v2(0x21, 0x32, Bytes(216, 0)));
  ASSERT_EQ(r.status, PeekStatus::done) << r.detail;
  EXPECT_EQ(r.transport, ProxyTransport::unix_dgram);
  // PROXY with UNSPEC (0x00): use the real addresses; TLVs start right after the 16 bytes.
  r = read(v2(0x21, 0x00, tlv(0x02, text("x.example"))));
  ASSERT_EQ(r.status, PeekStatus::done) << r.detail;
  EXPECT_EQ(r.command, ProxyCommand::proxy);
  EXPECT_EQ(r.transport, ProxyTransport::unspec);
  EXPECT_FALSE(r.source);
  EXPECT_EQ(r.authority, "x.example");
  // A family/protocol pair §2.2 does not list (INET with UNSPEC protocol): no addresses, no TLVs.
  r = read(v2(0x21, 0x10, Bytes(12, 1)));
  ASSERT_EQ(r.status, PeekStatus::done) << r.detail;
  EXPECT_EQ(r.transport, ProxyTransport::unspec);
  EXPECT_FALSE(r.source);
  EXPECT_EQ(r.length, 28u);
}

TEST(ProxyHeader, UnknownTlvsAreSkippedAndKnownOnesRead) {
  const Bytes h = v2(0x21, 0x11,
                     cat({kTcp4Block, tlv(0x04, {}), tlv(0xe0, Bytes(300, 0x03)),
                          tlv(0x01, text("h2")), tlv(0x30, text("netns")),
                          tlv(0xee, text("vpce-0123")), tlv(0x02, text("api.example.com"))}));
  const auto r = read(h);
  ASSERT_EQ(r.status, PeekStatus::done) << r.detail;
  EXPECT_EQ(r.alpn, "h2");
  EXPECT_EQ(r.authority, "api.example.com");
  EXPECT_EQ(r.length, h.size());
  // Unknown SSL subtypes are skipped too.
  const auto s = read(v2(0x21, 0x11,
                         cat({kTcp4Block, tlv(0x20, cat({hex("0700000001"), tlv(0x26, text("?")),
                                                         tlv(0x22, text("cn-1"))}))})));
  ASSERT_EQ(s.status, PeekStatus::done) << s.detail;
  ASSERT_TRUE(s.ssl);
  EXPECT_EQ(s.ssl->verify, 1u);
  EXPECT_FALSE(s.ssl->verified_client_cert());  // presented but not verified
  EXPECT_EQ(s.ssl->cn, "cn-1");
}

TEST(ProxyHeader, Crc32cIsVerified) {
  const Bytes good = v2_with_crc(tlv(0x02, text("api.example.com")));
  auto r = read(good);
  ASSERT_EQ(r.status, PeekStatus::done) << r.detail;
  EXPECT_TRUE(r.crc32c_verified);
  // Any changed byte, in the header or in the checksum: invalid.
  for (const std::size_t at : {std::size_t{17}, std::size_t{33}, good.size() - 1}) {
    Bytes bad = good;
    bad[at] ^= 0x01;
    expect_invalid(bad, "CRC32c", 2);
  }
  // HAProxy's own checksum, with one byte of the authority changed.
  Bytes bad = kHaproxyV2Tls;
  bad[0x28] = 'A';
  expect_invalid(bad, "does not match", 2);
  expect_invalid(v2(0x21, 0x11, cat({kTcp4Block, tlv(0x03, {1, 2, 3})})),
                 "PP2_TYPE_CRC32C value of 3 bytes, not 4", 2);
}

TEST(ProxyHeader, TlvOverruns) {
  // A TLV whose length passes the header's end.
  Bytes h = v2(0x21, 0x11, cat({kTcp4Block, hex("02000a"), text("short")}));
  expect_invalid(h,
                 "PP2_TYPE_AUTHORITY (0x02) at byte 28 of length 10 runs past the end of "
                 "the header (5 bytes left)",
                 2);
  // A TLV header cut short.
  expect_invalid(v2(0x21, 0x11, cat({kTcp4Block, hex("0200")})),
                 "TLV header at byte 28 runs past the end of the header (2 bytes left)", 2);
  // An SSL sub-TLV past its TLV's end, though inside the header.
  expect_invalid(
      v2(0x21, 0x11,
         cat({kTcp4Block, tlv(0x20, cat({hex("0100000000"), hex("220009"), text("abc")})),
              tlv(0x04, Bytes(20, 0))})),
      "PP2_SUBTYPE_SSL_CN (0x22) at byte 36 of length 9 runs past the end of its "
      "PP2_TYPE_SSL",
      2);
  expect_invalid(v2(0x21, 0x11, cat({kTcp4Block, tlv(0x20, hex("01000000"))})),
                 "shorter than its client and verify fields", 2);
  expect_invalid(v2(0x21, 0x11, cat({kTcp4Block, tlv(0x05, Bytes(129, 'u'))})),
                 "PP2_TYPE_UNIQUE_ID of 129 bytes", 2);
  EXPECT_EQ(read(v2(0x21, 0x11, cat({kTcp4Block, tlv(0x05, Bytes(128, 'u'))}))).status,
            PeekStatus::done);
}

TEST(ProxyHeader, TlvsThatMayAppearOnceAppearOnce) {
  expect_invalid(v2(0x21, 0x11, cat({kTcp4Block, tlv(0x02, text("a")), tlv(0x02, text("b"))})),
                 "PP2_TYPE_AUTHORITY appears twice", 2);
  expect_invalid(
      v2(0x21, 0x11, cat({kTcp4Block, tlv(0x20, hex("0100000000")), tlv(0x20, hex("0100000000"))})),
      "PP2_TYPE_SSL appears twice", 2);
  expect_invalid(
      v2(0x21, 0x11,
         cat({kTcp4Block,
              tlv(0x20, cat({hex("0700000000"), tlv(0x22, text("a")), tlv(0x22, text("b"))}))})),
      "PP2_SUBTYPE_SSL_CN appears twice", 2);
}

TEST(ProxyHeader, V2FixedFieldsAreCheckedAsSoonAsTheyArrive) {
  const Bytes sig(kProxyV2Signature, kProxyV2Signature + 12);
  expect_invalid(cat({sig, {0x11}}), "v2 version nibble is 1, not 2", 2);
  expect_invalid(cat({sig, {0x31}}), "v2 version nibble is 3, not 2", 2);
  expect_invalid(cat({sig, {0x22}}), "v2 command 2 is neither LOCAL (0) nor PROXY (1)", 2);
  expect_invalid(cat({sig, {0x21, 0x41}}), "v2 address family 4", 2);
  expect_invalid(cat({sig, {0x21, 0x13}}), "v2 transport protocol 3", 2);
  // The length is checked against the family's address block before the block arrives.
  expect_invalid(cat({sig, {0x21, 0x11, 0x00, 0x0b}}),
                 "v2 length 11 is shorter than the 12-byte address block of family 0x11", 2);
  expect_invalid(cat({sig, {0x21, 0x21, 0x00, 0x0c}}), "36-byte address block", 2);
  expect_invalid(cat({sig, {0x21, 0x31, 0x00, 0x24}}), "216-byte address block", 2);
  // And against max_bytes.
  const auto r = read(cat({sig, {0x21, 0x11, 0xff, 0xff}}));
  EXPECT_EQ(r.status, PeekStatus::invalid);
  EXPECT_EQ(r.detail, "v2 header of 65551 bytes is larger than the 16384 accepted");
  EXPECT_EQ(read(v2(0x21, 0x10, Bytes(100, 0)), 116).status, PeekStatus::done);
  EXPECT_EQ(read(v2(0x21, 0x10, Bytes(101, 0)), 116).status, PeekStatus::invalid);
}

// Every prefix of a header is need_more; the whole header, and anything after it, done with the
// same result; one byte at a time never answers before the end.
void expect_fed_byte_by_byte(const Bytes& stream) {
  const auto whole = read(stream);
  ASSERT_EQ(whole.status, PeekStatus::done) << whole.detail;
  for (std::size_t n = 0; n < whole.length; ++n) {
    const auto r = read(Bytes(stream.begin(), stream.begin() + static_cast<std::ptrdiff_t>(n)));
    ASSERT_EQ(r.status, PeekStatus::need_more)
        << "at " << n << " of " << whole.length << ": " << r.detail;
    EXPECT_FALSE(r.no_header);
  }
  const auto exact =
      read(Bytes(stream.begin(), stream.begin() + static_cast<std::ptrdiff_t>(whole.length)));
  ASSERT_EQ(exact.status, PeekStatus::done) << exact.detail;
  EXPECT_EQ(exact.length, whole.length);
  EXPECT_EQ(ep(exact.source), ep(whole.source));
  EXPECT_EQ(ep(exact.destination), ep(whole.destination));
  EXPECT_EQ(exact.authority, whole.authority);
  EXPECT_EQ(exact.crc32c_verified, whole.crc32c_verified);
}

TEST(ProxyHeader, TruncatedAtEveryOffsetNeedsMore) {
  for (const Bytes* b :
       {&kHaproxyV2Tls, &kHaproxyV2TlsNoCert, &kHaproxyV2Tcp6, &kHaproxyV2Mapped, &kHaproxyV1Tcp4,
        &kHaproxyV1Tcp6, &kHaproxyV1Mapped, &kHaproxyV2LocalCheck}) {
    SCOPED_TRACE(::testing::PrintToString(b->size()));
    expect_fed_byte_by_byte(*b);
  }
  expect_fed_byte_by_byte(text("PROXY UNKNOWN\r\nGET / HTTP/1.1\r\n"));
}

TEST(ProxyHeader, V1Unknown) {
  auto r = read(text("PROXY UNKNOWN\r\n"));
  ASSERT_EQ(r.status, PeekStatus::done) << r.detail;
  EXPECT_EQ(r.version, 1);
  EXPECT_EQ(r.transport, ProxyTransport::unspec);
  EXPECT_FALSE(r.source);
  EXPECT_EQ(r.length, 15u);
  // §2.1's worst case, 107 bytes: what follows UNKNOWN is ignored.
  const std::string ff = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
  const std::string worst = "PROXY UNKNOWN " + ff + " " + ff + " 65535 65535\r\n";
  ASSERT_EQ(worst.size(), 107u);
  r = read(text(worst));
  ASSERT_EQ(r.status, PeekStatus::done) << r.detail;
  EXPECT_FALSE(r.source);
  EXPECT_EQ(r.length, 107u);
  r = read(text("PROXY UNKNOWN anything at all, \x01\xff\r\n"));
  EXPECT_EQ(r.status, PeekStatus::done) << r.detail;
  // One byte more than the worst case: no CRLF within 107 bytes.
  expect_invalid(text("PROXY UNKNOWN " + ff + " " + ff + " 65535 655350\r\n"),
                 "no CRLF in its first 107 bytes", 1);
  expect_invalid(text("PROXY UNKNOWN " + std::string(200, 'x')), "no CRLF in its first 107 bytes",
                 1);
}

TEST(ProxyHeader, V1LongestTcp6Line) {
  const std::string ff = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
  const std::string line = "PROXY TCP6 " + ff + " " + ff + " 65535 65535\r\n";
  ASSERT_EQ(line.size(), 104u);
  const auto r = read(text(line));
  ASSERT_EQ(r.status, PeekStatus::done) << r.detail;
  EXPECT_EQ(ep(r.source), "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
  const auto zero = read(text("PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n"));
  ASSERT_EQ(zero.status, PeekStatus::done) << zero.detail;
  EXPECT_EQ(ep(zero.source), "0.0.0.0:0");
  EXPECT_EQ(ep(zero.destination), "255.255.255.255:65535");
}

TEST(ProxyHeader, V1Malformations) {
  struct Case {
    std::string line;
    std::string detail;
  };
  const Case cases[] = {
      {"PROXY TCP4 192.0.2.1 198.51.100.7 51000 443\n", "ends in a lone LF, not CRLF"},
      {"PROXY TCP4 192.0.2.1 198.51.100.7 51000 443\rX", "has a CR not followed by LF"},
      {"PROXY TCP4 192.0.2.1\n", "lone LF"},
      {"PROXYTCP4 192.0.2.1 198.51.100.7 51000 443\r\n", "\"PROXY\" is followed by \"T\""},
      {"PROXY  TCP4 192.0.2.1 198.51.100.7 51000 443\r\n", "protocol starting \"\" is not TCP4"},
      {"PROXY TCP5 192.0.2.1 198.51.100.7 51000 443\r\n", "protocol starting \"TCP5\" is not TCP4"},
      {"PROXY tcp4 192.0.2.1 198.51.100.7 51000 443\r\n",
       "v1 protocol starting \"t\" is not TCP4, TCP6 or UNKNOWN"},
      {"PROXY UNKNOWNX\r\n", "protocol starting \"UNKNOWNX\""},
      {"PROXY\r\n", "has no protocol"},
      {"PROXY \r\n", "has no protocol"},
      {"PROXY TCP4\r\n", "has no addresses after its protocol"},
      {"PROXY TCP4 192.0.2.1 198.51.100.7 51000\r\n", "has 3 of its 4 fields"},
      {"PROXY TCP4 192.0.2.1\r\n", "has 1 of its 4 fields"},
      {"PROXY TCP4 192.0.2.1 198.51.100.7 51000 443 80\r\n", "more than its 4 fields"},
      {"PROXY TCP4 192.0.2.1 198.51.100.7 51000 443 \r\n", "more than its 4 fields"},
      {"PROXY TCP4 192.0.2.1  198.51.100.7 51000 443\r\n", "has an empty field"},
      {"PROXY TCP4 192.0.2.01 198.51.100.7 51000 443\r\n",
       "TCP4 source address \"192.0.2.01\" is not an IPv4 address"},
      {"PROXY TCP4 192.0.2.1 198.51.100.256 51000 443\r\n",
       "destination address \"198.51.100.256\""},
      {"PROXY TCP4 192.0.2 198.51.100.7 51000 443\r\n", "source address \"192.0.2\""},
      {"PROXY TCP4 192.0.2.1.5 198.51.100.7 51000 443\r\n", "source address \"192.0.2.1.5\""},
      {"PROXY TCP4 192.0..1 198.51.100.7 51000 443\r\n", "source address"},
      {"PROXY TCP4 2001:db8::1 198.51.100.7 51000 443\r\n",
       "TCP4 source address \"2001:db8::1\" is not an IPv4 address"},
      {"PROXY TCP6 192.0.2.1 2001:db8::2 51000 443\r\n",
       "TCP6 source address \"192.0.2.1\" is not an IPv6 address"},
      {"PROXY TCP6 2001:db8::1 2001:db8:::2 51000 443\r\n", "destination address"},
      {"PROXY TCP6 2001:db8::1 12345:db8::2 51000 443\r\n", "destination address"},
      {"PROXY TCP4 192.0.2.1 198.51.100.7 051000 443\r\n",
       "source port \"051000\" is not a port (0-65535, decimal, no leading zeros)"},
      {"PROXY TCP4 192.0.2.1 198.51.100.7 51000 0443\r\n", "destination port \"0443\""},
      {"PROXY TCP4 192.0.2.1 198.51.100.7 65536 443\r\n", "source port \"65536\""},
      {"PROXY TCP4 192.0.2.1 198.51.100.7 51000 99999999\r\n", "destination port \"99999999\""},
      {"PROXY TCP4 192.0.2.1 198.51.100.7 51000 0x1bb\r\n", "has \"x\", not part of an address"},
      {"PROXY TCP4 192.0.2.1 198.51.100.7 51000 44a\r\n", "destination port \"44a\""},
      {"PROXY TCP4 192.0.2.1 198.51.100.7 -1 443\r\n", "has \"-\""},
      {"PROXY TCP6 [2001:db8::1] 2001:db8::2 51000 443\r\n", "has \"[\""},
      {"PROXY TCP6 fe80::1%eth0 2001:db8::2 51000 443\r\n", "has \"%\""},
      {"PROXY TCP4 192.0.2.1\t198.51.100.7 51000 443\r\n", "has \"\\x09\""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.line);
    expect_invalid(text(c.line), c.detail, 1);
  }
}

TEST(ProxyHeader, V1ProblemsBeforeTheCrlfAreReportedAtOnce) {
  // §2.1: "abort the connection as soon as possible".
  expect_invalid(text("PROXY TCP4 192.0.2.1 G"), "has \"G\"", 1);
  expect_invalid(text("PROXY UDP4"), "protocol starting \"UD\" is not", 1);
  expect_invalid(text("PROXY_"), "followed by \"_\"", 1);
  EXPECT_EQ(read(text("PROXY TCP4 1.2.3.4 5")).status, PeekStatus::need_more);
  EXPECT_EQ(read(text("PROXY TC")).status, PeekStatus::need_more);
  EXPECT_EQ(read(text("PROXY UNKNOWN whatever\r")).status, PeekStatus::need_more);
}

TEST(ProxyHeader, NoHeaderIsReportedDistinctly) {
  for (const Bytes& b :
       {text("GET / HTTP/1.1\r\n"), text("G"), hex("160301020001"), text("PROXZ"), text("POST"),
        hex("0d0a0d0a0d"), hex("0d0a0d0a000d0a5155495420"), text("proxy TCP4")}) {
    const auto r = read(b);
    EXPECT_EQ(r.status, PeekStatus::invalid);
    EXPECT_TRUE(r.no_header) << r.detail;
    EXPECT_EQ(r.version, 0);
    EXPECT_TRUE(r.detail.starts_with("no PROXY protocol header: the stream starts with \""))
        << r.detail;
  }
  EXPECT_EQ(read(hex("160301020001")).detail,
            "no PROXY protocol header: the stream starts with \"\\x16\\x03\\x01\\x02\\x00\\x01\"");
  // Long client bytes are truncated in the detail.
  const auto r = read(text(std::string(500, 'A')));
  EXPECT_EQ(r.detail,
            "no PROXY protocol header: the stream starts with \"" + std::string(48, 'A') + "\"...");
  // Not yet decided: a prefix of either signature.
  for (const Bytes& b :
       {Bytes{}, text("P"), text("PROX"), text("PROXY"), hex("0d"), hex("0d0a0d0a000d0a515549"),
        hex("0d0a0d0a000d0a515549540a"), hex("0d0a0d0a000d0a515549540a21")}) {
    const auto p = read(b);
    EXPECT_EQ(p.status, PeekStatus::need_more) << p.detail;
    EXPECT_FALSE(p.no_header);
  }
}

TEST(ProxyHeader, V1DetailsEscapeClientBytes) {
  const auto r = read(text(std::string("PROXY TCP4 \x01\x7f\"\\ x\r\n")));
  EXPECT_EQ(r.status, PeekStatus::invalid);
  EXPECT_EQ(r.detail, "v1 TCP4 line has \"\\x01\", not part of an address or port");
}

TEST(ProxyHeader, TransportNames) {
  EXPECT_EQ(to_string(ProxyTransport::tcp4), "tcp4");
  EXPECT_EQ(to_string(ProxyTransport::unix_dgram), "unix_dgram");
  EXPECT_EQ(to_string(ProxyTransport::unspec), "unspec");
}

}  // namespace
}  // namespace egress::peek
