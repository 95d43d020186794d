#include "peek/connect_response.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace egress::peek {
namespace {

ConnectResponse read(std::string_view text, bool ended = false) {
  return read_connect_response({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()},
                               ended);
}

TEST(ConnectResponse, TwoHundredOpensTheTunnelRightAfterItsHead) {
  const std::string head = "HTTP/1.1 200 Connection established\r\nEgressd-Decision: 42\r\n\r\n";
  const auto r = read(head + "\x16\x03\x01 tunnel bytes");
  EXPECT_EQ(r.status, PeekStatus::done);
  EXPECT_EQ(r.code, 200);
  EXPECT_EQ(r.status_line, "HTTP/1.1 200 Connection established");
  EXPECT_EQ(r.decision, "42");
  EXPECT_EQ(r.length, head.size()) << "the bytes after the head are the upstream's";
}

TEST(ConnectResponse, AHeadArrivingInPiecesNeedsMoreUntilItsEnd) {
  const std::string head = "HTTP/1.1 200 Connection established\r\n\r\n";
  for (std::size_t n = 0; n < head.size(); ++n) {
    EXPECT_EQ(read(head.substr(0, n)).status, PeekStatus::need_more) << n;
  }
  EXPECT_EQ(read(head).status, PeekStatus::done);
  EXPECT_EQ(read(head.substr(0, 20), true).status, PeekStatus::invalid)
      << "the gateway closed before the head's end";
}

TEST(ConnectResponse, ARefusalIsReadWithItsBodysFirstLine) {
  const std::string body = "egressd: CONNECT 203.0.113.5:443 denied: deny_destination\n";
  const std::string text =
      "HTTP/1.1 403 Forbidden\r\nEgressd-Decision: 7\r\nConnection: close\r\n"
      "Content-Type: text/plain\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  EXPECT_EQ(read(text.substr(0, text.size() - 5)).status, PeekStatus::need_more)
      << "the body is read whole";
  const auto r = read(text);
  EXPECT_EQ(r.status, PeekStatus::done);
  EXPECT_EQ(r.code, 403);
  EXPECT_EQ(r.status_line, "HTTP/1.1 403 Forbidden");
  EXPECT_EQ(r.decision, "7");
  EXPECT_EQ(r.body_line, "egressd: CONNECT 203.0.113.5:443 denied: deny_destination");
  const auto cut = read(text.substr(0, text.size() - 20), true);
  EXPECT_EQ(cut.status, PeekStatus::done) << "a cut body still says what there is";
  EXPECT_EQ(cut.code, 403);
}

TEST(ConnectResponse, OtherStatusesAndBodiesWithoutLength) {
  const auto r = read("HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\n\r\nrefused\r\n", true);
  EXPECT_EQ(r.status, PeekStatus::done);
  EXPECT_EQ(r.code, 502);
  EXPECT_EQ(r.decision, "");
  EXPECT_EQ(r.body_line, "refused");
}

TEST(ConnectResponse, WhatIsNotAnAnswerIsInvalid) {
  EXPECT_EQ(read("SSH-2.0-OpenSSH\r\n\r\n").status, PeekStatus::invalid);
  EXPECT_EQ(read("HTTP/1.1 204 No Content\r\n\r\n").status, PeekStatus::invalid)
      << "only 200 opens a tunnel";
  EXPECT_EQ(read("HTTP/1.1 100 Continue\r\n\r\n").status, PeekStatus::invalid);
  EXPECT_EQ(read("HTTP/1.1 200 OK\r\nX: " + std::string(9000, 'a')).status, PeekStatus::invalid);
  const auto bad = read("HTTP/1.1 200 OK\r\nEgressd-Decision: a b\x01\r\n\r\n");
  EXPECT_EQ(bad.decision, "") << "a decision id is visible ASCII only";
}

}  // namespace
}  // namespace egress::peek
