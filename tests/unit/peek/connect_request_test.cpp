#include "peek/connect_request.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace egress::peek {
namespace {

std::span<const std::uint8_t> bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

ConnectRequest read(std::string_view s, std::size_t max = kDefaultMaxConnectHead) {
  return read_connect_request(bytes(s), max);
}

// A caller as the listener will be: the stream's prefix grows `chunk` bytes at a time. Returns
// the first answer that is not need_more and how many bytes were there when it came.
struct Fed {
  ConnectRequest result;
  std::size_t at = 0;
};
Fed feed(std::string_view stream, std::size_t chunk, std::size_t max = kDefaultMaxConnectHead) {
  ConnectRequestReader reader(max);
  Fed fed;
  for (std::size_t n = 0;;) {
    n = std::min(stream.size(), n + chunk);
    fed.result = reader.read(bytes(stream.substr(0, n)));
    fed.at = n;
    if (fed.result.status != PeekStatus::need_more || n == stream.size()) return fed;
  }
}

std::string address(const ConnectRequest& r) {
  return r.address ? r.address->to_string() : "none";
}

// ---- valid requests ----

TEST(ConnectRequest, NameIsNormalisedAndOtherFieldsAreNotKept) {
  const std::string head =
      "CONNECT API.Example.COM.:443 HTTP/1.1\r\nHost: api.example.com:443\r\n"
      "User-Agent: curl/8.5.0\r\nProxy-Authorization: Basic c2VjcmV0OnNlY3JldA==\r\n"
      "Proxy-Connection: Keep-Alive\r\n\r\n";
  const ConnectRequest r = read(head);
  ASSERT_EQ(r.status, PeekStatus::done) << r.detail;
  EXPECT_EQ(r.name, "api.example.com");
  EXPECT_EQ(address(r), "none");
  EXPECT_EQ(r.port, 443);
  EXPECT_EQ(r.version, 11);
  EXPECT_EQ(r.length, head.size());
  EXPECT_FALSE(r.agent_conn);
  EXPECT_EQ(r.status_code, 0);
  EXPECT_EQ(r.detail, "");
}

TEST(ConnectRequest, Ipv4Literal) {
  const ConnectRequest r = read("CONNECT 192.0.2.1:8443 HTTP/1.1\r\nHost: 192.0.2.1:8443\r\n\r\n");
  ASSERT_EQ(r.status, PeekStatus::done) << r.detail;
  EXPECT_EQ(r.name, "");
  ASSERT_TRUE(r.address);
  EXPECT_TRUE(r.address->is_v4());
  EXPECT_EQ(address(r), "192.0.2.1");
  EXPECT_EQ(r.port, 8443);
}

TEST(ConnectRequest, Ipv6LiteralInBrackets) {
  const ConnectRequest r =
      read("CONNECT [2001:DB8::0:1]:443 HTTP/1.1\r\nHost: [2001:db8::1]:443\r\n\r\n");
  ASSERT_EQ(r.status, PeekStatus::done) << r.detail;
  EXPECT_EQ(r.name, "");
  ASSERT_TRUE(r.address);
  EXPECT_TRUE(r.address->is_v6());
  EXPECT_EQ(address(r), "2001:db8::1");
  EXPECT_EQ(r.port, 443);
}

// IPv4-mapped IPv6 is the IPv4 address; NAT64 stays IPv6 (the policy reads the IPv4 inside it).
TEST(ConnectRequest, MappedIsIpv4AndNat64StaysIpv6ForThePolicy) {
  const ConnectRequest mapped = read("CONNECT [::ffff:127.0.0.1]:22 HTTP/1.1\r\n\r\n");
  ASSERT_EQ(mapped.status, PeekStatus::done) << mapped.detail;
  ASSERT_TRUE(mapped.address);
  EXPECT_TRUE(mapped.address->is_v4());
  EXPECT_EQ(address(mapped), "127.0.0.1");
  const ConnectRequest nat64 = read("CONNECT [64:ff9b::7f00:1]:22 HTTP/1.1\r\n\r\n");
  ASSERT_EQ(nat64.status, PeekStatus::done) << nat64.detail;
  EXPECT_EQ(address(nat64), "64:ff9b::7f00:1");
}

TEST(ConnectRequest, HostIsOptionalAndMayOmitThePort) {
  // RFC 9110 §9.3.6's own example sends Host without the port.
  const ConnectRequest rfc =
      read("CONNECT server.example.com:80 HTTP/1.1\r\nHost: server.example.com\r\n\r\n");
  ASSERT_EQ(rfc.status, PeekStatus::done) << rfc.detail;
  EXPECT_EQ(rfc.name, "server.example.com");
  EXPECT_EQ(rfc.port, 80);
  const ConnectRequest none = read("CONNECT a.example:443 HTTP/1.1\r\n\r\n");
  ASSERT_EQ(none.status, PeekStatus::done) << none.detail;
  EXPECT_EQ(none.name, "a.example");
  const ConnectRequest old = read("CONNECT a.example:443 HTTP/1.0\r\n\r\n");
  ASSERT_EQ(old.status, PeekStatus::done) << old.detail;
  EXPECT_EQ(old.version, 10);
  EXPECT_EQ(read("CONNECT a.example:65535 HTTP/1.1\r\n\r\n").port, 65535);
}

TEST(ConnectRequest, AgentConnIsKept) {
  const std::string head =
      "CONNECT 203.0.113.10:443 HTTP/1.1\r\nHost: 203.0.113.10:443\r\n"
      "egressd-agent-conn: 6f1c2a9e-42\r\n\r\n";
  const ConnectRequest r = read(head);
  ASSERT_EQ(r.status, PeekStatus::done) << r.detail;
  ASSERT_TRUE(r.agent_conn);
  EXPECT_EQ(*r.agent_conn, "6f1c2a9e-42");
  EXPECT_EQ(r.length, head.size());
  const std::string longest =
      "CONNECT a.example:1 HTTP/1.1\r\nEgressd-Agent-Conn: " + std::string(128, 'x') + "\r\n\r\n";
  ASSERT_EQ(read(longest).status, PeekStatus::done) << read(longest).detail;
  EXPECT_EQ(read(longest).agent_conn, std::string(128, 'x'));
}

// ---- feeding ----

TEST(ConnectRequest, ByteAtATimeIsNeedMoreUntilTheLastByteOfTheHead) {
  for (const std::string head : {
           "CONNECT api.example.com:443 HTTP/1.1\r\nHost: api.example.com:443\r\n"
           "Egressd-Agent-Conn: gw-7\r\n\r\n",
           "CONNECT [2001:db8::1]:443 HTTP/1.1\r\n\r\n",
           "CONNECT 192.0.2.1:80 HTTP/1.0\r\n\r\n",
       }) {
    const ConnectRequest whole = read(head);
    ASSERT_EQ(whole.status, PeekStatus::done) << whole.detail;
    const Fed fed = feed(head, 1);
    EXPECT_EQ(fed.at, head.size()) << head;
    EXPECT_EQ(fed.result.status, PeekStatus::done);
    EXPECT_EQ(fed.result.name, whole.name);
    EXPECT_EQ(fed.result.address, whole.address);
    EXPECT_EQ(fed.result.port, whole.port);
    EXPECT_EQ(fed.result.length, head.size());
    EXPECT_EQ(fed.result.agent_conn, whole.agent_conn);
    EXPECT_EQ(read(head.substr(0, head.size() - 1)).status, PeekStatus::need_more);
  }
}

// The client may send its first tunnel bytes (a ClientHello) with the request: they are not head.
TEST(ConnectRequest, PipelinedTunnelBytesAreNotPartOfTheHead) {
  const std::string head = "CONNECT api.example.com:443 HTTP/1.1\r\nHost: api.example.com\r\n\r\n";
  const std::string stream = head + std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\r\n\r\n", 13);
  const ConnectRequest r = read(stream);
  ASSERT_EQ(r.status, PeekStatus::done) << r.detail;
  EXPECT_EQ(r.length, head.size());
  for (const std::size_t chunk : {std::size_t{1}, std::size_t{7}, stream.size()}) {
    const Fed fed = feed(stream, chunk);
    EXPECT_EQ(fed.result.status, PeekStatus::done);
    EXPECT_EQ(fed.result.length, head.size()) << chunk;
  }
}

TEST(ConnectRequest, AnswerIsKeptAfterDone) {
  ConnectRequestReader reader;
  const std::string head = "CONNECT a.example:443 HTTP/1.1\r\n\r\n";
  ASSERT_EQ(reader.read(bytes(head)).status, PeekStatus::done);
  const ConnectRequest& again = reader.read(bytes(head + "GET / HTTP/1.1\r\n\r\n"));
  EXPECT_EQ(again.status, PeekStatus::done);
  EXPECT_EQ(again.name, "a.example");
  EXPECT_EQ(again.length, head.size());
}

// Found by connect_request_fuzz: Beast fed in pieces reported the bad version of a head longer
// than the limit at once (400) or only later (431), depending on the split.
TEST(ConnectRequest, AnswerDoesNotDependOnTheSplit) {
  const std::string head =
      "CONNECT api.example.com:443 HTTP/1.\xcf\r\nHost: api.example.com:443\r\n"
      "User-Agent: curl/8.5.0\r\nProxy-Connection: Keep-Alive\r\n\r\n";
  const ConnectRequest whole = read(head, 64);
  EXPECT_EQ(whole.status_code, 431);
  for (std::size_t chunk = 1; chunk <= head.size(); ++chunk) {
    const Fed fed = feed(head, chunk, 64);
    EXPECT_EQ(fed.result.status_code, whole.status_code) << chunk;
    EXPECT_EQ(fed.result.detail, whole.detail) << chunk;
  }
  EXPECT_EQ(read(head).detail, "not an HTTP/1.x request: bad version");
}

TEST(ConnectRequest, ShrinkingPrefixIsACallerError) {
  ConnectRequestReader reader;
  ASSERT_EQ(reader.read(bytes("CONNECT a.exa")).status, PeekStatus::need_more);
  const ConnectRequest& r = reader.read(bytes("CONNECT"));
  EXPECT_EQ(r.status, PeekStatus::invalid);
  EXPECT_EQ(r.status_code, 400);
  EXPECT_EQ(r.detail, "the stream's prefix got shorter between reads");
}

// ---- refused requests: the listener's answer and the one line a person reads ----

struct Refused {
  std::string head;
  int status;
  std::string detail;
};

void expect_refused(const Refused& c) {
  SCOPED_TRACE(c.head);
  const ConnectRequest r = read(c.head);
  ASSERT_EQ(r.status, PeekStatus::invalid);
  EXPECT_EQ(r.status_code, c.status);
  EXPECT_EQ(r.detail, c.detail);
  EXPECT_EQ(r.name, "");
  EXPECT_FALSE(r.address);
  EXPECT_EQ(r.length, 0u);
  EXPECT_FALSE(r.agent_conn);
  // The same answer however the bytes come.
  const Fed fed = feed(c.head, 1);
  EXPECT_EQ(fed.result.status_code, c.status);
  EXPECT_EQ(fed.result.detail, c.detail);
}

TEST(ConnectRequest, MethodOtherThanConnectIs405) {
  for (const Refused& c : std::initializer_list<Refused>{
           {"GET / HTTP/1.1\r\nHost: a.example\r\n\r\n", 405,
            "method \"GET\" is not CONNECT (this listener is a tunnel)"},
           {"GET http://a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n", 405,
            "method \"GET\" is not CONNECT (this listener is a tunnel)"},
           {"connect a.example:443 HTTP/1.1\r\n\r\n", 405,  // methods are case-sensitive
            "method \"connect\" is not CONNECT (this listener is a tunnel)"},
       })
    expect_refused(c);
}

TEST(ConnectRequest, NotAnHttpHeadIs400) {
  for (const Refused& c : std::initializer_list<Refused>{
           {"CONNECT a.example:443 HTTX/1.1\r\n\r\n", 400, "not an HTTP/1.x request: bad version"},
           // Any version but 1.0 and 1.1 (see the header for why 400, not 505).
           {"CONNECT a.example:443 HTTP/2.0\r\nHost: a.example\r\n\r\n", 400,
            "not an HTTP/1.x request: bad version"},
           {"CONNECT a.example:443 HTTP/1.2\r\nHost: a.example\r\n\r\n", 400,
            "not an HTTP/1.x request: bad version"},
           {"CONNECT a.example:443 HTTP/0.9\r\n\r\n", 400, "not an HTTP/1.x request: bad version"},
           {"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400, "not an HTTP/1.x request: bad version"},
           {"CONNECT a.example:443 HTTP/1.1\r\nHost a.example\r\n\r\n", 400,
            "not an HTTP/1.x request: bad field"},
           {"CONNECT\ta.example:443 HTTP/1.1\r\n\r\n", 400, "not an HTTP/1.x request: bad method"},
       })
    expect_refused(c);
}

// A TLS client (or a PROXY v2 header) sent to the CONNECT port is answered at its first byte, not
// at the header timeout.
TEST(ConnectRequest, FirstByteThatCannotStartAMethodIs400AtOnce) {
  const std::string hello("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);
  const Fed fed = feed(hello, 1);
  EXPECT_EQ(fed.at, 1u);
  EXPECT_EQ(fed.result.status_code, 400);
  EXPECT_EQ(fed.result.detail, "not an HTTP/1.x request: first byte 0x16 cannot start a method");
  expect_refused({" CONNECT a.example:443 HTTP/1.1\r\n\r\n", 400,
                  "not an HTTP/1.x request: first byte 0x20 cannot start a method"});
  expect_refused({"\r\nCONNECT a.example:443 HTTP/1.1\r\n\r\n", 400,
                  "not an HTTP/1.x request: first byte 0x0d cannot start a method"});
  // A PROXY v2 signature: this listener is not configured to expect one.
  expect_refused({std::string("\r\n\r\n\0\r\nQUIT\n\x21\x11", 14), 400,
                  "not an HTTP/1.x request: first byte 0x0d cannot start a method"});
}

TEST(ConnectRequest, TargetThatIsNotHostPortIs400) {
  for (const Refused& c : std::initializer_list<Refused>{
           {"CONNECT a.example HTTP/1.1\r\n\r\n", 400, "CONNECT target \"a.example\" has no port"},
           {"CONNECT a.example: HTTP/1.1\r\n\r\n", 400,
            "CONNECT target \"a.example:\" has no port"},
           {"CONNECT [2001:db8::1] HTTP/1.1\r\n\r\n", 400,
            "CONNECT target \"[2001:db8::1]\" has no port"},
           {"CONNECT a.example:0 HTTP/1.1\r\n\r\n", 400,
            "CONNECT target \"a.example:0\": port is not 1-65535"},
           {"CONNECT a.example:65536 HTTP/1.1\r\n\r\n", 400,
            "CONNECT target \"a.example:65536\": port is not 1-65535"},
           {"CONNECT a.example:https HTTP/1.1\r\n\r\n", 400,
            "CONNECT target \"a.example:https\": port is not 1-65535"},
           {"CONNECT / HTTP/1.1\r\n\r\n", 400,
            "CONNECT target \"/\" is not host:port (authority-form, RFC 9110 §9.3.6)"},
           {"CONNECT http://a.example:443/ HTTP/1.1\r\n\r\n", 400,
            "CONNECT target \"http://a.example:443/\" is not host:port (authority-form, RFC 9110 "
            "§9.3.6)"},
           {"CONNECT user@a.example:443 HTTP/1.1\r\n\r\n", 400,
            "CONNECT target \"user@a.example:443\": userinfo in the authority"},
           {"CONNECT 2001:db8::1:443 HTTP/1.1\r\n\r\n", 400,
            "CONNECT target \"2001:db8::1:443\": an IPv6 address without brackets"},
           {"CONNECT [192.0.2.1]:443 HTTP/1.1\r\n\r\n", 400,
            "CONNECT target \"[192.0.2.1]:443\": not an IPv6 address between '[' and ']'"},
           {"CONNECT [fe80::1%25eth0]:443 HTTP/1.1\r\n\r\n", 400,
            "CONNECT target \"[fe80::1%25eth0]:443\": not an IPv6 address between '[' and ']'"},
           {"CONNECT a_b.example:443 HTTP/1.1\r\n\r\n", 400,
            "CONNECT target \"a_b.example:443\": not a DNS name: character other than a letter, "
            "digit, hyphen or dot"},
           {"CONNECT a..example:443 HTTP/1.1\r\n\r\n", 400,
            "CONNECT target \"a..example:443\": not a DNS name: empty label"},
           {"CONNECT 192.0.2.300:443 HTTP/1.1\r\n\r\n", 400,
            "CONNECT target \"192.0.2.300:443\": not a DNS name: last label is all digits"},
       })
    expect_refused(c);
}

// Issue 20's refused spellings: numeric IPv4 forms other than the dotted quad are neither names
// nor addresses here (see the header for why they are refused rather than converted).
TEST(ConnectRequest, NumericIpv4SpellingsAre400) {
  for (const std::string spelling : {"2130706433", "0x7f.1", "127.1", "0177.0.0.1", "0x7f000001",
                                     "127.0.0.1.", "0X7F.0.0.1", "127.000.000.001"}) {
    const std::string target = spelling + ":443";
    expect_refused(
        {"CONNECT " + target + " HTTP/1.1\r\n\r\n", 400,
         "CONNECT target \"" + target + "\": a legacy IPv4 form (only dotted-quad addresses)"});
  }
}

TEST(ConnectRequest, HostFieldDisagreeingWithTheTargetIs400) {
  for (const Refused& c : std::initializer_list<Refused>{
           {"CONNECT a.example:443 HTTP/1.1\r\nHost: b.example:443\r\n\r\n", 400,
            "Host \"b.example:443\" disagrees with the CONNECT target \"a.example:443\""},
           {"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:8443\r\n\r\n", 400,
            "Host \"a.example:8443\" disagrees with the CONNECT target \"a.example:443\""},
           {"CONNECT 192.0.2.1:443 HTTP/1.1\r\nHost: allowed.example\r\n\r\n", 400,
            "Host \"allowed.example\" disagrees with the CONNECT target \"192.0.2.1:443\""},
           {"CONNECT [::1]:443 HTTP/1.1\r\nHost: [::2]:443\r\n\r\n", 400,
            "Host \"[::2]:443\" disagrees with the CONNECT target \"[::1]:443\""},
           {"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example\r\nHost: a.example\r\n\r\n", 400,
            "two Host header fields"},
           {"CONNECT a.example:443 HTTP/1.1\r\nHost: a_example\r\n\r\n", 400,
            "Host header \"a_example\": not a DNS name: character other than a letter, digit, "
            "hyphen or dot"},
           {"CONNECT a.example:443 HTTP/1.1\r\nHost: 127.1\r\n\r\n", 400,
            "Host header \"127.1\": a legacy IPv4 form (only dotted-quad addresses)"},
       })
    expect_refused(c);
}

TEST(ConnectRequest, ContentIs400) {
  expect_refused({"CONNECT a.example:443 HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", 400,
                  "a CONNECT request with content (RFC 9110 §9.3.6: it has none)"});
  expect_refused({"CONNECT a.example:443 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                  400, "a CONNECT request with content (RFC 9110 §9.3.6: it has none)"});
  const ConnectRequest zero = read("CONNECT a.example:443 HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(zero.status, PeekStatus::done) << zero.detail;
}

TEST(ConnectRequest, BadAgentConnIs400) {
  for (const Refused& c : std::initializer_list<Refused>{
           {"CONNECT a.example:443 HTTP/1.1\r\nEgressd-Agent-Conn: a\r\n"
            "Egressd-Agent-Conn: b\r\n\r\n",
            400, "two Egressd-Agent-Conn header fields"},
           {"CONNECT a.example:443 HTTP/1.1\r\nEgressd-Agent-Conn:\r\n\r\n", 400,
            "Egressd-Agent-Conn is not 1-128 bytes"},
           {"CONNECT a.example:443 HTTP/1.1\r\nEgressd-Agent-Conn: " + std::string(129, 'x') +
                "\r\n\r\n",
            400, "Egressd-Agent-Conn is not 1-128 bytes"},
           {"CONNECT a.example:443 HTTP/1.1\r\nEgressd-Agent-Conn: a \"b\"\r\n\r\n", 400,
            "Egressd-Agent-Conn \"a \\x22b\\x22\" is not visible ASCII"},
       })
    expect_refused(c);
}

// ---- the head's size ----

// A head of exactly `size` bytes: the request line, one padding field, the blank line.
std::string head_of(std::size_t size) {
  const std::string start = "CONNECT a.example:443 HTTP/1.1\r\nX-Pad: ";
  return start + std::string(size - start.size() - 4, 'p') + "\r\n\r\n";
}

TEST(ConnectRequest, HeadOfMaxBytesIsReadOneMoreIs431) {
  const std::string fits = head_of(kDefaultMaxConnectHead);
  ASSERT_EQ(fits.size(), 8192u);
  for (const std::size_t chunk : {std::size_t{1}, std::size_t{1000}, fits.size()}) {
    const Fed fed = feed(fits + "tunnel", chunk);
    EXPECT_EQ(fed.result.status, PeekStatus::done) << chunk << ": " << fed.result.detail;
    EXPECT_EQ(fed.result.length, 8192u);
  }
  const std::string over = head_of(kDefaultMaxConnectHead + 1);
  for (const std::size_t chunk : {std::size_t{1}, std::size_t{1000}, over.size()}) {
    const Fed fed = feed(over, chunk);
    EXPECT_EQ(fed.result.status, PeekStatus::invalid) << chunk;
    EXPECT_EQ(fed.result.status_code, 431);
    EXPECT_EQ(fed.result.detail, "request header larger than 8192 bytes");
  }
  // Known as soon as max_head_bytes bytes are there without the head's end.
  EXPECT_EQ(read(over.substr(0, 8191)).status, PeekStatus::need_more);
  EXPECT_EQ(read(over.substr(0, 8192)).status_code, 431);
  EXPECT_EQ(feed(over, 1).at, 8192u);
}

TEST(ConnectRequest, MaxHeadBytesIsAParameter) {
  const std::string head = head_of(100);
  EXPECT_EQ(read(head, 100).status, PeekStatus::done);
  const ConnectRequest r = read(head, 99);
  EXPECT_EQ(r.status_code, 431);
  EXPECT_EQ(r.detail, "request header larger than 99 bytes");
  EXPECT_EQ(feed(head, 1, 99).at, 99u);
}

}  // namespace
}  // namespace egress::peek
