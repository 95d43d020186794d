#include "tls/svid_rules.hpp"

#include <string>

#include <gtest/gtest.h>

#include "handshake_harness.hpp"
#include "mint_certs.hpp"
#include "test_certs.hpp"
#include "tls/context.hpp"
#include "tls/handshake.hpp"

namespace egress::tls {
namespace {

using test::CertSpec;
using test::HandshakeRun;
using test::KeyedCert;

constexpr const char* kPayments = "URI:spiffe://corp.example/ns/payments/sa/api";

// --- the rules on one certificate ---------------------------------------------------------------

TEST(LeafUsage, LeafShapes) {
  const test::TempDir dir;
  const KeyedCert ca = test::dev_ca("ca-intermediate");
  struct Case {
    const char* what;
    const char* basic_constraints;
    const char* key_usage;
    const char* error;  // "" = a leaf
  };
  const Case cases[] = {
      {"an SVID", "critical,CA:FALSE", "critical,digitalSignature", ""},
      {"no basicConstraints (CA:false by default)", "", "critical,digitalSignature", ""},
      {"no extensions at all", "", "", ""},
      {"keyAgreement and keyEncipherment", "critical,CA:FALSE",
       "critical,digitalSignature,keyAgreement,keyEncipherment", ""},
      {"CA:true", "critical,CA:TRUE", "critical,digitalSignature",
       "client certificate has CA:true; a leaf must have CA:false (X.509-SVID 4.1)"},
      {"CA:true without key usage", "CA:TRUE", "",
       "client certificate has CA:true; a leaf must have CA:false (X.509-SVID 4.1)"},
      {"keyCertSign", "critical,CA:FALSE", "critical,digitalSignature,keyCertSign",
       "client certificate's key usage has keyCertSign; a leaf must not (X.509-SVID 4.3)"},
      {"keyCertSign without basicConstraints", "", "critical,digitalSignature,keyCertSign",
       "client certificate's key usage has keyCertSign; a leaf must not (X.509-SVID 4.3)"},
      {"cRLSign", "critical,CA:FALSE", "critical,digitalSignature,cRLSign",
       "client certificate's key usage has cRLSign; a leaf must not (X.509-SVID 4.3)"},
  };
  for (const Case& c : cases) {
    CertSpec spec;
    spec.san = kPayments;
    spec.basic_constraints = c.basic_constraints;
    spec.key_usage = c.key_usage;
    EXPECT_EQ(leaf_usage_error(*test::mint(dir.path(), spec, ca).cert), c.error) << c.what;
  }
  EXPECT_EQ(leaf_usage_error(*test::load_leaf("payments")), "");
  EXPECT_NE(leaf_usage_error(*test::load_leaf("ca-intermediate")), "");
}

TEST(SigningCert, AWorkloadIdCannotSign) {
  const test::TempDir dir;
  const KeyedCert root = test::dev_ca("ca-root");
  struct Case {
    const char* san;
    const char* error;  // "" = may sign
  };
  const Case cases[] = {
      {"", ""},
      {"URI:spiffe://corp.example", ""},
      {"DNS:ca.corp.example, URI:https://ca.corp.example/ns/x", ""},
      {"URI:spiffe://corp.example/ns/payments/sa/api",
       "signing certificate has the SPIFFE ID \"spiffe://corp.example/ns/payments/sa/api\" with a "
       "path: a workload's ID, not a CA's (X.509-SVID 3.2)"},
      {"URI:SPIFFE://corp.example/x",
       "signing certificate has the SPIFFE ID \"SPIFFE://corp.example/x\" with a path: a "
       "workload's ID, not a CA's (X.509-SVID 3.2)"},
  };
  for (const Case& c : cases) {
    CertSpec spec;
    spec.san = c.san;
    spec.basic_constraints = "critical,CA:TRUE";
    spec.key_usage = "critical,keyCertSign,cRLSign";
    EXPECT_EQ(signing_cert_error(*test::mint(dir.path(), spec, root).cert), c.error) << c.san;
  }
  EXPECT_EQ(signing_cert_error(*test::load_leaf("ca-intermediate")), "");
}

// --- the same rules in a real handshake: the deny reason and the detail an audit record gets ---

class SvidHandshake : public ::testing::Test {
 protected:
  // No CRL: the minted CAs publish none, and revocation is not what these tests are about.
  void SetUp() override {
    BuildResult r = build_server_context(test::gateway_options(Mode::required, ""));
    ASSERT_TRUE(r.context) << r.error->to_string();
    ctx_ = r.context;
  }

  // `leaf` presented with `chain` after it.
  HandshakeRun present(const KeyedCert& leaf, const std::vector<const KeyedCert*>& chain) {
    test::write_client(dir_.path(), "client", leaf, chain);
    test::ClientSpec spec = test::tls_client("client");
    spec.dir = dir_.path();
    return test::run_handshake(*ctx_, spec);
  }

  static void expect_denied(const HandshakeRun& run, DenyReason reason, const std::string& detail) {
    ASSERT_TRUE(run.server_done);
    ASSERT_TRUE(run.server.deny.has_value()) << "allowed, expected " << to_string(reason);
    EXPECT_EQ(to_string(*run.server.deny), to_string(reason));
    EXPECT_EQ(run.server.detail, detail);
    EXPECT_FALSE(run.server.identity.has_value());
  }

  KeyedCert mint(const CertSpec& spec, const KeyedCert& issuer,
                 const std::string& key = "payments") {
    return test::mint(dir_.path(), spec, issuer, key);
  }

  test::TempDir dir_;
  std::shared_ptr<const ServerContext> ctx_;
  KeyedCert root_ = test::dev_ca("ca-root");
  KeyedCert intermediate_ = test::dev_ca("ca-intermediate");
};

TEST_F(SvidHandshake, AMintedSvidIsAccepted) {
  CertSpec spec;
  spec.san = "DNS:api.payments.corp.example, " + std::string(kPayments);
  const HandshakeRun run = present(mint(spec, intermediate_), {&intermediate_});
  ASSERT_TRUE(run.server.allowed()) << run.server.detail;
  EXPECT_EQ(run.server.identity->spiffe_id, "spiffe://corp.example/ns/payments/sa/api");
}

TEST_F(SvidHandshake, CaTrueLeafIsRejected) {
  CertSpec spec;
  spec.san = kPayments;
  spec.basic_constraints = "critical,CA:TRUE";
  expect_denied(present(mint(spec, intermediate_), {&intermediate_}),
                DenyReason::cert_verify_failed,
                "client certificate has CA:true; a leaf must have CA:false (X.509-SVID 4.1)");
}

TEST_F(SvidHandshake, KeyCertSignLeafIsRejected) {
  CertSpec spec;
  spec.san = kPayments;
  spec.key_usage = "critical,digitalSignature,keyCertSign";
  expect_denied(present(mint(spec, intermediate_), {&intermediate_}),
                DenyReason::cert_verify_failed,
                "client certificate's key usage has keyCertSign; a leaf must not (X.509-SVID 4.3)");
}

TEST_F(SvidHandshake, CrlSignLeafIsRejected) {
  CertSpec spec;
  spec.san = kPayments;
  spec.key_usage = "critical,digitalSignature,cRLSign";
  expect_denied(present(mint(spec, intermediate_), {&intermediate_}),
                DenyReason::cert_verify_failed,
                "client certificate's key usage has cRLSign; a leaf must not (X.509-SVID 4.3)");
}

TEST_F(SvidHandshake, SpiffeIdBesideAnotherUriSanIsRejected) {
  CertSpec spec;
  spec.san = "URI:https://api.payments.corp.example/, " + std::string(kPayments);
  expect_denied(present(mint(spec, intermediate_), {&intermediate_}), DenyReason::invalid_svid,
                "2 URI SANs, one of them a SPIFFE ID; an X.509-SVID has exactly one URI SAN");
}

TEST_F(SvidHandshake, TrustDomainIdAsLeafIsRejected) {
  CertSpec spec;
  spec.san = "URI:spiffe://corp.example";
  expect_denied(present(mint(spec, intermediate_), {&intermediate_}), DenyReason::invalid_svid,
                "SPIFFE ID without a path; an X.509-SVID leaf's ID has one (a trust domain's ID is "
                "a signing certificate's)");
}

// The attack of issue 17 item 5: a workload certificate mis-issued with CA:true signs a leaf
// with an ID of the workload's choosing. The root (pathlen 1) lets OpenSSL accept the chain.
TEST_F(SvidHandshake, LeafSignedByAWorkloadCertificateIsRejected) {
  CertSpec rogue_spec;
  rogue_spec.cn = "payments-api";
  rogue_spec.san = kPayments;
  rogue_spec.basic_constraints = "critical,CA:TRUE";
  rogue_spec.key_usage = "critical,digitalSignature,keyCertSign";
  const KeyedCert rogue = mint(rogue_spec, root_, "analytics");
  CertSpec forged;
  forged.san = "URI:spiffe://corp.example/ns/admin/sa/root";
  expect_denied(present(mint(forged, rogue), {&rogue}), DenyReason::invalid_svid,
                "certificate at depth 1 (\"CN=payments-api\"): signing certificate has the SPIFFE "
                "ID \"spiffe://corp.example/ns/payments/sa/api\" with a path: a workload's ID, not "
                "a CA's (X.509-SVID 3.2)");
}

// The same shape with a CA's own SPIFFE ID (no path) is a legitimate intermediate (SPIRE's).
TEST_F(SvidHandshake, LeafSignedByACaWithATrustDomainIdIsAccepted) {
  CertSpec ca_spec;
  ca_spec.cn = "spire intermediate";
  ca_spec.san = "URI:spiffe://corp.example";
  ca_spec.basic_constraints = "critical,CA:TRUE";
  ca_spec.key_usage = "critical,keyCertSign,cRLSign";
  ca_spec.ext_key_usage = "";
  const KeyedCert spire = mint(ca_spec, root_, "analytics");
  CertSpec leaf;
  leaf.san = kPayments;
  const HandshakeRun run = present(mint(leaf, spire), {&spire});
  ASSERT_TRUE(run.server.allowed()) << run.server.detail;
  EXPECT_EQ(run.server.identity->spiffe_id, "spiffe://corp.example/ns/payments/sa/api");
}

// A leaf SVID (CA:false) as an intermediate: OpenSSL refuses it as an issuer before our rules.
TEST_F(SvidHandshake, LeafSignedByACaFalseSvidIsRejected) {
  CertSpec svid;
  svid.cn = "payments-api";
  svid.san = kPayments;
  svid.key_usage = "critical,digitalSignature,keyCertSign";  // even with keyCertSign
  const KeyedCert fake_issuer = mint(svid, root_, "analytics");
  CertSpec forged;
  forged.san = "URI:spiffe://corp.example/ns/admin/sa/root";
  expect_denied(present(mint(forged, fake_issuer), {&fake_issuer}), DenyReason::cert_verify_failed,
                "invalid CA certificate");
}

}  // namespace
}  // namespace egress::tls
