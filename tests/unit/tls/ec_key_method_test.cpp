#include "tls/ec_key_method.hpp"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdio>
#include <memory>
#include <string>

#include "handshake_harness.hpp"
#include "test_certs.hpp"
#include "tls/context.hpp"

namespace egress::tls {
namespace {

using test::gateway_options;
using test::run_handshake;
using test::tls_client;

// Every test runs in its own process (gtest_discover_tests): each installs the engine first, so
// everything below runs on OpenSSL's built-in EC method, as in egressd.
class BuiltinEcKeyMethod : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(use_builtin_ec_key_method()); }
};

std::unique_ptr<X509, decltype(&X509_free)> read_cert(const std::string& name) {
  const std::string path = test::cert_file(name + ".pem").string();
  std::FILE* f = std::fopen(path.c_str(), "r");
  EXPECT_NE(f, nullptr) << path;
  X509* cert = f != nullptr ? PEM_read_X509(f, nullptr, nullptr, nullptr) : nullptr;
  if (f != nullptr) std::fclose(f);
  return {cert, &X509_free};
}

// A certificate parsed after the install (as a client's is, from DER) checks against its
// issuer's key and not against another key.
TEST_F(BuiltinEcKeyMethod, ParsedCertificatesVerifyOnlyAgainstTheirIssuer) {
  auto leaf = read_cert("payments");
  auto intermediate = read_cert("ca-intermediate");
  auto root = read_cert("ca-root");
  ASSERT_TRUE(leaf && intermediate && root);
  unsigned char* der = nullptr;
  const int len = i2d_X509(leaf.get(), &der);
  ASSERT_GT(len, 0);
  const unsigned char* p = der;
  std::unique_ptr<X509, decltype(&X509_free)> parsed(d2i_X509(nullptr, &p, len), &X509_free);
  OPENSSL_free(der);
  ASSERT_TRUE(parsed);
  ASSERT_NE(X509_get0_pubkey(parsed.get()), nullptr);
  EXPECT_EQ(EVP_PKEY_get_base_id(X509_get0_pubkey(parsed.get())), EVP_PKEY_EC);
  EXPECT_EQ(X509_verify(parsed.get(), X509_get0_pubkey(intermediate.get())), 1);
  EXPECT_EQ(X509_verify(parsed.get(), X509_get0_pubkey(root.get())), 0);
  EXPECT_EQ(X509_verify(intermediate.get(), X509_get0_pubkey(root.get())), 1);
  ERR_clear_error();
}

TEST_F(BuiltinEcKeyMethod, InstallingTwiceIsHarmless) {
  EXPECT_TRUE(use_builtin_ec_key_method());
}

std::shared_ptr<const ServerContext> required_context() {
  BuildResult r = build_server_context(gateway_options(Mode::required, "ca.crl"));
  EXPECT_TRUE(r.context) << (r.error ? r.error->to_string() : "");
  return r.context;
}

// The whole mTLS handshake on the built-in method: the same verdicts as OpenSSL's default path
// (handshake_test.cpp runs these without the engine).
TEST_F(BuiltinEcKeyMethod, ValidClientGivesItsIdentity) {
  const auto run = run_handshake(*required_context(), tls_client("payments"));
  ASSERT_TRUE(run.server_done);
  ASSERT_TRUE(run.server.allowed()) << run.server.detail;
  ASSERT_TRUE(run.server.identity.has_value());
  EXPECT_EQ(run.server.identity->spiffe_id, "spiffe://corp.example/ns/payments/sa/api");
}

TEST_F(BuiltinEcKeyMethod, UntrustedExpiredAndRevokedClientsAreStillDenied) {
  const auto ctx = required_context();
  for (const auto& [cert, detail] :
       {std::pair<std::string, std::string>{"unrelated", "unable to get local issuer certificate"},
        {"expired", "certificate has expired"},
        {"revoked", "certificate revoked"}}) {
    const auto run = run_handshake(*ctx, tls_client(cert));
    ASSERT_TRUE(run.server_done) << cert;
    ASSERT_TRUE(run.server.deny.has_value()) << cert << " was allowed";
    EXPECT_EQ(*run.server.deny, DenyReason::cert_verify_failed) << cert;
    EXPECT_EQ(run.server.detail, detail) << cert;
  }
}

}  // namespace
}  // namespace egress::tls
