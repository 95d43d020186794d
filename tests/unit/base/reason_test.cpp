#include "base/reason.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string_view>

namespace egress::base {
namespace {

// The name step's reasons (issue 19) are a contract: exact audit and metric spellings.
TEST(Reason, NameStepReasonsAreSpelledAsTheIssueSays) {
  EXPECT_EQ(to_string(Reason::client_hello_invalid), "client_hello_invalid");
  EXPECT_EQ(to_string(Reason::http_request_invalid), "http_request_invalid");
  EXPECT_EQ(to_string(Reason::name_mismatch), "name_mismatch");
  EXPECT_EQ(to_string(Reason::name_unresolved), "name_unresolved");
  EXPECT_EQ(to_string(Reason::host_changed), "host_changed");
  EXPECT_EQ(to_string(Reason::policy_revoked), "policy_revoked");
}

// Issue 21: a reloaded CRL and a rule's `expires` end live connections (connection.close).
TEST(Reason, LiveRevocationReasonsAreSpelledAndCloseReasons) {
  EXPECT_EQ(to_string(Reason::cert_revoked), "cert_revoked");
  EXPECT_EQ(to_string(Reason::rule_expired), "rule_expired");
  EXPECT_FALSE(is_decision_reason(Reason::cert_revoked));
  EXPECT_FALSE(is_decision_reason(Reason::rule_expired));
}

// A connection is denied for a bad ClientHello or an unverified name before anything goes
// upstream (connection.decision); a changed Host ends a connection that was allowed
// (connection.close).
TEST(Reason, NameStepReasonsAreInTheirGroup) {
  EXPECT_TRUE(is_decision_reason(Reason::client_hello_invalid));
  EXPECT_TRUE(is_decision_reason(Reason::http_request_invalid));
  EXPECT_TRUE(is_decision_reason(Reason::name_mismatch));
  EXPECT_TRUE(is_decision_reason(Reason::name_unresolved));
  EXPECT_FALSE(is_decision_reason(Reason::host_changed));
  EXPECT_FALSE(is_decision_reason(Reason::policy_revoked));
  EXPECT_TRUE(is_decision_reason(Reason::tls_handshake_failed));
  EXPECT_FALSE(is_decision_reason(Reason::eof));
  EXPECT_FALSE(is_decision_reason(Reason::upstream_error));
}

// Issue 20: a CONNECT listener refuses a request before any decision (400/405/431 or its header
// timeout), and closes a tunnel whose first bytes name another host than CONNECT did.
TEST(Reason, ConnectReasonsAreSpelledAndOfTheirKind) {
  EXPECT_EQ(to_string(Reason::connect_request_invalid), "connect_request_invalid");
  EXPECT_EQ(to_string(Reason::connect_request_timeout), "connect_request_timeout");
  EXPECT_EQ(to_string(Reason::sni_mismatch), "sni_mismatch");
  EXPECT_TRUE(is_decision_reason(Reason::connect_request_invalid));
  EXPECT_TRUE(is_decision_reason(Reason::connect_request_timeout));
  EXPECT_FALSE(is_decision_reason(Reason::proxy_local));
  EXPECT_FALSE(is_decision_reason(Reason::sni_mismatch));
  EXPECT_EQ(to_string(Reason::via_denied), "via_denied");
  EXPECT_EQ(to_string(Reason::via_error), "via_error");
  EXPECT_FALSE(is_decision_reason(Reason::via_denied));
  EXPECT_FALSE(is_decision_reason(Reason::via_error));
}

TEST(Reason, EveryValueHasOneUniqueNameAndTheTableEndsAtTheLast) {
  EXPECT_EQ(kReasonCount, static_cast<std::size_t>(Reason::via_error) + 1);
  std::set<std::string_view> seen;
  for (std::size_t i = 1; i < kReasonCount; ++i) {
    const auto name = to_string(static_cast<Reason>(i));
    EXPECT_FALSE(name.empty()) << i;
    EXPECT_NE(name, "unknown") << i;
    EXPECT_TRUE(seen.insert(name).second) << name;
  }
  EXPECT_EQ(to_string(static_cast<Reason>(kReasonCount)), "unknown");
}

// The PROXY protocol step's reasons (issue 20) are a contract too: the three denials are decisions
// (one connection.decision record each, a label of egressd_connections_total); a balancer's LOCAL
// health check is none (no record, its own metric).
TEST(Reason, ProxyProtocolReasonsAreSpelledAndGroupedAsDocumented) {
  EXPECT_EQ(to_string(Reason::proxy_header_untrusted), "proxy_header_untrusted");
  EXPECT_EQ(to_string(Reason::proxy_header_invalid), "proxy_header_invalid");
  EXPECT_EQ(to_string(Reason::proxy_transport_unsupported), "proxy_transport_unsupported");
  EXPECT_EQ(to_string(Reason::proxy_local), "proxy_local");
  EXPECT_TRUE(is_decision_reason(Reason::proxy_header_untrusted));
  EXPECT_TRUE(is_decision_reason(Reason::proxy_header_invalid));
  EXPECT_TRUE(is_decision_reason(Reason::proxy_transport_unsupported));
  EXPECT_FALSE(is_decision_reason(Reason::proxy_local));
}

}  // namespace
}  // namespace egress::base
