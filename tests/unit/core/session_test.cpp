// serve(), the session's decide-and-connect part, driven through the real chain of a listener
// with a fake connection (no sockets) and a fake audit log: what the audit records say, how the
// client's connection ends, whether an upstream connect was attempted, and the metrics.
#include "core/serve.hpp"

#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "base/asio_endpoint.hpp"
#include "core/connection.hpp"
#include "filters/fake_lookup.hpp"
#include "filters/original_dst.hpp"
#include "filters/policy_dir_fixture.hpp"
#include "filters/policy_filter.hpp"
#include "filters/tls_identity.hpp"
#include "peek/client_hellos.hpp"
#include "peek/connect_request.hpp"
#include "policy/policy.hpp"
#include "policy_source/directory.hpp"
#include "resolve/name_verifier.hpp"
#include "test_certs.hpp"
#include "tls/context_store.hpp"

namespace egress::core {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

/// A connection without sockets: answers what the chain asks with what the test put in, and
/// remembers the upstream connects and how the client's connection was ended.
class FakeConnection final : public SessionIo {
 public:
  explicit FakeConnection(asio::io_context& io) : timer_(io) {}

  filters::OriginalDstResult dst_answer;
  tls::HandshakeOutcome handshake_answer;
  int handshakes = 0;
  upstream::ConnectResult connect_answer;
  std::vector<base::Endpoint> connects;
  std::optional<base::Ending> ended;
  bool forced = false;
  std::string client_bytes;          ///< what peek() shows; the client has sent all it will
  upstream::DialResult dial_answer;  ///< connected: the first address by default
  std::vector<std::vector<base::Endpoint>> dials;  ///< each dial_upstream's addresses
  std::string written;                             ///< what write_client() wrote to the client
  bool wrote_last = false;                         ///< the last write ended the sending side

  // FilterContext
  filters::OriginalDstResult original_dst() override { return dst_answer; }
  asio::awaitable<tls::HandshakeOutcome> tls_handshake(const tls::ServerContext&,
                                                       std::chrono::milliseconds) override {
    ++handshakes;
    co_return handshake_answer;
  }
  asio::awaitable<filters::Peeked> peek(std::size_t, std::chrono::milliseconds) override {
    co_return filters::Peeked{std::string_view(client_bytes), true, false};
  }
  bool discard(std::size_t n) override {
    if (n > client_bytes.size()) return false;
    client_bytes.erase(0, n);
    return true;
  }

  // SessionIo
  asio::steady_timer& timer() noexcept override { return timer_; }
  bool client_bytes_waiting() noexcept override { return false; }
  asio::awaitable<upstream::ConnectResult> connect_upstream(
      const base::Endpoint& dst, const upstream::ConnectOptions&) override {
    connects.push_back(dst);
    co_return connect_answer;
  }
  asio::awaitable<upstream::DialResult> dial_upstream(std::span<const base::Endpoint> dsts,
                                                      const upstream::ConnectOptions&) override {
    dials.emplace_back(dsts.begin(), dsts.end());
    upstream::DialResult r = dial_answer;
    if (r.result.ok() && !r.connected) r.connected = dsts.front();
    co_return r;
  }
  asio::awaitable<bool> write_client(std::string_view bytes, bool last,
                                     std::chrono::milliseconds) override {
    if (wrote_last) ADD_FAILURE() << "a write after the last one";
    written += bytes;
    wrote_last = last;
    co_return true;
  }
  void end(base::Ending ending) noexcept override { ended = ending; }
  bool force_closed() const noexcept override { return forced; }

 private:
  asio::steady_timer timer_;
};

/// The name step's DNS: these policies have no hostname rule, so nothing is looked up; a lookup
/// fails the test (and still completes, as the contract asks).
class NoLookup final : public resolve::NameLookup {
 public:
  explicit NoLookup(asio::io_context& io) : io_(io) {}
  void lookup(const std::string& name, Callback done) override {
    ADD_FAILURE() << "looked up " << name;
    asio::post(io_, [done = std::move(done)] { done({resolve::Answer::Status::error, "", {}}); });
  }

 private:
  asio::io_context& io_;
};

/// An audit log that keeps the records and answers every submit with `answer`.
class FakeAuditLog final : public audit::AuditLog {
 public:
  std::vector<audit::Record> records;
  audit::WriteOutcome::Kind answer = audit::WriteOutcome::written;
  bool is_healthy = true;
  audit::Options opts;

  void submit(audit::Record record, audit::WrittenCallback on_written) override {
    records.push_back(std::move(record));
    if (on_written) on_written({answer});
  }
  bool healthy() const noexcept override { return is_healthy; }
  void reopen() override {}
  void close() override {}
  audit::Stats stats() const noexcept override { return {}; }
  const audit::Options& options() const noexcept override { return opts; }

  const audit::ConnectionDecision* decision() const {
    for (const auto& r : records)
      if (const auto* d = std::get_if<audit::ConnectionDecision>(&r.event)) return d;
    return nullptr;
  }
  const audit::ConnectionClose* close_record() const {
    for (const auto& r : records)
      if (const auto* c = std::get_if<audit::ConnectionClose>(&r.event)) return c;
    return nullptr;
  }
};

class SessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto r = policy_.store().reload();
    ASSERT_TRUE(r.errors.empty()) << r.errors[0].to_string();
    listener_.config.name = "egress";
  }

  /// Serves one connection from 192.0.2.2 to `dst` (none: no original destination) through
  /// `chain`.
  bool serve_one(filters::FilterChain& chain, const char* dst,
                 const filters::ListenerInfo* listener = nullptr) {
    if (dst != nullptr) {
      conn_.dst_answer.destination = *base::Endpoint::parse(dst);
    } else {
      conn_.dst_answer.error = ENOENT;
    }
    facts_.emplace(7, listener != nullptr ? *listener : listener_);
    facts_->src = *base::Endpoint::parse("192.0.2.2:40000");
    facts_->local = *base::Endpoint::parse("192.0.2.1:15001");
    const SessionServices services{chain, audit_, policy_.store(), metrics_.worker(0), upstream_};
    auto f = asio::co_spawn(io_, serve(*facts_, std::chrono::steady_clock::now(), conn_, services),
                            asio::use_future);
    io_.run();
    return f.get();
  }

  filters::FilterChain transparent_chain() {
    return filters::ChainFactory(listener_, {policy_.store(), guard_, limits_}).build(names_);
  }

  /// "egressd_connections_total{...} 1" lines of the listener, joined by spaces.
  std::string metric(const std::string& name) const {
    std::string out;
    const std::string text = metrics_.render({});
    for (auto pos = text.find(name + "{"); pos != std::string::npos;
         pos = text.find(name + "{", pos + 1)) {
      if (!out.empty()) out += " ";
      out += text.substr(pos + name.size(), text.find('\n', pos) - pos - name.size());
    }
    return out;
  }

  filters::testing::PolicyDir policy_{"session"};
  upstream::LoopGuard guard_{{*base::Endpoint::parse("0.0.0.0:15001")}};
  filters::ConnectionLimits limits_{1, {0, 0}};
  filters::ListenerInfo listener_;
  config::UpstreamConfig upstream_;
  asio::io_context io_;
  FakeConnection conn_{io_};
  NoLookup lookup_{io_};
  resolve::NameVerifier names_{lookup_, {}};
  FakeAuditLog audit_;
  Metrics metrics_{{"egress", "tls"}, 1};
  std::optional<filters::Facts> facts_;
};

TEST_F(SessionTest, AnAllowedConnectionIsRecordedThenConnected) {
  auto chain = transparent_chain();
  EXPECT_TRUE(serve_one(chain, "203.0.113.10:80")) << "the relay comes next";
  const auto* d = audit_.decision();
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->conn_id, 7u);
  EXPECT_EQ(d->listener, "egress");
  EXPECT_EQ(d->decision, "allow");
  EXPECT_EQ(d->reason, "rule");
  EXPECT_EQ(d->rule, "allow-web");
  EXPECT_EQ(d->policy_version, policy_.store().current()->version());
  ASSERT_EQ(conn_.connects.size(), 1u);
  EXPECT_EQ(conn_.connects[0].to_string(), "203.0.113.10:80");
  EXPECT_FALSE(conn_.ended);
  EXPECT_EQ(metric("egressd_connections_total"),
            R"({listener="egress",decision="allow",reason="rule"} 1)");
  EXPECT_EQ(limits_.pending(), 0u);
}

TEST_F(SessionTest, APolicyDenyIsRecordedAndResetWithoutAConnect) {
  auto chain = transparent_chain();
  EXPECT_FALSE(serve_one(chain, "203.0.113.66:80"));
  const auto* d = audit_.decision();
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->decision, "deny");
  EXPECT_EQ(d->reason, "rule");
  EXPECT_EQ(d->rule, "block-x");
  EXPECT_EQ(conn_.ended, base::Ending::reset);
  EXPECT_TRUE(conn_.connects.empty());
  EXPECT_EQ(audit_.records.size(), 1u) << "no close record for a denied connection";
  EXPECT_EQ(metric("egressd_connections_total"),
            R"({listener="egress",decision="deny",reason="rule"} 1)");
}

TEST_F(SessionTest, ATlsDenyEndsWithAFinAndCountsTheHandshake) {
  filters::ListenerInfo tls_listener{1, {}};
  tls_listener.config.name = "tls";
  tls_listener.config.tls = tls::test::gateway_options(tls::Mode::required);
  filters::ChainFactory factory(tls_listener, {policy_.store(), guard_, limits_});
  auto chain = factory.build(names_);
  conn_.handshake_answer.deny = tls::DenyReason::no_client_cert;
  conn_.handshake_answer.detail = "peer did not return a certificate";
  EXPECT_FALSE(serve_one(chain, "203.0.113.10:80", &tls_listener));
  EXPECT_EQ(conn_.handshakes, 1);
  const auto* d = audit_.decision();
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->listener, "tls");
  EXPECT_EQ(d->reason, "no_client_cert");
  EXPECT_EQ(d->detail, "peer did not return a certificate");
  EXPECT_EQ(d->policy_version, policy_.store().current()->version()) << "the running policy";
  EXPECT_EQ(conn_.ended, base::Ending::close) << "the alert is on the wire: FIN, not RST";
  EXPECT_TRUE(conn_.connects.empty());
  EXPECT_EQ(metric("egressd_tls_handshakes_total"),
            R"({listener="tls",result="no_client_cert"} 1)");
}

TEST_F(SessionTest, ATlsAllowCountsAnOkHandshake) {
  filters::ListenerInfo tls_listener{1, {}};
  tls_listener.config.name = "tls";
  tls_listener.config.tls = tls::test::gateway_options(tls::Mode::optional);
  filters::ChainFactory factory(tls_listener, {policy_.store(), guard_, limits_});
  auto chain = factory.build(names_);
  conn_.handshake_answer.tls_version = "TLSv1.3";
  EXPECT_TRUE(serve_one(chain, "203.0.113.10:80", &tls_listener));
  EXPECT_EQ(audit_.decision()->tls_version, "TLSv1.3");
  EXPECT_EQ(metric("egressd_tls_handshakes_total"), R"({listener="tls",result="ok"} 1)");
}

TEST_F(SessionTest, OverTheLimitTheRecordStillHasTheDestination) {
  base::Reason refused{};
  auto held = limits_.admit(0, *base::IpAddress::parse("192.0.2.9"), refused);
  ASSERT_TRUE(held.admitted());  // max_connections 1, taken
  auto chain = transparent_chain();
  EXPECT_FALSE(serve_one(chain, "203.0.113.10:80"));
  const auto* d = audit_.decision();
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->decision, "deny");
  EXPECT_EQ(d->reason, "over_limit");
  EXPECT_EQ(d->detail, "max_connections reached");
  ASSERT_TRUE(d->dst);
  EXPECT_EQ(d->dst->to_string(), "203.0.113.10:80");
  EXPECT_EQ(d->policy_version, policy_.store().current()->version());
  EXPECT_EQ(conn_.ended, base::Ending::reset);
  EXPECT_TRUE(conn_.connects.empty());
}

TEST_F(SessionTest, AFailedWriteAheadRecordMeansNoConnect) {
  audit_.answer = audit::WriteOutcome::failed;  // on_error: fail_closed (the default)
  auto chain = transparent_chain();
  EXPECT_FALSE(serve_one(chain, "203.0.113.10:80"));
  EXPECT_EQ(audit_.decision()->decision, "allow") << "the decision stands; it was not written";
  const auto* c = audit_.close_record();
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->reason, "audit_unavailable");
  EXPECT_EQ(c->closed_by, "gateway");
  EXPECT_EQ(c->detail, "decision record not written (audit.on_error: fail_closed)");
  EXPECT_TRUE(conn_.connects.empty());
  EXPECT_EQ(conn_.ended, base::Ending::reset);
  EXPECT_EQ(metric("egressd_connections_closed_total"),
            R"({listener="egress",reason="audit_unavailable"} 1)");
}

TEST_F(SessionTest, AnUnhealthyAuditLogDeniesWhenFailClosed) {
  audit_.is_healthy = false;
  auto chain = transparent_chain();
  EXPECT_FALSE(serve_one(chain, "203.0.113.10:80"));
  EXPECT_EQ(audit_.decision()->decision, "deny");
  EXPECT_EQ(audit_.decision()->reason, "audit_unavailable");
  EXPECT_TRUE(conn_.connects.empty());
}

TEST_F(SessionTest, AChainWithoutADeciderDenies) {
  filters::FilterChain chain;
  chain.add(std::make_unique<filters::OriginalDstFilter>(config::DestinationMode::original_dst));
  EXPECT_FALSE(serve_one(chain, "203.0.113.10:80"));
  const auto* d = audit_.decision();
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->decision, "deny");
  EXPECT_EQ(d->reason, "no_policy");
  EXPECT_EQ(d->detail, "no step of the chain decided");
  EXPECT_EQ(conn_.ended, base::Ending::reset);
  EXPECT_TRUE(conn_.connects.empty());
}

TEST_F(SessionTest, AnUpstreamRefusalIsTheUpstreamsClose) {
  conn_.connect_answer = {base::Reason::upstream_refused, "Connection refused"};
  auto chain = transparent_chain();
  EXPECT_FALSE(serve_one(chain, "203.0.113.10:80"));
  EXPECT_EQ(conn_.connects.size(), 1u);
  const auto* c = audit_.close_record();
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->reason, "upstream_refused");
  EXPECT_EQ(c->closed_by, "upstream");
  EXPECT_EQ(c->detail, "Connection refused");
  EXPECT_EQ(conn_.ended, base::Ending::reset);
}

// Behind a load balancer (issue 20, section 3): the decision record's src is the client the
// trusted PROXY header named, and proxy_src the balancer that sent it.
TEST_F(SessionTest, APROXYHeadersClientIsTheRecordsSrcAndTheBalancerItsProxySrc) {
  filters::ListenerInfo lb{0, {}};
  lb.config.name = "egress";
  lb.config.proxy_protocol.emplace().trusted = {*policy::parse_cidr("192.0.2.0/24").cidr};
  filters::ChainFactory factory(lb, {policy_.store(), guard_, limits_});
  auto chain = factory.build(names_);
  conn_.client_bytes = "PROXY TCP4 198.51.100.7 203.0.113.10 40000 80\r\nGET / HTTP/1.1\r\n\r\n";
  EXPECT_TRUE(serve_one(chain, "192.0.2.1:15001", &lb));
  const auto* d = audit_.decision();
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->src.to_string(), "198.51.100.7:40000");
  ASSERT_TRUE(d->proxy_src);
  EXPECT_EQ(d->proxy_src->to_string(), "192.0.2.2:40000");
  EXPECT_EQ(d->dst->to_string(), "203.0.113.10:80");
  ASSERT_EQ(conn_.connects.size(), 1u);
  EXPECT_EQ(conn_.connects[0].to_string(), "203.0.113.10:80") << "the header's destination";
  EXPECT_EQ(conn_.client_bytes, "GET / HTTP/1.1\r\n\r\n") << "the header never goes upstream";
}

// A balancer's health check (PROXY LOCAL) is no client connection: closed (FIN), no record, no
// decision counted, egressd_proxy_local_connections_total counted.
TEST_F(SessionTest, AProxyLocalHealthCheckIsClosedCountedAndNotAudited) {
  filters::ListenerInfo lb{0, {}};
  lb.config.name = "egress";
  lb.config.proxy_protocol.emplace().trusted = {*policy::parse_cidr("192.0.2.0/24").cidr};
  filters::ChainFactory factory(lb, {policy_.store(), guard_, limits_});
  auto chain = factory.build(names_);
  conn_.client_bytes = std::string("\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00", 16);
  EXPECT_FALSE(serve_one(chain, "192.0.2.1:15001", &lb));
  EXPECT_TRUE(audit_.records.empty()) << "no connection.decision record";
  EXPECT_EQ(conn_.ended, base::Ending::close);
  EXPECT_TRUE(conn_.connects.empty());
  EXPECT_EQ(metric("egressd_connections_total"), "");
  EXPECT_EQ(metric("egressd_proxy_local_connections_total"), R"({listener="egress"} 1)");
  EXPECT_EQ(limits_.pending(), 0u);
}

// --- CONNECT listeners (issue 20) ---------------------------------------------------------------

/// Stands in for the connect step: attaches what a CONNECT request asked for (and facts.dst), or
/// ends the chain with `outcome`.
class FakeConnectStep final : public filters::ConnectionFilter {
 public:
  std::optional<filters::ConnectFacts> connect;
  std::optional<base::Endpoint> dst;
  std::optional<base::Outcome> outcome;

  std::string_view name() const noexcept override { return "connect"; }
  asio::awaitable<std::optional<base::Outcome>> on_connection(filters::Facts& facts,
                                                              filters::FilterContext&) override {
    facts.connect = connect;
    if (dst) facts.dst = dst;
    co_return outcome;
  }
};

class ConnectSessionTest : public SessionTest {
 protected:
  ConnectSessionTest() {
    connect_listener_.config.name = "egress";
    connect_listener_.config.destination = config::DestinationMode::connect;
    connect_listener_.config.peek.timeout = std::chrono::milliseconds(1000);
    audit_.opts.instance_id = "run";
  }

  /// A CONNECT to `name` (empty: an IP literal) port 80 whose allowed answers are `dial`.
  void asks(std::string name, std::vector<const char*> dial) {
    filters::ConnectFacts c;
    c.name = std::move(name);
    c.port = 80;
    for (const char* a : dial) c.dial.push_back(*base::IpAddress::parse(a));
    step_->connect = c;
    if (!c.dial.empty()) step_->dst = base::Endpoint{c.dial.front(), 80};
  }

  bool serve_connect() {
    filters::FilterChain chain;
    auto step = std::make_unique<FakeConnectStep>(std::move(*step_));
    chain.add(std::move(step));
    chain.add(std::make_unique<filters::PolicyFilter>(policy_.store()));
    return serve_one(chain, nullptr, &connect_listener_);
  }

  /// The answer's body (after the head).
  std::string body() const {
    const auto at = conn_.written.find("\r\n\r\n");
    return at == std::string::npos ? "" : conn_.written.substr(at + 4);
  }

  filters::ListenerInfo connect_listener_;
  std::optional<FakeConnectStep> step_{std::in_place};
};

TEST_F(ConnectSessionTest, AnAllowedIpLiteralIsDialledThenAnswered200) {
  asks("", {"203.0.113.10"});
  EXPECT_TRUE(serve_connect()) << "the relay comes next";
  EXPECT_EQ(audit_.decision()->decision, "allow");
  ASSERT_EQ(conn_.dials.size(), 1u);
  ASSERT_EQ(conn_.dials[0].size(), 1u);
  EXPECT_EQ(conn_.dials[0][0].to_string(), "203.0.113.10:80");
  EXPECT_EQ(conn_.written,
            "HTTP/1.1 200 Connection established\r\nEgressd-Decision: run-7\r\n\r\n");
  EXPECT_FALSE(conn_.wrote_last);
  EXPECT_FALSE(conn_.ended);
  EXPECT_TRUE(conn_.connects.empty()) << "dialled, not connected to facts.dst alone";
}

TEST_F(ConnectSessionTest, APolicyDenyIsA403NamingTheRuleThenAFin) {
  asks("", {"203.0.113.66"});
  EXPECT_FALSE(serve_connect());
  EXPECT_EQ(audit_.decision()->rule, "block-x");
  EXPECT_EQ(conn_.written.rfind("HTTP/1.1 403 Forbidden\r\nEgressd-Decision: run-7\r\n", 0), 0u)
      << conn_.written;
  EXPECT_EQ(body(), "egressd: CONNECT 203.0.113.66:80 denied: rule 'block-x' (policy " +
                        policy_.store().current()->version() + ")\n");
  EXPECT_TRUE(conn_.wrote_last);
  EXPECT_EQ(conn_.ended, base::Ending::close) << "a FIN: an RST could discard the answer";
  EXPECT_TRUE(conn_.dials.empty());
  EXPECT_EQ(audit_.records.size(), 1u);
}

TEST_F(ConnectSessionTest, ARefusedRequestIsAnsweredWithItsStatusAndDetail) {
  filters::ConnectFacts c;
  c.status = 405;
  c.detail = "method GET is not CONNECT";
  step_->connect = c;
  step_->outcome = base::Outcome::denied(base::Reason::connect_request_invalid, c.detail);
  EXPECT_FALSE(serve_connect());
  EXPECT_EQ(audit_.decision()->reason, "connect_request_invalid");
  EXPECT_EQ(conn_.written.rfind("HTTP/1.1 405 Method Not Allowed\r\n", 0), 0u) << conn_.written;
  EXPECT_EQ(body(), "egressd: bad CONNECT request: method GET is not CONNECT\n");
  EXPECT_EQ(conn_.ended, base::Ending::close);
}

TEST_F(ConnectSessionTest, ARequestThatNeverEndsGetsNoAnswer) {
  step_->connect = filters::ConnectFacts{};
  step_->outcome =
      base::Outcome::denied(base::Reason::connect_request_timeout, "no CONNECT head in 10000 ms");
  EXPECT_FALSE(serve_connect());
  EXPECT_EQ(audit_.decision()->reason, "connect_request_timeout");
  EXPECT_EQ(conn_.written, "");
  EXPECT_EQ(conn_.ended, base::Ending::reset);
}

TEST_F(ConnectSessionTest, ADenyBeforeTheRequestWasReadGetsNoAnswer) {
  step_->outcome = base::Outcome::denied(base::Reason::over_limit, "max_connections reached");
  EXPECT_FALSE(serve_connect());
  EXPECT_EQ(conn_.written, "");
  EXPECT_EQ(conn_.ended, base::Ending::reset);
}

TEST_F(ConnectSessionTest, AFailedDialIs502Or504AndTheCloseRecord) {
  asks("", {"203.0.113.10"});
  conn_.dial_answer.result = {base::Reason::upstream_refused, "Connection refused"};
  EXPECT_FALSE(serve_connect());
  EXPECT_EQ(conn_.written.rfind("HTTP/1.1 502 Bad Gateway\r\nEgressd-Decision: run-7\r\n", 0), 0u)
      << conn_.written;
  EXPECT_EQ(body(),
            "egressd: CONNECT 203.0.113.10:80 failed: upstream_refused (Connection refused)\n");
  const auto* c = audit_.close_record();
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->reason, "upstream_refused");
  EXPECT_EQ(c->closed_by, "upstream");
  EXPECT_EQ(conn_.ended, base::Ending::close);
}

TEST_F(ConnectSessionTest, ADialTimeoutIs504) {
  asks("", {"203.0.113.10"});
  conn_.dial_answer.result = {base::Reason::upstream_timeout, "no answer within connect_timeout"};
  EXPECT_FALSE(serve_connect());
  EXPECT_EQ(conn_.written.rfind("HTTP/1.1 504 Gateway Timeout\r\n", 0), 0u) << conn_.written;
  EXPECT_EQ(audit_.close_record()->reason, "upstream_timeout");
  EXPECT_EQ(audit_.close_record()->closed_by, "gateway");
}

TEST_F(ConnectSessionTest, ANameDialsEveryAllowedAnswerAndTheTunnelGoesToTheOneConnected) {
  asks("api.example.com", {"203.0.113.10", "203.0.113.11"});
  conn_.dial_answer.connected = *base::Endpoint::parse("203.0.113.11:80");
  conn_.client_bytes = "GET / HTTP/1.1\r\nHost: API.Example.com.\r\n\r\n";
  EXPECT_TRUE(serve_connect());
  ASSERT_EQ(conn_.dials.size(), 1u);
  ASSERT_EQ(conn_.dials[0].size(), 2u);
  EXPECT_EQ(conn_.dials[0][0].to_string(), "203.0.113.10:80");
  EXPECT_EQ(conn_.dials[0][1].to_string(), "203.0.113.11:80");
  EXPECT_EQ(facts_->dst->to_string(), "203.0.113.11:80") << "the close record names it";
  EXPECT_EQ(conn_.written.rfind("HTTP/1.1 200 ", 0), 0u);
  EXPECT_FALSE(conn_.ended) << "the Host is the CONNECT name (case and trailing dot aside)";
}

TEST_F(ConnectSessionTest, AnotherHostInsideANamesTunnelIsAnSniMismatch) {
  asks("api.example.com", {"203.0.113.10"});
  conn_.client_bytes = "GET / HTTP/1.1\r\nHost: evil.example\r\n\r\n";
  EXPECT_FALSE(serve_connect());
  EXPECT_EQ(conn_.written.rfind("HTTP/1.1 200 ", 0), 0u) << "the name is read after the 200";
  const auto* c = audit_.close_record();
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->reason, "sni_mismatch");
  EXPECT_EQ(c->closed_by, "gateway");
  EXPECT_EQ(c->detail, "Host evil.example is not the CONNECT name api.example.com");
  EXPECT_EQ(conn_.ended, base::Ending::reset);
  EXPECT_EQ(metric("egressd_connections_closed_total"),
            R"({listener="egress",reason="sni_mismatch"} 1)");
}

TEST_F(ConnectSessionTest, AnotherSniInsideANamesTunnelIsAnSniMismatch) {
  asks("api.example.com", {"203.0.113.10"});
  const auto hello = peek::testing::openssl_client_hello({.sni = "other.example"});
  conn_.client_bytes.assign(hello.begin(), hello.end());
  EXPECT_FALSE(serve_connect());
  EXPECT_EQ(audit_.close_record()->reason, "sni_mismatch");
  EXPECT_EQ(audit_.close_record()->detail,
            "SNI other.example is not the CONNECT name api.example.com");
}

TEST_F(ConnectSessionTest, TheSameSniOrNoNameIsRelayed) {
  asks("api.example.com", {"203.0.113.10"});
  const auto hello = peek::testing::openssl_client_hello({.sni = "api.example.com"});
  conn_.client_bytes.assign(hello.begin(), hello.end());
  EXPECT_TRUE(serve_connect());
  EXPECT_EQ(audit_.close_record(), nullptr);

  conn_.written.clear();
  audit_.records.clear();
  step_.emplace();
  asks("api.example.com", {"203.0.113.10"});
  conn_.client_bytes = "SSH-2.0-OpenSSH_9.6\r\n";
  io_.restart();
  EXPECT_TRUE(serve_connect()) << "no name to compare: the tunnel is relayed";
}

TEST_F(ConnectSessionTest, AnUnreadableClientHelloInsideANamesTunnelIsClosed) {
  asks("api.example.com", {"203.0.113.10"});
  conn_.client_bytes = std::string("\x16\x03\x01\x00\x05\x02\x00\x00\x01\x00", 10);
  EXPECT_FALSE(serve_connect());
  EXPECT_EQ(audit_.close_record()->reason, "sni_mismatch");
  EXPECT_NE(audit_.close_record()->detail.find("client_hello_invalid"), std::string::npos)
      << audit_.close_record()->detail;
}

// --- a CONNECT listener over real loopback sockets
// -------------------------------------------------

/// The connect step's part the session relies on, over a real connection: reads the request with
/// peek, consumes exactly its head (discard), and attaches what it asked for; a name dials
/// 127.0.0.1.
class ReadingConnectStep final : public filters::ConnectionFilter {
 public:
  std::string_view name() const noexcept override { return "connect"; }
  asio::awaitable<std::optional<base::Outcome>> on_connection(
      filters::Facts& facts, filters::FilterContext& context) override {
    const filters::Peeked p = co_await context.peek(8192, std::chrono::milliseconds(2000));
    const auto r = peek::read_connect_request(
        {reinterpret_cast<const std::uint8_t*>(p.bytes.data()), p.bytes.size()});
    filters::ConnectFacts c;
    if (r.status != peek::PeekStatus::done) {
      c.status = r.status_code;
      c.detail = r.detail;
      facts.connect = c;
      co_return base::Outcome::denied(base::Reason::connect_request_invalid, r.detail);
    }
    EXPECT_TRUE(context.discard(r.length));
    c.name = r.name;
    c.port = r.port;
    c.dial = {r.address ? *r.address : *base::IpAddress::parse("127.0.0.1")};
    facts.dst = base::Endpoint{c.dial.front(), c.port};
    facts.connect = c;
    co_return std::nullopt;
  }
};

inline constexpr std::string_view kLoopbackPolicy = R"(kind: Settings
default: deny
---
kind: Rule
id: allow-loopback
action: allow
from: [{any: true}]
to: [{cidrs: [127.0.0.0/8]}]
)";

class ConnectLoopbackTest : public SessionTest {
 protected:
  void SetUp() override {
    SessionTest::SetUp();
    const auto r = loopback_policy_.store().reload();
    ASSERT_TRUE(r.errors.empty()) << r.errors[0].to_string();
    connect_listener_.config.name = "egress";
    connect_listener_.config.destination = config::DestinationMode::connect;
    connect_listener_.config.peek.timeout = std::chrono::milliseconds(1000);
    audit_.opts.instance_id = "run";
  }

  /// The client connects, sends `request`, and (with `end`) ends its stream; the gateway serves
  /// the accepted connection.
  /// Accepts the client's connection as a real Connection and serves it with `chain`; serve()'s
  /// result.
  bool serve_accepted(filters::FilterChain& chain) {
    conn_real_ = std::make_unique<Connection>(gateway_.accept(), 7, connect_listener_);
    conn_real_->facts.src = base::from_asio(client_.local_endpoint());
    conn_real_->facts.local = base::from_asio(gateway_.local_endpoint());
    const SessionServices services{chain, audit_, loopback_policy_.store(), metrics_.worker(0),
                                   upstream_};
    auto f = asio::co_spawn(
        io_, serve(conn_real_->facts, std::chrono::steady_clock::now(), *conn_real_, services),
        asio::use_future);
    io_.run();
    return f.get();
  }

  bool serve_real(const std::string& request, bool end) {
    client_.connect(gateway_.local_endpoint());
    asio::write(client_, asio::buffer(request));
    if (end) client_.shutdown(asio::ip::tcp::socket::shutdown_send);
    filters::FilterChain chain;
    chain.add(std::make_unique<ReadingConnectStep>());
    chain.add(std::make_unique<filters::PolicyFilter>(loopback_policy_.store()));
    return serve_accepted(chain);
  }

  /// What the client reads until the gateway's end (or `n` bytes).
  std::string client_reads(std::size_t n = 0) {
    std::string got;
    boost::system::error_code ec;
    if (n > 0) {
      got.resize(n);
      asio::read(client_, asio::buffer(got), ec);
    } else {
      asio::read(client_, asio::dynamic_buffer(got), ec);
      read_end_ = ec;
    }
    return got;
  }

  filters::testing::PolicyDir loopback_policy_{"connect-loopback", kLoopbackPolicy};
  filters::ListenerInfo connect_listener_;
  asio::ip::tcp::acceptor gateway_{io_, {asio::ip::address_v4::loopback(), 0}};
  asio::ip::tcp::acceptor upstream_server_{io_, {asio::ip::address_v4::loopback(), 0}};
  asio::ip::tcp::socket client_{io_};
  std::unique_ptr<Connection> conn_real_;
  boost::system::error_code read_end_;
};

TEST_F(ConnectLoopbackTest, TheTunnelOpensAfterThe200AndTheHeadNeverGoesUpstream) {
  const auto port = std::to_string(upstream_server_.local_endpoint().port());
  ASSERT_TRUE(serve_real(
      "CONNECT 127.0.0.1:" + port + " HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\n\r\nfirst bytes",
      false));
  EXPECT_EQ(client_reads(64),
            "HTTP/1.1 200 Connection established\r\nEgressd-Decision: run-7\r\n\r\n");
  auto upstream = upstream_server_.accept();
  EXPECT_EQ(base::from_asio(upstream.local_endpoint()).to_string(),
            conn_real_->facts.dst->to_string());
  // What the relay will read from the client: the tunnel's bytes, without the head.
  std::string rest(11, '\0');
  asio::read(conn_real_->socket(), asio::buffer(rest));
  EXPECT_EQ(rest, "first bytes");
  EXPECT_EQ(audit_.decision()->rule, "allow-loopback");
}

TEST_F(ConnectLoopbackTest, ARefusedDialIsA502ThenTheEnd) {
  asio::ip::tcp::acceptor closed(io_, {asio::ip::address_v4::loopback(), 0});
  const auto port = std::to_string(closed.local_endpoint().port());
  closed.close();
  EXPECT_FALSE(serve_real("CONNECT 127.0.0.1:" + port + " HTTP/1.1\r\n\r\n", true));
  const std::string got = client_reads();
  EXPECT_EQ(got.rfind("HTTP/1.1 502 Bad Gateway\r\nEgressd-Decision: run-7\r\n", 0), 0u) << got;
  EXPECT_NE(got.find("failed: upstream_refused (Connection refused)\n"), std::string::npos) << got;
  EXPECT_EQ(read_end_, asio::error::eof) << read_end_.message() << ": a FIN, not an RST";
  EXPECT_EQ(audit_.close_record()->reason, "upstream_refused");
}

TEST_F(ConnectLoopbackTest, ABadRequestIsAnsweredWithTheReadersStatus) {
  EXPECT_FALSE(serve_real("GET / HTTP/1.1\r\nHost: a.example\r\n\r\n", true));
  const std::string got = client_reads();
  EXPECT_EQ(got.rfind("HTTP/1.1 405 Method Not Allowed\r\n", 0), 0u) << got;
  EXPECT_EQ(read_end_, asio::error::eof) << read_end_.message();
}

TEST_F(ConnectLoopbackTest, AnotherHostInsideANamesTunnelResetsItWithNothingUpstream) {
  const auto port = std::to_string(upstream_server_.local_endpoint().port());
  EXPECT_FALSE(serve_real("CONNECT api.example.com:" + port +
                              " HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nHost: other.example\r\n\r\n",
                          false));
  EXPECT_EQ(client_reads(64).rfind("HTTP/1.1 200 ", 0), 0u);
  const auto* c = audit_.close_record();
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->reason, "sni_mismatch");
  EXPECT_EQ(c->detail, "Host other.example is not the CONNECT name api.example.com");
  auto upstream = upstream_server_.accept();
  std::string sent;
  boost::system::error_code ec;
  asio::read(upstream, asio::dynamic_buffer(sent), ec);
  EXPECT_EQ(sent, "") << "nothing went upstream";
}

// Over the client's mTLS session: the CONNECT head is read and discarded inside TLS, and the 403
// is written through the session, followed by close_notify (a clean end for an SSL client).
TEST_F(ConnectLoopbackTest, OverMutualTlsTheAnswerIsWrittenInsideTheSession) {
  tls::ContextError error;
  auto store = tls::ContextStore::create(tls::test::gateway_options(tls::Mode::required), error);
  ASSERT_TRUE(store) << error.to_string();
  client_.connect(gateway_.local_endpoint());
  std::promise<std::string> answer;
  std::thread peer([fd = client_.native_handle(), &answer] {
    tls::SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
    SSL_CTX_use_certificate_chain_file(ctx.get(),
                                       tls::test::cert_file("payments.pem").string().c_str());
    SSL_CTX_use_PrivateKey_file(ctx.get(), tls::test::cert_file("payments.key").string().c_str(),
                                SSL_FILETYPE_PEM);
    SSL* ssl = SSL_new(ctx.get());
    SSL_set_fd(ssl, fd);
    std::string got;
    if (SSL_connect(ssl) == 1) {
      const std::string req = "CONNECT 10.1.2.3:443 HTTP/1.1\r\n\r\n";
      SSL_write(ssl, req.data(), static_cast<int>(req.size()));
      char buf[512];
      int n = 0;
      while ((n = SSL_read(ssl, buf, sizeof buf)) > 0) got.append(buf, static_cast<std::size_t>(n));
      if (SSL_get_error(ssl, n) == SSL_ERROR_ZERO_RETURN) got += "<close_notify>";
    }
    SSL_free(ssl);
    answer.set_value(got);
  });
  filters::FilterChain chain;
  chain.add(std::make_unique<filters::TlsIdentityFilter>(*store));
  chain.add(std::make_unique<ReadingConnectStep>());
  chain.add(std::make_unique<filters::PolicyFilter>(loopback_policy_.store()));
  EXPECT_FALSE(serve_accepted(chain));
  conn_real_.reset();  // the client's read ends
  peer.join();
  const std::string got = answer.get_future().get();
  EXPECT_EQ(got.rfind("HTTP/1.1 403 Forbidden\r\nEgressd-Decision: run-7\r\n", 0), 0u) << got;
  EXPECT_NE(got.find("\r\n\r\negressd: CONNECT 10.1.2.3:443 denied: default"), std::string::npos)
      << got;
  EXPECT_NE(got.find("<close_notify>"), std::string::npos) << got;
  EXPECT_EQ(audit_.decision()->tls_version, "TLSv1.3");
}

// The real chain of a CONNECT listener (ChainFactory: connect step, loop guard, name, policy) over
// real sockets: the name is resolved, only its allowed address is dialled, the head never goes
// upstream, and the record carries the name, every address and the agent's conn_id.
TEST_F(ConnectLoopbackTest, TheRealChainDialsOnlyTheNamesAllowedAddress) {
  filters::testing::FakeLookup dns(io_);
  dns.answer("svc.example", {"192.0.2.1", "127.0.0.1"});
  resolve::NameVerifier names(dns, {});
  const auto port = std::to_string(upstream_server_.local_endpoint().port());
  client_.connect(gateway_.local_endpoint());
  asio::write(client_, asio::buffer("CONNECT svc.example:" + port +
                                    " HTTP/1.1\r\nEgressd-Agent-Conn: agent-9\r\n\r\nhello"));
  filters::ChainFactory factory(connect_listener_, {loopback_policy_.store(), guard_, limits_});
  filters::FilterChain chain = factory.build(names);
  EXPECT_EQ(chain.describe(), "admission,connect,loop_guard,name,policy");
  ASSERT_TRUE(serve_accepted(chain)) << "the relay comes next";
  EXPECT_EQ(client_reads(64),
            "HTTP/1.1 200 Connection established\r\nEgressd-Decision: run-7\r\n\r\n");
  auto upstream = upstream_server_.accept();
  EXPECT_EQ(conn_real_->facts.dst->to_string(), "127.0.0.1:" + port);
  std::string rest(5, '\0');
  asio::read(conn_real_->socket(), asio::buffer(rest));
  EXPECT_EQ(rest, "hello") << "the head was consumed";
  const auto* d = audit_.decision();
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->decision, "allow");
  EXPECT_EQ(d->rule, "allow-loopback");
  EXPECT_EQ(d->agent_conn, std::optional<std::string>("agent-9"));
  ASSERT_TRUE(d->name);
  EXPECT_EQ(d->name->host, "svc.example");
  EXPECT_EQ(d->name->source, audit::NameSource::connect);
  EXPECT_EQ(d->name->verified, audit::NameVerified::match);
  EXPECT_EQ(d->name->dns_answers.size(), 2u);
  EXPECT_EQ(d->detail, "1 of 2 addresses allowed; denied: 192.0.2.1 default");
  EXPECT_EQ(dns.asked, std::vector<std::string>{"svc.example"});
}

}  // namespace
}  // namespace egress::core
