// The CRLs of a built context asked about a live connection's certificate by the (issuer,
// serial) its identity recorded (issue 21: a CRL reload closes connections it revokes). The dev
// PKI: ca.crl revokes revoked.pem; ca-revokes-payments.crl revokes payments.pem too.
#include "tls/revocation_list.hpp"

#include <gtest/gtest.h>

#include <string>

#include "test_certs.hpp"
#include "tls/context.hpp"
#include "tls/identity.hpp"

namespace egress::tls {
namespace {

using test::load_leaf;

std::shared_ptr<const ServerContext> context_with(const std::string& crl) {
  BuildResult r = build_server_context(test::gateway_options(Mode::required, crl));
  EXPECT_TRUE(r.context) << r.error->to_string();
  return r.context;
}

base::Identity identity_of(const std::string& name) {
  const X509Ptr leaf = load_leaf(name);
  return extract_identity(*leaf).identity;
}

std::optional<RevokedEntry> find(const ServerContext& ctx, const base::Identity& id) {
  return ctx.revocations().find(id.issuer, id.serial);
}

TEST(RevocationList, TheRunningCrlAnswersByTheIdentitysIssuerAndSerial) {
  const auto ctx = context_with("ca.crl");
  ASSERT_TRUE(ctx);
  EXPECT_EQ(ctx->revocations().size(), 2u);  // the intermediate's CRL and the root's
  const auto revoked = find(*ctx, identity_of("revoked"));
  ASSERT_TRUE(revoked);
  // RFC 3339 UTC, as every time in the audit log.
  EXPECT_EQ(revoked->revoked_at.size(), std::string("2026-01-01T00:00:00Z").size())
      << revoked->revoked_at;
  EXPECT_EQ(revoked->revoked_at.back(), 'Z');
  EXPECT_FALSE(find(*ctx, identity_of("payments")));
  EXPECT_FALSE(find(*ctx, identity_of("analytics")));
}

TEST(RevocationList, ANewCrlRevokesACertificateTheOldOneDidNot) {
  const auto before = context_with("ca.crl");
  const auto after = context_with("ca-revokes-payments.crl");
  ASSERT_TRUE(before && after);
  const auto payments = identity_of("payments");
  EXPECT_FALSE(find(*before, payments));
  EXPECT_TRUE(find(*after, payments));
  EXPECT_TRUE(find(*after, identity_of("revoked")));
  EXPECT_FALSE(find(*after, identity_of("analytics")));
}

TEST(RevocationList, OnlyTheIssuersOwnCrlCounts) {
  const auto ctx = context_with("ca-revokes-payments.crl");
  ASSERT_TRUE(ctx);
  const auto payments = identity_of("payments");
  // The same serial under another issuer (the root's CRL, or an unknown CA) is not revoked.
  EXPECT_FALSE(ctx->revocations().find("CN=egressd dev root CA,O=egressd dev", payments.serial));
  EXPECT_FALSE(ctx->revocations().find("CN=someone else", payments.serial));
  EXPECT_FALSE(ctx->revocations().find(payments.issuer, ""));
  EXPECT_FALSE(ctx->revocations().find(payments.issuer, "not-hex"));
  EXPECT_FALSE(ctx->revocations().find(payments.issuer, payments.serial + "zz"));
}

TEST(RevocationList, NoCrlRevokesNothing) {
  const auto ctx = context_with("");
  ASSERT_TRUE(ctx);
  EXPECT_EQ(ctx->revocations().size(), 0u);
  EXPECT_FALSE(find(*ctx, identity_of("revoked")));
}

}  // namespace
}  // namespace egress::tls
