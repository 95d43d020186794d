#include "peek/http_host_reader.hpp"

#include <gtest/gtest.h>

#include <string>

namespace egress::peek {
namespace {

HttpHostResult read(std::string_view bytes, std::size_t max_bytes = kDefaultMaxBytes) {
  return read_http_host(bytes, max_bytes);
}

TEST(HttpHostReader, HostHeader) {
  const std::string head =
      "GET /index.html HTTP/1.1\r\nUser-Agent: curl/7.88\r\nHost: Example.COM\r\n\r\n";
  const auto r = read(head);
  ASSERT_EQ(r.status, PeekStatus::done) << r.detail;
  EXPECT_EQ(r.host.host, "example.com");
  EXPECT_FALSE(r.host.port);
  EXPECT_FALSE(r.host.ip_literal);
  EXPECT_EQ(r.head_length, head.size());
}

TEST(HttpHostReader, HostWithPortAndTrailingDot) {
  const auto r = read("GET / HTTP/1.1\r\nHost: api.example.com.:8080\r\n\r\n");
  ASSERT_EQ(r.status, PeekStatus::done) << r.detail;
  EXPECT_EQ(r.host.host, "api.example.com");
  EXPECT_EQ(r.host.port, 8080);
}

TEST(HttpHostReader, IpLiteralsYieldTheCanonicalAddressWithoutBrackets) {
  auto r = read("GET / HTTP/1.1\r\nHost: [2001:DB8:0::1]:8443\r\n\r\n");
  ASSERT_EQ(r.status, PeekStatus::done) << r.detail;
  EXPECT_EQ(r.host.host, "2001:db8::1");
  EXPECT_EQ(r.host.port, 8443);
  EXPECT_TRUE(r.host.ip_literal);
  r = read("GET / HTTP/1.1\r\nHost: 192.0.2.7\r\n\r\n");
  ASSERT_EQ(r.status, PeekStatus::done) << r.detail;
  EXPECT_EQ(r.host.host, "192.0.2.7");
  EXPECT_TRUE(r.host.ip_literal);
}

TEST(HttpHostReader, AbsoluteFormMustAgreeWithHost) {
  auto r = read("GET http://Example.com/x HTTP/1.1\r\nHost: example.com\r\n\r\n");
  ASSERT_EQ(r.status, PeekStatus::done) << r.detail;
  EXPECT_EQ(r.host.host, "example.com");
  r = read("GET http://example.com:80/x HTTP/1.1\r\nHost: example.com\r\n\r\n");
  EXPECT_EQ(r.status, PeekStatus::done) << r.detail;  // 80 is http's default
  r = read("GET https://example.com/x HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
  EXPECT_EQ(r.status, PeekStatus::done) << r.detail;

  r = read("GET http://evil.example/x HTTP/1.1\r\nHost: good.example\r\n\r\n");
  ASSERT_EQ(r.status, PeekStatus::invalid);
  EXPECT_EQ(r.detail, "request-target authority evil.example disagrees with Host good.example");
  r = read("GET http://good.example:8080/ HTTP/1.1\r\nHost: good.example\r\n\r\n");
  ASSERT_EQ(r.status, PeekStatus::invalid);
  EXPECT_EQ(r.detail,
            "request-target authority good.example:8080 disagrees with Host good.example");
  // HTTP/1.0 without Host: the target's authority is the host.
  r = read("GET http://only.example:81/ HTTP/1.0\r\n\r\n");
  ASSERT_EQ(r.status, PeekStatus::done) << r.detail;
  EXPECT_EQ(r.host.host, "only.example");
  EXPECT_EQ(r.host.port, 81);
  r = read("GET only.example/ HTTP/1.1\r\nHost: only.example\r\n\r\n");
  ASSERT_EQ(r.status, PeekStatus::invalid);
  EXPECT_EQ(r.detail,
            "request-target is neither origin-form nor an absolute URI with an authority");
  r = read("GET http://user@only.example/ HTTP/1.1\r\nHost: only.example\r\n\r\n");
  EXPECT_EQ(r.detail, "request-target authority: userinfo in the authority");
}

TEST(HttpHostReader, HostProblemsAreInvalid) {
  struct Case {
    std::string request;
    std::string detail;
  };
  const Case cases[] = {
      {"GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n", "two Host header fields"},
      {"GET / HTTP/1.1\r\nHost: a.example\r\nhOsT: a.example\r\n\r\n", "two Host header fields"},
      {"GET / HTTP/1.1\r\nHost:\r\n\r\n", "empty Host header"},
      {"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", "HTTP/1.1 request without Host (RFC 9112 §3.2)"},
      {"GET / HTTP/1.1\r\nHost: a_b.example\r\n\r\n",
       "Host header: not a DNS name: character other than a letter, digit, hyphen or dot"},
      {"GET / HTTP/1.1\r\nHost: api.example..:8080\r\n\r\n",
       "Host header: not a DNS name: empty label"},
      {"GET / HTTP/1.1\r\nHost: 127.1\r\n\r\n",
       "Host header: a legacy IPv4 form (only dotted-quad addresses)"},
      {"GET / HTTP/1.1\r\nHost: 2001:db8::1\r\n\r\n",
       "Host header: an IPv6 address without brackets"},
      {"GET / HTTP/1.1\r\nHost: a.example:99999\r\n\r\n", "Host header: port is not 1-65535"},
      {"GET / HTTP/1.1\r\nHost: a.example:0\r\n\r\n", "Host header: port is not 1-65535"},
      {"GET / HTTP/1.1\r\nHost: user@a.example\r\n\r\n", "Host header: userinfo in the authority"},
  };
  for (const auto& c : cases) {
    const auto r = read(c.request);
    EXPECT_EQ(r.status, PeekStatus::invalid) << c.request;
    EXPECT_EQ(r.detail, c.detail) << c.request;
  }
}

TEST(HttpHostReader, Http10WithoutHostNamesNoHost) {
  const auto r = read("GET / HTTP/1.0\r\n\r\n");
  ASSERT_EQ(r.status, PeekStatus::done) << r.detail;
  EXPECT_EQ(r.host, HttpHost{});
}

TEST(HttpHostReader, GarbageIsInvalid) {
  for (const std::string& bytes :
       {std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11),
        std::string("SSH-2.0-OpenSSH_9.2\r\n"), std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
        std::string("GET / HTTP/1.1\nHost: a.example\n\n")}) {
    const auto r = read(bytes);
    EXPECT_EQ(r.status, PeekStatus::invalid) << bytes;
    EXPECT_TRUE(r.detail.starts_with("not an HTTP/1.x request: ")) << r.detail;
  }
}

TEST(HttpHostReader, OneByteAtATime) {
  const std::string bytes =
      "POST /upload HTTP/1.1\r\nHost: upload.example\r\nContent-Length: 5\r\n\r\nhello";
  const std::size_t head = bytes.find("\r\n\r\n") + 4;
  HttpHostReader reader;
  for (std::size_t n = 1; n < head; ++n) {
    ASSERT_EQ(reader.read(std::string_view(bytes).substr(0, n)).status, PeekStatus::need_more) << n;
  }
  const auto& r = reader.read(std::string_view(bytes).substr(0, head));
  ASSERT_EQ(r.status, PeekStatus::done) << r.detail;
  EXPECT_EQ(r.host.host, "upload.example");
  EXPECT_EQ(r.head_length, head);
}

TEST(HttpHostReader, HeadLargerThanMaxBytesIsInvalid) {
  const std::string big = "GET / HTTP/1.1\r\nHost: a.example\r\nCookie: " + std::string(20000, 'c');
  auto r = read(big);
  ASSERT_EQ(r.status, PeekStatus::invalid);
  EXPECT_EQ(r.detail, "request header larger than peek.max_bytes (16384 bytes)");
  // Fed in pieces (Beast reads the fields as they come): the limit counts the whole head.
  std::string fields = "GET / HTTP/1.1\r\nHost: a.example\r\n";
  for (int i = 0; i < 400; ++i)
    fields += "X-Filler-" + std::to_string(i) + ": 0123456789abcdef\r\n";
  HttpHostReader reader(4096);
  PeekStatus status = PeekStatus::need_more;
  for (std::size_t n = 1; n <= fields.size() && status == PeekStatus::need_more; n += 7) {
    status = reader.read(std::string_view(fields).substr(0, n)).status;
  }
  EXPECT_EQ(status, PeekStatus::invalid);
  EXPECT_EQ(reader.result().detail, "request header larger than peek.max_bytes (4096 bytes)");
  // A head over the limit that arrives in two pieces, each within Beast's own limit.
  std::string complete = "GET / HTTP/1.1\r\nHost: a.example\r\n";
  for (int i = 0; complete.size() < 3000; ++i)
    complete += "X-F-" + std::to_string(i) + ": 0123456789\r\n";
  complete += "\r\n";
  HttpHostReader two_pieces(2048);
  ASSERT_EQ(two_pieces.read(std::string_view(complete).substr(0, 1500)).status,
            PeekStatus::need_more);
  EXPECT_EQ(two_pieces.read(complete).detail,
            "request header larger than peek.max_bytes (2048 bytes)");
  EXPECT_EQ(read(complete, 2048).detail, "request header larger than peek.max_bytes (2048 bytes)");
  EXPECT_EQ(read(complete, complete.size()).status, PeekStatus::done);
  // Under the limit the same head is fine.
  EXPECT_EQ(read(fields + "\r\n", 64 * 1024).status, PeekStatus::done);
}

}  // namespace
}  // namespace egress::peek
