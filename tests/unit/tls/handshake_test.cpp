#include "tls/handshake.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <boost/asio/ssl/error.hpp>

#include "handshake_harness.hpp"
#include "test_certs.hpp"
#include "tls/context.hpp"
#include "tls/identity.hpp"

namespace egress::tls {
namespace {

using test::ClientSpec;
using test::gateway_options;
using test::HandshakeRun;
using test::plain_client;
using test::run_handshake;
using test::silent_client;
using test::tls_client;

std::shared_ptr<const ServerContext> context(Mode mode, const std::string& crl = "ca.crl") {
  BuildResult r = build_server_context(gateway_options(mode, crl));
  EXPECT_TRUE(r.context) << (r.error ? r.error->to_string() : "");
  return r.context;
}

// The client learned of the rejection through a TLS alert, not a bare close: either its
// handshake failed (TLS 1.2) or its first read did (TLS 1.3 clients finish first).
bool client_got_alert(const HandshakeRun& run) {
  const auto& ec = run.client_handshake ? run.client_handshake : run.client_read;
  return ec.category() == boost::asio::error::get_ssl_category() &&
         ec.message().find("alert") != std::string::npos;
}

void expect_denied(const HandshakeRun& run, DenyReason reason, const std::string& detail) {
  ASSERT_TRUE(run.server_done);
  ASSERT_TRUE(run.server.deny.has_value()) << "allowed, expected " << to_string(reason);
  EXPECT_EQ(to_string(*run.server.deny), to_string(reason));
  EXPECT_EQ(run.server.detail, detail);
  EXPECT_FALSE(run.server.identity.has_value());
  EXPECT_FALSE(run.server.allowed());
}

TEST(Handshake, ValidClientGivesItsIdentity) {
  auto ctx = context(Mode::required);
  const HandshakeRun run = run_handshake(*ctx, tls_client("payments"));
  ASSERT_TRUE(run.server_done);
  ASSERT_TRUE(run.server.allowed()) << to_string(*run.server.deny) << ": " << run.server.detail;
  ASSERT_TRUE(run.server.identity.has_value());
  EXPECT_EQ(run.server.identity->spiffe_id, "spiffe://corp.example/ns/payments/sa/api");
  EXPECT_EQ(run.server.identity->common_name, "payments-api");
  EXPECT_EQ(run.server.identity->fingerprint_sha256,
            extract_identity(*test::load_leaf("payments")).identity.fingerprint_sha256);
  EXPECT_EQ(run.server.tls_version, "TLSv1.3");
  EXPECT_FALSE(run.client_handshake);
}

TEST(Handshake, LeafWithoutIntermediateVerifiesThroughTheBundle) {
  auto ctx = context(Mode::required);
  ClientSpec spec = tls_client("payments");
  spec.leaf_only = true;
  const HandshakeRun run = run_handshake(*ctx, spec);
  ASSERT_TRUE(run.server.allowed()) << run.server.detail;
  EXPECT_EQ(run.server.identity->spiffe_id, "spiffe://corp.example/ns/payments/sa/api");
}

TEST(Handshake, SpiffeIdSecondInTheSansOverTls12) {
  auto ctx = context(Mode::required);
  const HandshakeRun run = run_handshake(*ctx, tls_client("analytics", TLS1_2_VERSION));
  ASSERT_TRUE(run.server.allowed()) << run.server.detail;
  EXPECT_EQ(run.server.identity->spiffe_id, "spiffe://corp.example/ns/analytics/sa/etl");
  EXPECT_EQ(run.server.tls_version, "TLSv1.2");
}

TEST(Handshake, DnsAndCnOnlyClient) {
  auto ctx = context(Mode::required);
  const HandshakeRun run = run_handshake(*ctx, tls_client("dns-only"));
  ASSERT_TRUE(run.server.allowed()) << run.server.detail;
  EXPECT_EQ(run.server.identity->spiffe_id, "");
  EXPECT_EQ(run.server.identity->common_name, "legacy-batch");
  EXPECT_EQ(run.server.identity->dns_sans.size(), 2u);
}

TEST(Handshake, NoCertificateWhenRequired) {
  auto ctx = context(Mode::required);
  const HandshakeRun run = run_handshake(*ctx, tls_client(""));
  expect_denied(run, DenyReason::no_client_cert, "peer did not return a certificate");
  EXPECT_TRUE(client_got_alert(run)) << run.client_read_message;
}

TEST(Handshake, NoCertificateWhenOptional) {
  auto ctx = context(Mode::optional);
  const HandshakeRun run = run_handshake(*ctx, tls_client(""));
  ASSERT_TRUE(run.server_done);
  EXPECT_TRUE(run.server.allowed()) << run.server.detail;
  EXPECT_FALSE(run.server.identity.has_value());
  EXPECT_EQ(run.server.tls_version, "TLSv1.3");
}

TEST(Handshake, ExpiredCertificate) {
  auto ctx = context(Mode::required);
  const HandshakeRun run = run_handshake(*ctx, tls_client("expired"));
  expect_denied(run, DenyReason::cert_verify_failed, "certificate has expired");
  EXPECT_TRUE(client_got_alert(run)) << run.client_read_message;
}

TEST(Handshake, OptionalModeStillVerifiesAPresentedCertificate) {
  auto ctx = context(Mode::optional);
  expect_denied(run_handshake(*ctx, tls_client("expired")), DenyReason::cert_verify_failed,
                "certificate has expired");
}

TEST(Handshake, RevokedCertificate) {
  auto ctx = context(Mode::required);
  const HandshakeRun run = run_handshake(*ctx, tls_client("revoked"));
  expect_denied(run, DenyReason::cert_verify_failed, "certificate revoked");
  EXPECT_TRUE(client_got_alert(run)) << run.client_read_message;
}

TEST(Handshake, RevokedCertificatePassesWithoutCrl) {
  auto ctx = context(Mode::required, "");
  const HandshakeRun run = run_handshake(*ctx, tls_client("revoked"));
  EXPECT_TRUE(run.server.allowed()) << run.server.detail;
}

TEST(Handshake, UnrelatedCa) {
  auto ctx = context(Mode::required);
  expect_denied(run_handshake(*ctx, tls_client("unrelated")), DenyReason::cert_verify_failed,
                "unable to get local issuer certificate");
}

TEST(Handshake, ServerAuthOnlyEkuIsNotAClientCertificate) {
  auto ctx = context(Mode::required);
  expect_denied(run_handshake(*ctx, tls_client("wrong-eku")), DenyReason::cert_verify_failed,
                "unsuitable certificate purpose");
}

TEST(Handshake, TwoSpiffeIdsFailTheHandshakeWithAnAlert) {
  auto ctx = context(Mode::required);
  const HandshakeRun run = run_handshake(*ctx, tls_client("two-spiffe"));
  expect_denied(run, DenyReason::invalid_svid,
                "2 spiffe:// URI SANs; an X.509-SVID has exactly one");
  EXPECT_TRUE(client_got_alert(run)) << run.client_read_message;
}

TEST(Handshake, PlainHttpOnATlsListener) {
  auto ctx = context(Mode::required);
  const HandshakeRun run = run_handshake(*ctx, plain_client("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  expect_denied(run, DenyReason::tls_handshake_failed, "http request");
}

TEST(Handshake, GarbageOnATlsListener) {
  auto ctx = context(Mode::required);
  const HandshakeRun run = run_handshake(*ctx, plain_client(std::string(64, '\x42')));
  expect_denied(run, DenyReason::tls_handshake_failed, "wrong version number");
}

TEST(Handshake, ClientClosesWithoutSendingAnything) {
  auto ctx = context(Mode::required);
  expect_denied(run_handshake(*ctx, silent_client()), DenyReason::tls_handshake_failed,
                "connection closed during the handshake");
}

TEST(Handshake, Tls12ClientOnATls13OnlyListener) {
  ListenerTlsOptions options = gateway_options(Mode::required);
  options.min_version = MinVersion::tls1_3;
  auto ctx = build_server_context(options).context;
  ASSERT_TRUE(ctx);
  expect_denied(run_handshake(*ctx, tls_client("payments", TLS1_2_VERSION)),
                DenyReason::tls_handshake_failed, "unsupported protocol");
}

TEST(Handshake, ResumedSessionKeepsTheIdentity) {
  auto ctx = context(Mode::required);
  const HandshakeRun first = run_handshake(*ctx, tls_client("payments"));
  ASSERT_TRUE(first.server.allowed());
  ASSERT_NE(first.client_session, nullptr);
  const HandshakeRun second =
      run_handshake(*ctx, tls_client("payments", 0, first.client_session.get()));
  EXPECT_TRUE(second.resumed);
  ASSERT_TRUE(second.server.allowed()) << second.server.detail;
  EXPECT_EQ(second.server.identity->spiffe_id, "spiffe://corp.example/ns/payments/sa/api");
}

// session_cache_size bounds the server's cache, and the oldest session goes first. A TLS 1.3
// full handshake briefly holds two entries (its session and the one its stateful ticket names),
// so three clients in a cache of 3 leave the first one evicted.
TEST(Handshake, SessionCacheHoldsAtMostItsSize) {
  ListenerTlsOptions options = gateway_options(Mode::required);
  options.session_cache_size = 3;
  auto ctx = build_server_context(options).context;
  ASSERT_TRUE(ctx);
  std::vector<HandshakeRun> runs;
  for (const char* client : {"payments", "analytics", "dns-only"}) {
    runs.push_back(run_handshake(*ctx, tls_client(client)));
    ASSERT_TRUE(runs.back().server.allowed()) << client << ": " << runs.back().server.detail;
    ASSERT_NE(runs.back().client_session, nullptr);
    EXPECT_LE(SSL_CTX_sess_number(ctx->native_handle()), 3);
  }
  const HandshakeRun oldest =
      run_handshake(*ctx, tls_client("payments", 0, runs[0].client_session.get()));
  EXPECT_FALSE(oldest.resumed) << "the first session should have been evicted";
  EXPECT_TRUE(oldest.server.allowed()) << oldest.server.detail;
  const HandshakeRun newest =
      run_handshake(*ctx, tls_client("dns-only", 0, runs[2].client_session.get()));
  EXPECT_TRUE(newest.resumed);
}

TEST(Handshake, SessionCacheSizeZeroMeansNoResumption) {
  ListenerTlsOptions options = gateway_options(Mode::required);
  options.session_cache_size = 0;
  auto ctx = build_server_context(options).context;
  ASSERT_TRUE(ctx);
  const HandshakeRun first = run_handshake(*ctx, tls_client("payments"));
  ASSERT_TRUE(first.server.allowed()) << first.server.detail;
  EXPECT_EQ(SSL_CTX_sess_number(ctx->native_handle()), 0);
  if (first.client_session) {
    const HandshakeRun second =
        run_handshake(*ctx, tls_client("payments", 0, first.client_session.get()));
    EXPECT_FALSE(second.resumed);
    EXPECT_TRUE(second.server.allowed()) << second.server.detail;
  }
}

std::string ticket_of(const SSL_SESSION* session) {
  const unsigned char* ticket = nullptr;
  std::size_t len = 0;
  SSL_SESSION_get0_ticket(session, &ticket, &len);
  return std::string(reinterpret_cast<const char*>(ticket), len);
}

// A resumed connection gets no renewed ticket: the client keeps resuming with the one from its
// full handshake, so the session (and the identity verified in that handshake) still expires
// kSessionTimeoutSeconds after the verification, however often the client resumes.
TEST(Handshake, ResumedConnectionGetsNoNewTicket) {
  auto ctx = context(Mode::required);
  const HandshakeRun first = run_handshake(*ctx, tls_client("payments"));
  ASSERT_TRUE(first.server.allowed());
  ASSERT_NE(first.client_session, nullptr);
  ASSERT_EQ(SSL_SESSION_get_protocol_version(first.client_session.get()), TLS1_3_VERSION);
  const std::string ticket = ticket_of(first.client_session.get());
  ASSERT_FALSE(ticket.empty()) << "the full handshake issues a ticket";

  const HandshakeRun second =
      run_handshake(*ctx, tls_client("payments", 0, first.client_session.get()));
  ASSERT_TRUE(second.resumed);
  ASSERT_NE(second.client_session, nullptr);
  EXPECT_EQ(ticket_of(second.client_session.get()), ticket);
  // And the same ticket resumes again.
  const HandshakeRun third =
      run_handshake(*ctx, tls_client("payments", 0, second.client_session.get()));
  EXPECT_TRUE(third.resumed);
}

TEST(Handshake, TimeoutOutcome) {
  const HandshakeOutcome out = handshake_timed_out(std::chrono::milliseconds(10000));
  ASSERT_TRUE(out.deny.has_value());
  EXPECT_EQ(to_string(*out.deny), "handshake_timeout");
  EXPECT_EQ(out.detail, "no TLS handshake within 10000 ms");
}

TEST(Handshake, ReasonNames) {
  EXPECT_EQ(to_string(DenyReason::no_client_cert), "no_client_cert");
  EXPECT_EQ(to_string(DenyReason::cert_verify_failed), "cert_verify_failed");
  EXPECT_EQ(to_string(DenyReason::invalid_svid), "invalid_svid");
  EXPECT_EQ(to_string(DenyReason::tls_handshake_failed), "tls_handshake_failed");
  EXPECT_EQ(to_string(DenyReason::handshake_timeout), "handshake_timeout");
}

}  // namespace
}  // namespace egress::tls
