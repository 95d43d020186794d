#include "filters/tls_identity.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "core/metrics.hpp"
#include "tls/context_store.hpp"
#include "tls/test_certs.hpp"

namespace egress::filters {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

/// The listener's handshake counters as /metrics shows them: "ok=1 cert_verify_failed=2".
std::string tls_counters(const core::Metrics& m) {
  std::string out;
  const std::string prefix = "egressd_tls_handshakes_total{listener=\"egress\",result=\"";
  const std::string text = m.render({});
  for (auto pos = text.find(prefix); pos != std::string::npos; pos = text.find(prefix, pos + 1)) {
    const auto start = pos + prefix.size();
    const auto quote = text.find('"', start);
    const auto eol = text.find('\n', quote);
    if (!out.empty()) out += " ";
    out += text.substr(start, quote - start) + "=" + text.substr(quote + 3, eol - quote - 3);
  }
  return out;
}

base::Identity identity(std::string spiffe_id) {
  base::Identity id;
  id.spiffe_id = spiffe_id;
  id.uri_sans = {spiffe_id};
  id.fingerprint_sha256 = std::string(64, 'a');
  return id;
}

struct TlsIdentityTest : ::testing::Test {
  asio::io_context io;
  core::Metrics metrics{{"egress"}, 1};
  core::ListenerInfo listener{0, {}};

  std::unique_ptr<core::Connection> connection(tcp::socket s) {
    return std::make_unique<core::Connection>(std::move(s), 1, listener, metrics.worker(0));
  }
};

TEST(TlsIdentityReasons, EveryDenyReasonIsAuditedUnderTheTlsLibrarysName) {
  for (auto r : {tls::DenyReason::no_client_cert, tls::DenyReason::cert_verify_failed,
                 tls::DenyReason::invalid_svid, tls::DenyReason::tls_handshake_failed,
                 tls::DenyReason::handshake_timeout}) {
    EXPECT_EQ(base::to_string(to_errc(r)), tls::to_string(r));
    EXPECT_TRUE(base::is_decision_reason(to_errc(r)));
  }
}

TEST_F(TlsIdentityTest, AVerifiedCertificateContinuesWithItsIdentity) {
  auto conn = connection(tcp::socket(io));
  tls::HandshakeOutcome out;
  out.identity = identity("spiffe://corp.example/ns/payments/sa/api");
  out.tls_version = "TLSv1.3";
  EXPECT_EQ(apply_handshake_outcome(*conn, out), Verdict::Continue);
  EXPECT_FALSE(conn->denied());
  ASSERT_TRUE(conn->identity);
  EXPECT_EQ(conn->identity->spiffe_id, "spiffe://corp.example/ns/payments/sa/api");
  EXPECT_EQ(conn->tls_version, "TLSv1.3");
  EXPECT_EQ(tls_counters(metrics), "ok=1");
}

TEST_F(TlsIdentityTest, ADenyAfterTheHandshakeKeepsWhoseCertificateItWas) {
  auto conn = connection(tcp::socket(io));
  tls::HandshakeOutcome out;
  out.deny = tls::DenyReason::invalid_svid;
  out.detail = "2 SPIFFE IDs";
  out.identity = identity("spiffe://corp.example/ns/a/sa/b");
  out.tls_version = "TLSv1.2";
  EXPECT_EQ(apply_handshake_outcome(*conn, out), Verdict::Deny);
  EXPECT_EQ(conn->denied(), base::Reason::invalid_svid);
  EXPECT_EQ(conn->deny_detail(), "2 SPIFFE IDs");
  ASSERT_TRUE(conn->identity);
  EXPECT_EQ(conn->identity->spiffe_id, "spiffe://corp.example/ns/a/sa/b");
  EXPECT_EQ(conn->tls_version, "TLSv1.2");
  EXPECT_EQ(tls_counters(metrics), "invalid_svid=1");
}

TEST_F(TlsIdentityTest, AFailedHandshakeHasNoIdentityAndNoVersion) {
  auto conn = connection(tcp::socket(io));
  tls::HandshakeOutcome out;
  out.deny = tls::DenyReason::no_client_cert;
  out.detail = "peer did not return a certificate";
  EXPECT_EQ(apply_handshake_outcome(*conn, out), Verdict::Deny);
  EXPECT_EQ(conn->denied(), base::Reason::no_client_cert);
  EXPECT_FALSE(conn->identity);
  EXPECT_TRUE(conn->tls_version.empty());
  EXPECT_EQ(tls_counters(metrics), "no_client_cert=1");
}

/// One accepted loopback connection through the filter; `client_sends` is written first.
struct LoopbackRun {
  Verdict verdict = Verdict::Continue;
  std::unique_ptr<core::Connection> conn;
};

LoopbackRun run_filter(TlsIdentityTest& t, const std::string& client_sends) {
  auto options = tls::test::gateway_options(tls::Mode::required);
  options.handshake_timeout = std::chrono::milliseconds(200);
  tls::ContextError error;
  auto store = tls::ContextStore::create(options, error);
  EXPECT_TRUE(store) << error.to_string();
  if (!store) return {};
  tcp::acceptor acceptor(t.io, {asio::ip::address_v4::loopback(), 0});
  tcp::socket client(t.io);
  client.connect(acceptor.local_endpoint());
  if (!client_sends.empty()) asio::write(client, asio::buffer(client_sends));
  LoopbackRun run;
  run.conn = t.connection(acceptor.accept());
  TlsIdentityFilter filter(*store, options);
  auto verdict = asio::co_spawn(t.io, filter.on_accept(*run.conn), asio::use_future);
  t.io.run();
  run.verdict = verdict.get();
  return run;
}

TEST_F(TlsIdentityTest, AClientThatSendsNothingIsDeniedAtTheHandshakeTimeout) {
  auto run = run_filter(*this, "");
  ASSERT_TRUE(run.conn);
  EXPECT_EQ(run.verdict, Verdict::Deny);
  EXPECT_EQ(run.conn->denied(), base::Reason::handshake_timeout);
  EXPECT_EQ(run.conn->deny_detail(), "no TLS handshake within 200 ms");
  EXPECT_EQ(tls_counters(metrics), "handshake_timeout=1");
}

TEST_F(TlsIdentityTest, APlainTcpClientIsATlsHandshakeFailure) {
  auto run = run_filter(*this, "GET / HTTP/1.0\r\n\r\n");
  ASSERT_TRUE(run.conn);
  EXPECT_EQ(run.verdict, Verdict::Deny);
  EXPECT_EQ(run.conn->denied(), base::Reason::tls_handshake_failed);
  EXPECT_FALSE(run.conn->deny_detail().empty());
  EXPECT_FALSE(run.conn->identity);
  EXPECT_EQ(tls_counters(metrics), "tls_handshake_failed=1");
}

}  // namespace
}  // namespace egress::filters
