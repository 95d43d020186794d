#include "filters/tls_identity.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include "fake_context.hpp"
#include "tls/context_store.hpp"
#include "tls/test_certs.hpp"

namespace egress::filters {
namespace {

base::Identity identity(std::string spiffe_id) {
  base::Identity id;
  id.spiffe_id = spiffe_id;
  id.uri_sans = {spiffe_id};
  id.fingerprint_sha256 = std::string(64, 'a');
  return id;
}

struct TlsIdentityTest : ::testing::Test {
  ListenerInfo listener{0, {}};
  Facts facts{1, listener};
};

TEST(TlsIdentityReasons, EveryDenyReasonIsAuditedUnderTheTlsLibrarysName) {
  for (auto r : {tls::DenyReason::no_client_cert, tls::DenyReason::cert_verify_failed,
                 tls::DenyReason::invalid_svid, tls::DenyReason::tls_handshake_failed,
                 tls::DenyReason::handshake_timeout}) {
    EXPECT_EQ(base::to_string(to_reason(r)), tls::to_string(r));
    EXPECT_TRUE(base::is_decision_reason(to_reason(r)));
  }
}

TEST_F(TlsIdentityTest, AVerifiedCertificatePassesOnWithItsIdentity) {
  tls::HandshakeOutcome out;
  out.identity = identity("spiffe://corp.example/ns/payments/sa/api");
  out.tls_version = "TLSv1.3";
  EXPECT_FALSE(apply_handshake_outcome(facts, out));
  ASSERT_TRUE(facts.identity);
  EXPECT_EQ(facts.identity->spiffe_id, "spiffe://corp.example/ns/payments/sa/api");
  EXPECT_EQ(facts.tls_version, "TLSv1.3");
  EXPECT_EQ(facts.tls_handshake, base::Reason{}) << "the session counts it as ok";
}

TEST_F(TlsIdentityTest, ADenyAfterTheHandshakeKeepsWhoseCertificateItWas) {
  tls::HandshakeOutcome out;
  out.deny = tls::DenyReason::invalid_svid;
  out.detail = "2 SPIFFE IDs";
  out.identity = identity("spiffe://corp.example/ns/a/sa/b");
  out.tls_version = "TLSv1.2";
  const auto deny = apply_handshake_outcome(facts, out);
  ASSERT_TRUE(deny);
  EXPECT_FALSE(deny->allow);
  EXPECT_EQ(deny->reason, base::Reason::invalid_svid);
  EXPECT_EQ(deny->detail, "2 SPIFFE IDs");
  ASSERT_TRUE(facts.identity);
  EXPECT_EQ(facts.identity->spiffe_id, "spiffe://corp.example/ns/a/sa/b");
  EXPECT_EQ(facts.tls_version, "TLSv1.2");
  EXPECT_EQ(facts.tls_handshake, base::Reason::invalid_svid);
}

TEST_F(TlsIdentityTest, ATlsDenyEndsWithAFinSoTheClientReadsTheAlert) {
  tls::HandshakeOutcome out;
  out.deny = tls::DenyReason::no_client_cert;
  out.detail = "peer did not return a certificate";
  const auto deny = apply_handshake_outcome(facts, out);
  ASSERT_TRUE(deny);
  EXPECT_EQ(deny->reason, base::Reason::no_client_cert);
  EXPECT_EQ(deny->ending, base::Ending::close);
  EXPECT_FALSE(facts.identity);
  EXPECT_TRUE(facts.tls_version.empty());
}

TEST_F(TlsIdentityTest, TheFilterAsksForAHandshakeWithTheListenersContextAndTimeout) {
  auto options = tls::test::gateway_options(tls::Mode::required);
  options.handshake_timeout = std::chrono::milliseconds(1234);
  tls::ContextError error;
  auto store = tls::ContextStore::create(options, error);
  ASSERT_TRUE(store) << error.to_string();
  testing::FakeContext context;
  context.handshake_answer.deny = tls::DenyReason::cert_verify_failed;
  context.handshake_answer.detail = "certificate has expired";
  TlsIdentityFilter filter(*store);
  const auto out = testing::run(filter.on_connection(facts, context));
  EXPECT_EQ(context.handshakes, 1);
  EXPECT_EQ(context.handshake_context, store->current().get());
  EXPECT_EQ(context.handshake_deadline, std::chrono::milliseconds(1234));
  ASSERT_TRUE(out);
  EXPECT_EQ(out->reason, base::Reason::cert_verify_failed);
  EXPECT_EQ(out->detail, "certificate has expired");
  EXPECT_EQ(out->ending, base::Ending::close);
}

}  // namespace
}  // namespace egress::filters
