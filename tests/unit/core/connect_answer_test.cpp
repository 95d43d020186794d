#include "core/connect_answer.hpp"

#include <gtest/gtest.h>

#include <string>

// The bytes a CONNECT client reads: the status line, Egressd-Decision, and for every refusal a
// one-line text body with its length, after which the gateway closes.

namespace egress::core {
namespace {

TEST(ConnectAnswerTest, TheTunnelIsAStatusLineAndTheDecisionId) {
  EXPECT_EQ(connect_answer({.status = 200, .conn_id = "3f9c0a7e5b21d864-7"}),
            "HTTP/1.1 200 Connection established\r\n"
            "Egressd-Decision: 3f9c0a7e5b21d864-7\r\n\r\n");
}

TEST(ConnectAnswerTest, ARuleDenyNamesTheRuleAndThePolicy) {
  EXPECT_EQ(connect_answer({.status = 403,
                            .conn_id = "abc-1",
                            .reason = "rule",
                            .rule = "no-pastebin",
                            .policy_version = "5d41",
                            .authority = "api.example.com:443"}),
            "HTTP/1.1 403 Forbidden\r\n"
            "Egressd-Decision: abc-1\r\n"
            "Egressd-Reason: egressd: CONNECT api.example.com:443 denied: rule 'no-pastebin' "
            "(policy 5d41)\r\n"
            "Content-Type: text/plain\r\n"
            "Content-Length: 78\r\n"
            "Connection: close\r\n\r\n"
            "egressd: CONNECT api.example.com:443 denied: rule 'no-pastebin' (policy 5d41)\n");
}

TEST(ConnectAnswerTest, ADenyWithoutARuleNamesTheReasonAndTheDetail) {
  const std::string a = connect_answer({.status = 403,
                                        .conn_id = "abc-2",
                                        .reason = "name_unresolved",
                                        .detail = "NXDOMAIN",
                                        .authority = "nowhere.example:443"});
  const std::string body =
      "egressd: CONNECT nowhere.example:443 denied: name_unresolved (NXDOMAIN)\n";
  EXPECT_NE(a.find("Content-Length: " + std::to_string(body.size()) + "\r\n"), std::string::npos)
      << a;
  EXPECT_EQ(a.substr(a.size() - body.size()), body);
}

TEST(ConnectAnswerTest, ARefusedRequestCarriesTheReadersDetail) {
  for (const int status : {400, 405, 431}) {
    const std::string a = connect_answer(
        {.status = status, .conn_id = "abc-3", .detail = "method GET is not CONNECT"});
    EXPECT_EQ(a.rfind("HTTP/1.1 " + std::to_string(status) + " ", 0), 0u) << a;
    EXPECT_NE(a.find("\r\nConnection: close\r\n"), std::string::npos) << a;
    EXPECT_NE(a.find("\r\nContent-Type: text/plain\r\n"), std::string::npos) << a;
    EXPECT_NE(a.find("\r\nEgressd-Decision: abc-3\r\n"), std::string::npos) << a;
    EXPECT_NE(a.find("\r\n\r\negressd: bad CONNECT request: method GET is not CONNECT\n"),
              std::string::npos)
        << a;
  }
  EXPECT_NE(connect_answer({.status = 405}).find("405 Method Not Allowed\r\n"), std::string::npos);
  EXPECT_NE(connect_answer({.status = 431}).find("431 Request Header Fields Too Large\r\n"),
            std::string::npos);
}

TEST(ConnectAnswerTest, AFailedDialIs502Or504WithItsReason) {
  const std::string refused = connect_answer({.status = 502,
                                              .conn_id = "abc-4",
                                              .reason = "upstream_refused",
                                              .detail = "Connection refused",
                                              .authority = "203.0.113.5:443"});
  EXPECT_EQ(refused.rfind("HTTP/1.1 502 Bad Gateway\r\n", 0), 0u);
  EXPECT_NE(
      refused.find("\r\n\r\negressd: CONNECT 203.0.113.5:443 failed: upstream_refused (Connection "
                   "refused)\n"),
      std::string::npos)
      << refused;
  EXPECT_EQ(connect_answer({.status = 504, .reason = "upstream_timeout"})
                .rfind("HTTP/1.1 504 Gateway Timeout\r\n", 0),
            0u);
}

TEST(ConnectAnswerTest, ClientBytesCannotEndALineOrAddOne) {
  const std::string a = connect_answer({.status = 403,
                                        .conn_id = "abc-5\r\nSet-Cookie: x",
                                        .reason = "name_unresolved",
                                        .detail = "bad\r\nX-Injected: 1\\",
                                        .authority = "evil\n.example:443"});
  EXPECT_EQ(a.find("\r\nX-Injected"), std::string::npos) << a;
  EXPECT_EQ(a.find("\r\nSet-Cookie"), std::string::npos) << a;
  EXPECT_NE(a.find("Egressd-Decision: abc-5Set-Cookie: x\r\n"), std::string::npos) << a;
  const std::string body =
      "egressd: CONNECT evil\\x0a.example:443 denied: name_unresolved (bad\\x0d\\x0aX-Injected: "
      "1\\x5c)\n";
  EXPECT_EQ(a.substr(a.size() - body.size()), body) << a;
  // One line: the only LF in the body is its end.
  const std::string got_body = a.substr(a.find("\r\n\r\n") + 4);
  EXPECT_EQ(got_body.find('\n'), got_body.size() - 1);
  EXPECT_EQ(got_body.find('\r'), std::string::npos);
}

}  // namespace
}  // namespace egress::core
