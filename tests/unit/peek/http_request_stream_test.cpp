#include "peek/http_request_stream.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace egress::peek {
namespace {

struct Seen {
  std::vector<std::string> hosts;  // one per request, "host[:port]"
  HttpStreamEvent last = HttpStreamEvent::need_more;
  std::string detail;
  std::size_t forwarded = 0;  // bytes consumed in all
};

// A caller as the filter will be: a buffer of unconsumed bytes, `chunk` new bytes at a time.
Seen feed(const std::string& stream, std::size_t chunk, std::size_t max = kDefaultMaxBytes) {
  HttpRequestStream s(max);
  Seen seen;
  std::string buffer;
  for (std::size_t at = 0; at < stream.size(); at += chunk) {
    buffer += stream.substr(at, chunk);
    for (;;) {
      const HttpStreamStep step = s.next(buffer);
      buffer.erase(0, step.consumed);
      seen.forwarded += step.consumed;
      seen.last = step.event;
      if (step.event == HttpStreamEvent::request) {
        std::string host = s.host().host;
        if (s.host().port) host.append(1, ':').append(std::to_string(*s.host().port));
        seen.hosts.push_back(host);
        continue;
      }
      if (step.event == HttpStreamEvent::invalid) {
        seen.detail = s.detail();
        return seen;
      }
      break;
    }
  }
  return seen;
}

// A body chunk that looks like a head ("Host: ..."), a chunk extension and a Host trailer field.
const std::string kBodyChunk = "GET / HTTP/1.1\r\nHost: body.example\r\n\r\n";  // 0x26 bytes
const std::string kTwoHostsChunked =
    "POST /a HTTP/1.1\r\nHost: good.example\r\nTransfer-Encoding: chunked\r\n\r\n"
    "5\r\nhello\r\n26;ext=1\r\n" +
    kBodyChunk +
    "\r\n0\r\nHost: trailer.example\r\n\r\n"
    "GET /b HTTP/1.1\r\nHost: evil.example\r\n\r\n";

TEST(HttpRequestStream, EveryRequestsHostAcrossAChunkedBody) {
  ASSERT_EQ(kBodyChunk.size(), 0x26u);
  for (const std::size_t chunk :
       {std::size_t{1}, std::size_t{3}, std::size_t{17}, kTwoHostsChunked.size()}) {
    const Seen seen = feed(kTwoHostsChunked, chunk);
    EXPECT_EQ(seen.detail, "");
    // The body's "Host:" line and the trailer's Host field are not requests' Hosts.
    EXPECT_EQ(seen.hosts, (std::vector<std::string>{"good.example", "evil.example"})) << chunk;
    EXPECT_EQ(seen.forwarded, kTwoHostsChunked.size()) << chunk;
    EXPECT_EQ(seen.last, HttpStreamEvent::need_more);
  }
}

TEST(HttpRequestStream, ContentLengthBodiesAndPipelining) {
  const std::string stream =
      "PUT /x HTTP/1.1\r\nHost: a.example\r\nContent-Length: 30\r\n\r\n"
      "GET / HTTP/1.1\r\nHost: b.exam\r\n"
      "GET /y HTTP/1.1\r\nHost: a.example:8080\r\n\r\n"
      "GET /z HTTP/1.0\r\n\r\n";
  for (const std::size_t chunk : {std::size_t{1}, std::size_t{64}, stream.size()}) {
    const Seen seen = feed(stream, chunk);
    EXPECT_EQ(seen.hosts, (std::vector<std::string>{"a.example", "a.example:8080", ""})) << chunk;
    EXPECT_EQ(seen.forwarded, stream.size());
  }
}

TEST(HttpRequestStream, HeadIsConsumedOnlyWhole) {
  HttpRequestStream s;
  const std::string head = "GET / HTTP/1.1\r\nHost: a.example\r\nAccept: */*\r\n\r\n";
  for (std::size_t n = 1; n < head.size(); ++n) {
    const auto step = s.next(std::string_view(head).substr(0, n));
    ASSERT_EQ(step.event, HttpStreamEvent::need_more);
    ASSERT_EQ(step.consumed, 0u) << n;  // nothing of a head goes upstream before its Host is read
  }
  const auto step = s.next(head);
  EXPECT_EQ(step.event, HttpStreamEvent::request);
  EXPECT_EQ(step.consumed, head.size());
  EXPECT_EQ(s.head_length(), head.size());
  EXPECT_EQ(s.requests(), 1u);
}

TEST(HttpRequestStream, LaterInvalidRequestStopsTheStream) {
  const std::string stream =
      "GET / HTTP/1.1\r\nHost: a.example\r\n\r\n"
      "GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n"
      "GET / HTTP/1.1\r\nHost: c.example\r\n\r\n";
  const Seen seen = feed(stream, stream.size());
  EXPECT_EQ(seen.hosts, std::vector<std::string>{"a.example"});
  EXPECT_EQ(seen.last, HttpStreamEvent::invalid);
  EXPECT_EQ(seen.detail, "two Host header fields");
  EXPECT_EQ(seen.forwarded, stream.find("GET", 1));  // none of the invalid head
  EXPECT_EQ(feed("GET / HTTP/1.1\r\nHost: a.example\r\n\r\nhello\r\n\r\n", 5).detail,
            "not an HTTP/1.x request: bad method");
}

TEST(HttpRequestStream, UpgradeAndConnectMakeTheRestOpaque) {
  const std::string ws =
      "GET /chat HTTP/1.1\r\nHost: ws.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
      "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
  HttpRequestStream s;
  auto step = s.next(ws);
  ASSERT_EQ(step.event, HttpStreamEvent::request);
  EXPECT_EQ(s.host().host, "ws.example");
  step = s.next(std::string_view(ws).substr(step.consumed));
  EXPECT_EQ(step.event, HttpStreamEvent::opaque);
  EXPECT_EQ(step.consumed, 11u);

  HttpRequestStream c;
  step = c.next("CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n\x16\x03\x01");
  ASSERT_EQ(step.event, HttpStreamEvent::request);
  EXPECT_EQ(c.host().host, "a.example");
  EXPECT_EQ(c.next("\x16\x03\x01").event, HttpStreamEvent::opaque);
  HttpRequestStream bad;
  bad.next("CONNECT b.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n");
  EXPECT_EQ(bad.detail(),
            "request-target authority b.example:443 disagrees with Host a.example:443");
}

TEST(HttpRequestStream, ConnectionUpgradeWithoutUpgradeIsStillHttp) {
  // Without an Upgrade field nothing switches: a later request's Host is still read.
  const std::string stream =
      "GET / HTTP/1.1\r\nHost: a.example\r\nConnection: upgrade\r\n\r\n"
      "GET / HTTP/1.1\r\nHost: b.example\r\n\r\n";
  const Seen seen = feed(stream, stream.size());
  EXPECT_EQ(seen.hosts, (std::vector<std::string>{"a.example", "b.example"}));
  EXPECT_EQ(seen.last, HttpStreamEvent::need_more);
}

TEST(HttpRequestStream, EndlessChunkHeaderIsBounded) {
  const std::string stream =
      "POST / HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: chunked\r\n\r\n5;" +
      std::string(5000, 'x');
  const Seen seen = feed(stream, 100, 1024);
  EXPECT_EQ(seen.last, HttpStreamEvent::invalid);
  EXPECT_EQ(seen.detail, "chunk header or trailer larger than peek.max_bytes (1024 bytes)");
}

}  // namespace
}  // namespace egress::peek
