#include "peek/client_hello_reader.hpp"

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <string>

#include "client_hellos.hpp"

namespace egress::peek {
namespace {

using testing::Bytes;
using testing::frame;
using testing::frame_in;
using testing::handshake_of;
using testing::HelloOptions;
using testing::openssl_client_hello;
using testing::parse_hello;
using testing::server_name_body;

constexpr std::uint16_t kSni = 0x0000;
constexpr std::uint16_t kEch = 0xfe0d;

ClientHelloResult read_all(const Bytes& b, std::size_t max_bytes = kDefaultMaxBytes) {
  return read_client_hello(b, max_bytes);
}

// Feeds the prefix one byte longer each time: need_more until the last byte, then done.
ClientHelloResult read_byte_by_byte(const Bytes& b, std::size_t& calls_needing_more) {
  ClientHelloReader reader;
  calls_needing_more = 0;
  for (std::size_t n = 1; n <= b.size(); ++n) {
    const auto& r = reader.read(std::span(b.data(), n));
    if (r.status != PeekStatus::need_more) return r;
    ++calls_needing_more;
  }
  return reader.result();
}

// A ClientHello message with its server_name extension's body replaced (or removed when empty).
Bytes with_sni_body(const Bytes& records, const Bytes& body) {
  auto hello = parse_hello(handshake_of(records));
  *hello.find(kSni) = body;
  return frame(hello.message(), 16384);
}

TEST(ClientHelloReader, Tls13ClientHelloFromOpenSsl) {
  const Bytes b = openssl_client_hello({.sni = "api.example.com"});
  const auto r = read_all(b);
  ASSERT_EQ(r.status, PeekStatus::done) << r.detail;
  EXPECT_EQ(r.sni, "api.example.com");
  EXPECT_FALSE(r.ech);
  EXPECT_EQ(r.length, b.size());
}

TEST(ClientHelloReader, Tls12ClientHelloFromOpenSsl) {
  const Bytes b =
      openssl_client_hello({.sni = "legacy.example.org", .max_version = TLS1_2_VERSION});
  // A TLS 1.2-only hello has no supported_versions extension (43).
  ASSERT_EQ(parse_hello(handshake_of(b)).find(43), nullptr);
  const auto r = read_all(b);
  ASSERT_EQ(r.status, PeekStatus::done) << r.detail;
  EXPECT_EQ(r.sni, "legacy.example.org");
}

TEST(ClientHelloReader, NameIsLowercasedAndLosesItsTrailingDot) {
  const auto r = read_all(openssl_client_hello({.sni = "API.Example.COM."}));
  ASSERT_EQ(r.status, PeekStatus::done) << r.detail;
  EXPECT_EQ(r.sni, "api.example.com");
}

TEST(ClientHelloReader, IdnaALabelIsAccepted) {
  const auto r = read_all(openssl_client_hello({.sni = "xn--bcher-kva.example"}));
  ASSERT_EQ(r.status, PeekStatus::done) << r.detail;
  EXPECT_EQ(r.sni, "xn--bcher-kva.example");
}

TEST(ClientHelloReader, NoSniIsDoneWithAnEmptyName) {
  const Bytes b = openssl_client_hello({});
  ASSERT_EQ(parse_hello(handshake_of(b)).find(kSni), nullptr);
  const auto r = read_all(b);
  ASSERT_EQ(r.status, PeekStatus::done) << r.detail;
  EXPECT_EQ(r.sni, "");
  EXPECT_EQ(r.length, b.size());
}

TEST(ClientHelloReader, OneByteAtATime) {
  const Bytes b = openssl_client_hello({.sni = "api.example.com", .alpn_bytes = 2000});
  std::size_t waits = 0;
  const auto r = read_byte_by_byte(b, waits);
  ASSERT_EQ(r.status, PeekStatus::done) << r.detail;
  EXPECT_EQ(r.sni, "api.example.com");
  EXPECT_EQ(waits, b.size() - 1);  // done exactly at the last byte, not before
}

TEST(ClientHelloReader, OpenSslSplitsALargeHelloIntoRecords) {
  // 3 KiB of ALPN in 512-byte records: OpenSSL's own multi-record ClientHello.
  const Bytes b = openssl_client_hello(
      {.sni = "big.example.com", .alpn_bytes = 3000, .max_send_fragment = 512});
  const Bytes message = handshake_of(b);
  ASSERT_GT(b.size(), message.size() + 5 * 5);  // at least 6 records
  std::size_t waits = 0;
  const auto r = read_byte_by_byte(b, waits);
  ASSERT_EQ(r.status, PeekStatus::done) << r.detail;
  EXPECT_EQ(r.sni, "big.example.com");
  EXPECT_EQ(r.length, b.size());
}

TEST(ClientHelloReader, ThreeRecordsReframedByHand) {
  const Bytes message =
      handshake_of(openssl_client_hello({.sni = "three.example.net", .alpn_bytes = 1500}));
  const Bytes b = frame_in(message, 3);
  ASSERT_EQ(b.size(), message.size() + 3 * 5);
  std::size_t waits = 0;
  const auto r = read_byte_by_byte(b, waits);
  ASSERT_EQ(r.status, PeekStatus::done) << r.detail;
  EXPECT_EQ(r.sni, "three.example.net");
  EXPECT_EQ(r.length, b.size());
}

TEST(ClientHelloReader, OneByteRecordsSplitEvenTheHandshakeHeader) {
  const Bytes message = handshake_of(openssl_client_hello({.sni = "tiny.example"}));
  const Bytes b = frame(message, 1);
  const auto r = read_all(b);
  ASSERT_EQ(r.status, PeekStatus::done) << r.detail;
  EXPECT_EQ(r.sni, "tiny.example");
  EXPECT_EQ(r.length, message.size() * 6);
}

TEST(ClientHelloReader, BytesAfterTheClientHelloAreNotRead) {
  Bytes b = openssl_client_hello({.sni = "api.example.com"});
  const std::size_t size = b.size();
  b.insert(b.end(), {23, 3, 3, 0, 5, 'h', 'e', 'l', 'l', 'o', 0xff, 0xff});  // early data, junk
  const auto r = read_all(b);
  ASSERT_EQ(r.status, PeekStatus::done) << r.detail;
  EXPECT_EQ(r.length, size);
}

TEST(ClientHelloReader, LargerThanMaxBytesIsInvalidAsSoonAsTheLengthSaysSo) {
  const Bytes b = openssl_client_hello({.sni = "huge.example.com", .alpn_bytes = 17000});
  ASSERT_GT(b.size(), 16384u);
  const auto r = read_all(b);
  ASSERT_EQ(r.status, PeekStatus::invalid);
  EXPECT_EQ(r.detail, "ClientHello larger than peek.max_bytes (16384 bytes)");
  // The first record's header and the handshake header are enough to know.
  ClientHelloReader early;
  EXPECT_EQ(early.read(std::span(b.data(), 9)).status, PeekStatus::invalid);
  EXPECT_EQ(early.read(std::span(b.data(), 8)).status, PeekStatus::invalid);  // stays invalid
  ClientHelloReader not_yet;
  EXPECT_EQ(not_yet.read(std::span(b.data(), 8)).status, PeekStatus::need_more);
  // The limit is the caller's: the same hello fits in 64 KiB.
  const auto fits = read_all(b, 64 * 1024);
  ASSERT_EQ(fits.status, PeekStatus::done) << fits.detail;
  EXPECT_EQ(fits.sni, "huge.example.com");
}

TEST(ClientHelloReader, MaxBytesCountsRecordHeaders) {
  const Bytes message = handshake_of(openssl_client_hello({.sni = "edge.example"}));
  const Bytes one = frame(message, 16384);
  EXPECT_EQ(read_all(one, one.size()).status, PeekStatus::done);
  EXPECT_EQ(read_all(one, one.size() - 1).status, PeekStatus::invalid);
  const Bytes three = frame_in(message, 3);
  EXPECT_EQ(read_all(three, three.size()).status, PeekStatus::done);
  const auto r = read_all(three, three.size() - 1);
  EXPECT_EQ(r.status, PeekStatus::invalid);
  EXPECT_EQ(r.detail, "ClientHello larger than peek.max_bytes (" +
                          std::to_string(three.size() - 1) + " bytes)");
}

TEST(ClientHelloReader, SecondServerNameExtensionIsInvalid) {
  auto hello = parse_hello(handshake_of(openssl_client_hello({.sni = "good.example.com"})));
  hello.extensions.emplace_back(kSni, server_name_body({"evil.example.com"}));
  const auto r = read_all(frame(hello.message(), 16384));
  ASSERT_EQ(r.status, PeekStatus::invalid);
  EXPECT_EQ(r.detail, "server_name extension appears twice");
  EXPECT_EQ(r.sni, "");
}

TEST(ClientHelloReader, TwoHostNamesInOneListAreInvalid) {
  const Bytes b = with_sni_body(openssl_client_hello({.sni = "good.example.com"}),
                                server_name_body({"good.example.com", "evil.example.com"}));
  const auto r = read_all(b);
  ASSERT_EQ(r.status, PeekStatus::invalid);
  EXPECT_EQ(r.detail, "server_name list has two host_name entries");
}

TEST(ClientHelloReader, EchExtensionIsReportedWithTheOuterName) {
  auto hello = parse_hello(handshake_of(openssl_client_hello({.sni = "public.example.com"})));
  // An ECHClientHello (outer, type 0) shaped body: its content is not read.
  hello.extensions.emplace_back(kEch, Bytes{0, 0, 1, 0, 1, 0x42, 0, 32, 1, 2, 3});
  const Bytes b = frame_in(hello.message(), 3);
  const auto r = read_all(b);
  ASSERT_EQ(r.status, PeekStatus::done) << r.detail;
  EXPECT_TRUE(r.ech);
  EXPECT_EQ(r.sni, "public.example.com");
  hello.extensions.emplace_back(kEch, Bytes{0});
  const auto twice = read_all(frame(hello.message(), 16384));
  ASSERT_EQ(twice.status, PeekStatus::invalid);
  EXPECT_EQ(twice.detail, "encrypted_client_hello extension appears twice");
}

TEST(ClientHelloReader, IpLiteralSniIsInvalid) {
  for (const std::string ip : {"192.0.2.1", "2001:db8::1", "127.1"}) {
    const Bytes b =
        with_sni_body(openssl_client_hello({.sni = "x.example"}), server_name_body({ip}));
    const auto r = read_all(b);
    ASSERT_EQ(r.status, PeekStatus::invalid) << ip;
    EXPECT_EQ(r.detail, "SNI host_name \"" + ip + "\" is an IP literal (RFC 6066 §3: names only)");
  }
}

TEST(ClientHelloReader, SniThatIsNotADnsNameIsInvalid) {
  struct Case {
    std::string name;
    std::string detail;
  };
  const Case cases[] = {
      {"bad_name.example",
       "SNI host_name \"bad_name.example\" is not a DNS name: character other "
       "than a letter, digit, hyphen or dot"},
      {"a..example", "SNI host_name \"a..example\" is not a DNS name: empty label"},
      // Normalising strips one dot: the second is an empty label, not a trailing dot.
      {"a.example..", "SNI host_name \"a.example..\" is not a DNS name: empty label"},
      {"-a.example",
       "SNI host_name \"-a.example\" is not a DNS name: label starts or ends with a hyphen"},
      {"b\xc3\xbc"
       "cher.example",
       "SNI host_name \"b\\xc3\\xbccher.example\" is not a DNS name: "
       "non-ASCII byte (IDNA names are sent as xn-- A-labels)"},
      {std::string("example.com\0.evil", 17),
       "SNI host_name \"example.com\\x00.evil\" is not a DNS name: character "
       "other than a letter, digit, hyphen or dot"},
      {std::string(64, 'a') + ".example",
       "SNI host_name \"" + std::string(64, 'a') +
           "\"... is not a DNS name: label longer than 63 characters"},
  };
  for (const auto& c : cases) {
    const Bytes b =
        with_sni_body(openssl_client_hello({.sni = "x.example"}), server_name_body({c.name}));
    const auto r = read_all(b);
    ASSERT_EQ(r.status, PeekStatus::invalid) << c.name;
    EXPECT_EQ(r.detail, c.detail);
  }
  const std::string long_name = std::string(63, 'a') + "." + std::string(63, 'b') + "." +
                                std::string(63, 'c') + "." + std::string(63, 'd') + ".e";
  const auto r = read_all(
      with_sni_body(openssl_client_hello({.sni = "x.example"}), server_name_body({long_name})));
  ASSERT_EQ(r.status, PeekStatus::invalid);
  EXPECT_EQ(r.detail, "SNI host_name of 257 bytes (at most 253)");
}

TEST(ClientHelloReader, NotAHandshakeOrNotAClientHello) {
  const std::string http = "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n";
  auto r = read_all(Bytes(http.begin(), http.end()));
  ASSERT_EQ(r.status, PeekStatus::invalid);
  EXPECT_EQ(r.detail, "not a TLS handshake record (content type 71, expected 22)");

  Bytes server_hello = handshake_of(openssl_client_hello({.sni = "a.example"}));
  server_hello[0] = 2;
  r = read_all(frame(server_hello, 16384));
  ASSERT_EQ(r.status, PeekStatus::invalid);
  EXPECT_EQ(r.detail, "handshake message type 2 is not ClientHello (1)");

  // SSLv2-compatible hello (RFC 5246 appendix E.2): not a TLS record.
  r = read_all(Bytes{0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15});
  ASSERT_EQ(r.status, PeekStatus::invalid);
  EXPECT_EQ(r.detail, "not a TLS handshake record (content type 128, expected 22)");
}

TEST(ClientHelloReader, RecordLayerProblemsAreInvalid) {
  const Bytes message = handshake_of(openssl_client_hello({.sni = "a.example"}));
  Bytes b = frame_in(message, 2);
  const std::size_t second = 5 + (message.size() + 1) / 2;

  Bytes alert_between = b;
  alert_between[second] = 21;
  EXPECT_EQ(read_all(alert_between).detail,
            "record 2 of the ClientHello has content type 21, not handshake (22)");

  Bytes tls13_record_version = b;
  tls13_record_version[1] = 3, tls13_record_version[2] = 4;
  EXPECT_EQ(read_all(tls13_record_version).detail, "record 1 version 0x0304 is not TLS 1.0-1.2");

  Bytes ssl3 = b;
  ssl3[second + 2] = 0;
  EXPECT_EQ(read_all(ssl3).detail, "record 2 version 0x0300 is not TLS 1.0-1.2");

  Bytes empty_record = {22, 3, 1, 0, 0};
  empty_record.insert(empty_record.end(), b.begin(), b.end());
  EXPECT_EQ(read_all(empty_record).detail, "record 1 is an empty handshake record (RFC 8446 §5.1)");

  Bytes overflow = {22, 3, 1, 0x40, 0x01};
  EXPECT_EQ(read_all(overflow).detail, "record 1 length 16385 exceeds 2^14");
}

// Every length field of the message, wrong by one way or the other.
TEST(ClientHelloReader, MalformedLengthsAreInvalid) {
  const Bytes good =
      handshake_of(openssl_client_hello({.sni = "a.example", .max_version = TLS1_2_VERSION}));
  const auto hello = parse_hello(good);
  const std::size_t sid = 4 + 2 + 32;  // legacy_session_id length's offset
  const std::size_t suites = sid + 1 + good[sid];
  const std::size_t ext = 4 + hello.head.size();  // extensions length's offset

  auto mutated = [&](auto change) {
    Bytes m = good;
    change(m);
    return read_all(frame(m, 16384));
  };
  EXPECT_EQ(mutated([&](Bytes& m) { m[sid] = 33; }).detail,
            "legacy_session_id of 33 bytes (at most 32)");
  EXPECT_EQ(mutated([&](Bytes& m) { m[suites + 1] |= 1; }).status, PeekStatus::invalid);
  EXPECT_EQ(mutated([&](Bytes& m) { m[suites] = 0, m[suites + 1] = 1; }).detail,
            "cipher_suites length 1 is odd or 0");
  EXPECT_EQ(mutated([&](Bytes& m) { m[ext + 1] -= 1; }).detail.substr(0, 18), "extensions length ");
  EXPECT_EQ(mutated([&](Bytes& m) { m[ext + 1] += 1; }).detail.substr(0, 18), "extensions length ");
  // The handshake length says one byte less: the extensions block no longer fits.
  EXPECT_EQ(mutated([&](Bytes& m) { m[3] -= 1; }).status, PeekStatus::invalid);
  // First extension's length one too large.
  EXPECT_EQ(mutated([&](Bytes& m) { m[ext + 2 + 3] += 1; }).status, PeekStatus::invalid);

  auto with_sni = [&](const Bytes& body) {
    auto h = hello;
    *h.find(kSni) = body;
    return read_all(frame(h.message(), 16384));
  };
  Bytes sni = server_name_body({"a.example"});
  Bytes bad_list = sni;
  bad_list[1] += 1;
  EXPECT_EQ(with_sni(bad_list).detail,
            "server_name list length 13 disagrees with the extension's 14 bytes");
  Bytes bad_name = sni;
  bad_name[4] += 1;
  EXPECT_EQ(with_sni(bad_name).detail, "host_name length 10 runs past the server_name list");
  EXPECT_EQ(with_sni(Bytes{}).detail, "server_name list length runs past the end of its extension");
  EXPECT_EQ(with_sni(Bytes{0, 0}).detail, "empty server_name list");
  EXPECT_EQ(with_sni(Bytes{0, 3, 0, 0, 0}).detail, "empty SNI host_name");
  EXPECT_EQ(with_sni(Bytes{0, 4, 1, 0, 1, 'a'}).detail, "server_name entry of unknown type 1");

  // A truncated message (the handshake length says more than the records carry) waits.
  Bytes longer = good;
  longer[3] += 1;
  EXPECT_EQ(read_all(frame(longer, 16384)).status, PeekStatus::need_more);
}

TEST(ClientHelloReader, ResultIsFinalAndPrefixMustGrow) {
  const Bytes b = openssl_client_hello({.sni = "api.example.com"});
  ClientHelloReader reader;
  ASSERT_EQ(reader.read(b).status, PeekStatus::done);
  EXPECT_EQ(reader.read(std::span(b.data(), 3)).sni, "api.example.com");
  ClientHelloReader shrinking;
  ASSERT_EQ(shrinking.read(std::span(b.data(), 100)).status, PeekStatus::need_more);
  EXPECT_EQ(shrinking.read(std::span(b.data(), 50)).detail,
            "the stream's prefix got shorter between reads");
}

}  // namespace
}  // namespace egress::peek
