// crl_check (issue 17 item 9): which certificates of a client's chain are checked against a CRL,
// and which CRLs a listener must therefore have. The dev PKI: root → intermediate → leaves;
// ca.crl holds the intermediate's CRL (revoking revoked.pem) and then the root's.
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "handshake_harness.hpp"
#include "mint_certs.hpp"
#include "test_certs.hpp"
#include "tls/context.hpp"
#include "tls/handshake.hpp"

namespace egress::tls {
namespace {

using test::cert_file;
using test::run_handshake;
using test::tls_client;
namespace fs = std::filesystem;

const std::string kRoot = "CN=egressd dev root CA,O=egressd dev";
const std::string kIntermediate = "CN=egressd dev intermediate CA,O=egressd dev";

class CrlCheckMode : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto blocks = test::pem_blocks(cert_file("ca.crl"));
    ASSERT_EQ(blocks.size(), 2u);
    std::ofstream(intermediate_crl_) << blocks[0];
    std::ofstream(root_crl_) << blocks[1];
  }

  ListenerTlsOptions options(tls::CrlCheck mode, const fs::path& crl,
                             const std::string& client_ca = "ca.pem") const {
    ListenerTlsOptions o = test::gateway_options(Mode::required, "");
    o.client_ca = cert_file(client_ca);
    o.crl = crl;
    o.crl_check = mode;
    return o;
  }

  static std::shared_ptr<const ServerContext> build(const ListenerTlsOptions& o) {
    BuildResult r = build_server_context(o);
    EXPECT_TRUE(r.context) << r.error->to_string();
    return r.context;
  }

  static std::string build_error(const ListenerTlsOptions& o) {
    const BuildResult r = build_server_context(o);
    EXPECT_FALSE(r.context);
    return r.error ? r.error->to_string() : std::string("<built>");
  }

  static unsigned long store_flags(const ServerContext& ctx) {
    return X509_VERIFY_PARAM_get_flags(
               X509_STORE_get0_param(SSL_CTX_get_cert_store(ctx.native_handle()))) &
           (X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
  }

  static void expect_allowed(const ServerContext& ctx, const std::string& client) {
    const test::HandshakeRun run = run_handshake(ctx, tls_client(client));
    ASSERT_TRUE(run.server_done);
    EXPECT_TRUE(run.server.allowed()) << client << ": " << run.server.detail;
  }

  static void expect_denied(const ServerContext& ctx, const std::string& client,
                            const std::string& detail) {
    const test::HandshakeRun run = run_handshake(ctx, tls_client(client));
    ASSERT_TRUE(run.server_done);
    ASSERT_TRUE(run.server.deny.has_value()) << client << " was allowed";
    EXPECT_EQ(to_string(*run.server.deny), "cert_verify_failed");
    EXPECT_EQ(run.server.detail, detail);
  }

  test::TempDir dir_;
  fs::path intermediate_crl_ = dir_.path() / "intermediate.crl";
  fs::path root_crl_ = dir_.path() / "root.crl";
};

TEST_F(CrlCheckMode, ChainIsTheDefault) {
  EXPECT_EQ(ListenerTlsOptions{}.crl_check, tls::CrlCheck::chain);
}

TEST_F(CrlCheckMode, LeafModeNeedsOnlyTheIssuingCasCrl) {
  auto ctx = build(options(tls::CrlCheck::leaf, intermediate_crl_));
  ASSERT_TRUE(ctx);
  EXPECT_EQ(store_flags(*ctx), static_cast<unsigned long>(X509_V_FLAG_CRL_CHECK));
  EXPECT_EQ(ctx->info().crl_count, 1u);
  expect_allowed(*ctx, "payments");
  expect_denied(*ctx, "revoked", "certificate revoked");
}

TEST_F(CrlCheckMode, LeafModeStillNeedsTheCrlOfACaThatIssuesLeaves) {
  const ListenerTlsOptions o = options(tls::CrlCheck::leaf, root_crl_);
  EXPECT_EQ(build_error(o), "crl: " + root_crl_.string() + ": no CRL for CA \"" + kIntermediate +
                                "\" of client_ca, which issues no other CA of client_ca and so "
                                "issues leaves; crl_check: leaf needs the CRL of every CA that "
                                "issues leaves");
}

TEST_F(CrlCheckMode, ChainModeWithEveryCasCrl) {
  auto ctx = build(options(tls::CrlCheck::chain, cert_file("ca.crl")));
  ASSERT_TRUE(ctx);
  EXPECT_EQ(store_flags(*ctx),
            static_cast<unsigned long>(X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL));
  expect_allowed(*ctx, "payments");
  expect_denied(*ctx, "revoked", "certificate revoked");
}

TEST_F(CrlCheckMode, ChainModeWithoutTheRootsCrlIsAConfigError) {
  const ListenerTlsOptions o = options(tls::CrlCheck::chain, intermediate_crl_);
  EXPECT_EQ(build_error(o),
            "crl: " + intermediate_crl_.string() + ": no CRL for CA \"" + kRoot +
                "\" of client_ca; crl_check: chain checks every certificate of a chain against "
                "its issuer's CRL, so every trusted CA needs one (crl_check: leaf needs only the "
                "CRLs of the CAs that issue leaves)");
}

// The setup of the issue: client_ca holds the root only and clients send the intermediate. The
// intermediate's CRL cannot be had (it is not in client_ca), so the leaf cannot be checked:
// denied either way, and the detail says whose CRL is missing.
TEST_F(CrlCheckMode, IntermediateSentByTheClientNamesTheMissingCrl) {
  const std::string missing = "unable to get certificate CRL: no CRL from \"" + kIntermediate +
                              "\" (the issuer of \"CN=payments-api,OU=payments,O=corp.example\", "
                              "depth 0); ";
  auto chain = build(options(tls::CrlCheck::chain, root_crl_, "ca-root.pem"));
  ASSERT_TRUE(chain);
  expect_denied(*chain, "payments",
                missing + "crl_check: chain needs the CRL of every CA in the chain");
  auto leaf = build(options(tls::CrlCheck::leaf, root_crl_, "ca-root.pem"));
  ASSERT_TRUE(leaf);
  expect_denied(*leaf, "payments",
                missing + "crl_check: leaf needs the CRL of the client certificate's issuer");
}

// ... and its CRL is refused until the intermediate is in client_ca, where it can be checked.
TEST_F(CrlCheckMode, CrlOfAnIntermediateOutsideClientCaSaysWhatToDo) {
  const ListenerTlsOptions o = options(tls::CrlCheck::leaf, intermediate_crl_, "ca-root.pem");
  EXPECT_EQ(build_error(o), "crl: " + intermediate_crl_.string() + ": CRL issued by \"" +
                                kIntermediate + "\" is not signed by any CA of client_ca (" +
                                o.client_ca.string() +
                                "); for the CRL of an intermediate CA, add that CA to client_ca");
}

}  // namespace
}  // namespace egress::tls
