// The proxy_protocol step (issue 20, section 3) with a fake context: from a trusted balancer the
// header is required, consumed, and names the client and destination; from anyone else a header is
// refused and other bytes pass untouched.
#include "filters/proxy_protocol.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "fake_context.hpp"
#include "fake_lookup.hpp"
#include "filters/chain.hpp"
#include "peek/proxy_header.hpp"
#include "policy/policy.hpp"
#include "policy_source/directory.hpp"
#include "tls/test_certs.hpp"

namespace egress::filters {
namespace {

using namespace std::chrono_literals;

const std::string kRequest = "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n";

/// A v2 header: `command_byte` 0x21 PROXY / 0x20 LOCAL, `family_byte` 0x11 TCP4, 0x21 TCP6,
/// 0x12 UDP4, 0x00 UNSPEC; `addresses` the address block as the spec lays it out.
std::string v2(std::uint8_t command_byte, std::uint8_t family_byte,
               const std::vector<std::uint8_t>& addresses) {
  std::string h(reinterpret_cast<const char*>(peek::kProxyV2Signature), 12);
  h += static_cast<char>(command_byte);
  h += static_cast<char>(family_byte);
  h += static_cast<char>(addresses.size() >> 8);
  h += static_cast<char>(addresses.size() & 0xff);
  h.append(addresses.begin(), addresses.end());
  return h;
}

/// 198.51.100.7:40000 → 203.0.113.10:80 over TCP4.
std::vector<std::uint8_t> tcp4_block() {
  return {198, 51, 100, 7, 203, 0, 113, 10, 0x9c, 0x40, 0x00, 0x50};
}

class ProxyProtocolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.trusted = {*policy::parse_cidr("192.0.2.48/29").cidr,
                       *policy::parse_cidr("2001:db8:1::50").cidr};
    facts_.src = *base::Endpoint::parse("192.0.2.50:51000");  // the balancer
    context_.client_done = true;
  }
  std::optional<base::Outcome> run() {
    ProxyProtocolFilter f(config_, 200ms, 16 * 1024);
    return testing::run(f.on_connection(facts_, context_));
  }

  config::ProxyProtocolConfig config_;
  ListenerInfo listener_;
  Facts facts_{7, listener_};
  testing::FakeContext context_;
};

TEST_F(ProxyProtocolTest, ATrustedV1HeaderNamesTheClientAndDestinationAndIsConsumed) {
  const std::string header = "PROXY TCP4 198.51.100.7 203.0.113.10 40000 80\r\n";
  context_.client_bytes = header + kRequest;
  EXPECT_FALSE(run()) << "passes on to the next step";
  EXPECT_EQ(facts_.src.to_string(), "198.51.100.7:40000");
  ASSERT_TRUE(facts_.proxied_by);
  EXPECT_EQ(facts_.proxied_by->to_string(), "192.0.2.50:51000");
  ASSERT_TRUE(facts_.dst);
  EXPECT_EQ(facts_.dst->to_string(), "203.0.113.10:80");
  EXPECT_EQ(context_.discards, std::vector<std::size_t>{header.size()});
  EXPECT_EQ(context_.client_bytes, kRequest) << "the client's own bytes are all that is left";
}

TEST_F(ProxyProtocolTest, ATrustedV2HeaderOverIpv6NamesTheClient) {
  facts_.src = *base::Endpoint::parse("[2001:db8:1::50]:51000");
  std::vector<std::uint8_t> block = {0x20, 0x01, 0x0d, 0xb8, 0,    3,   0, 0, 0, 0, 0, 0, 0, 0, 0,
                                     7,    0x20, 0x01, 0x0d, 0xb8, 0,   2, 0, 0, 0, 0, 0, 0, 0, 0,
                                     0,    0x10, 0x9c, 0x40, 0x01, 0xbb};
  const std::string header = v2(0x21, 0x21, block);
  context_.client_bytes = header + kRequest;
  EXPECT_FALSE(run());
  EXPECT_EQ(facts_.src.to_string(), "[2001:db8:3::7]:40000");
  EXPECT_EQ(facts_.proxied_by->to_string(), "[2001:db8:1::50]:51000");
  EXPECT_EQ(facts_.dst->to_string(), "[2001:db8:2::10]:443");
  EXPECT_EQ(context_.client_bytes, kRequest);
}

TEST_F(ProxyProtocolTest, AnUntrustedSourceCannotClaimAnotherSource) {
  facts_.src = *base::Endpoint::parse("192.0.2.2:40000");
  for (const std::string& header :
       {std::string("PROXY TCP4 198.51.100.7 203.0.113.10 40000 80\r\n"),
        v2(0x21, 0x11, tcp4_block()),
        // Malformed after its signature: still a header, still refused.
        std::string("PROXY TCP4 198.51.100.07 203.0.113.10 40000 80\r\n")}) {
    context_.client_bytes = header + kRequest;
    context_.discards.clear();
    const auto out = run();
    ASSERT_TRUE(out) << header;
    EXPECT_FALSE(out->allow);
    EXPECT_EQ(out->reason, base::Reason::proxy_header_untrusted);
    EXPECT_NE(out->detail.find("192.0.2.2, which is not in proxy_protocol.trusted"),
              std::string::npos)
        << out->detail;
    EXPECT_EQ(out->ending, base::Ending::reset);
    EXPECT_EQ(facts_.src.to_string(), "192.0.2.2:40000") << "the claim changed nothing";
    EXPECT_FALSE(facts_.proxied_by);
    EXPECT_TRUE(context_.discards.empty());
  }
}

TEST_F(ProxyProtocolTest, AnUntrustedSourceWithoutAHeaderPassesUntouched) {
  facts_.src = *base::Endpoint::parse("192.0.2.2:40000");
  // "POST" shares its first letter with "PROXY": the step looks until the bytes depart from it.
  for (const std::string& bytes : {std::string("\x16\x03\x01\x00\x05hello", 10),
                                   std::string("POST / HTTP/1.1\r\n\r\n"), std::string()}) {
    context_.client_bytes = bytes;
    context_.discards.clear();
    EXPECT_FALSE(run());
    EXPECT_EQ(facts_.src.to_string(), "192.0.2.2:40000");
    EXPECT_FALSE(facts_.proxied_by);
    EXPECT_FALSE(facts_.dst) << "the original_dst step asks the kernel as usual";
    EXPECT_EQ(context_.client_bytes, bytes) << "nothing consumed";
    EXPECT_EQ(context_.discards, std::vector<std::size_t>{0}) << "the next peek starts afresh";
  }
}

TEST_F(ProxyProtocolTest, ATrustedSourceWithoutAHeaderIsDenied) {
  context_.client_bytes = kRequest;
  auto out = run();
  ASSERT_TRUE(out);
  EXPECT_EQ(out->reason, base::Reason::proxy_header_invalid);
  EXPECT_EQ(out->detail,
            "no PROXY header from trusted 192.0.2.50:51000: the stream starts with other bytes");
  EXPECT_EQ(facts_.src.to_string(), "192.0.2.50:51000");

  context_.client_bytes.clear();  // the balancer closed without a byte
  out = run();
  ASSERT_TRUE(out);
  EXPECT_EQ(out->reason, base::Reason::proxy_header_invalid);
  EXPECT_EQ(out->detail,
            "no PROXY header from trusted 192.0.2.50:51000: the connection ended before any byte");

  context_.client_bytes = "PROXY TCP4 198.51";  // cut short
  out = run();
  ASSERT_TRUE(out);
  EXPECT_EQ(out->reason, base::Reason::proxy_header_invalid);
  EXPECT_EQ(out->detail,
            "no PROXY header from trusted 192.0.2.50:51000: the connection ended inside the "
            "PROXY header (17 bytes)");
  EXPECT_TRUE(context_.discards.empty());
}

// The wait is bounded by the listener's peek.timeout: a balancer sends its header at once.
TEST_F(ProxyProtocolTest, ATrustedSourceThatSendsNothingIsDeniedAtTheDeadline) {
  context_.client_done = false;  // the fake's wait ends in the deadline
  context_.arrivals = {"PROXY TCP4 "};
  const auto out = run();
  ASSERT_TRUE(out);
  EXPECT_EQ(out->reason, base::Reason::proxy_header_invalid);
  EXPECT_EQ(out->detail,
            "no PROXY header from trusted 192.0.2.50:51000: no complete PROXY header within 200 "
            "ms (11 bytes)");
  EXPECT_LE(context_.first_peek_deadline, 200ms);
  EXPECT_GT(context_.first_peek_deadline, 100ms);
}

// A silent direct client (a server-first protocol) is decided without a header at the deadline.
TEST_F(ProxyProtocolTest, AnUntrustedSilentClientPassesAtTheDeadline) {
  facts_.src = *base::Endpoint::parse("192.0.2.2:40000");
  context_.client_done = false;
  EXPECT_FALSE(run());
  EXPECT_EQ(facts_.src.to_string(), "192.0.2.2:40000");
  EXPECT_EQ(context_.discards, std::vector<std::size_t>{0});
}

// The start of a signature that stops before the deadline is refused: let through, the rest of
// the header could follow and reach an upstream that trusts this gateway's PROXY headers.
TEST_F(ProxyProtocolTest, AnUntrustedPartialSignatureIsRefusedAtTheDeadline) {
  facts_.src = *base::Endpoint::parse("192.0.2.2:40000");
  context_.client_done = false;
  context_.arrivals = {"PROX"};
  const auto out = run();
  ASSERT_TRUE(out);
  EXPECT_EQ(out->reason, base::Reason::proxy_header_untrusted);
  EXPECT_EQ(out->detail,
            "the start of a PROXY header from 192.0.2.2, which is not in proxy_protocol.trusted");
  EXPECT_TRUE(context_.discards.empty());
}

TEST_F(ProxyProtocolTest, AMalformedTrustedHeaderIsDeniedWithTheReadersDetail) {
  context_.client_bytes = "PROXY TCP4 198.51.100.7 203.0.113.10 40000 080\r\n" + kRequest;
  const auto out = run();
  ASSERT_TRUE(out);
  EXPECT_EQ(out->reason, base::Reason::proxy_header_invalid);
  EXPECT_NE(out->detail.find("leading zero"), std::string::npos) << out->detail;
}

TEST_F(ProxyProtocolTest, LocalIsAHealthCheckClosedWithoutADecision) {
  const std::string header = v2(0x20, 0x00, {});
  context_.client_bytes = header;
  const auto out = run();
  ASSERT_TRUE(out);
  EXPECT_FALSE(out->allow);
  EXPECT_EQ(out->reason, base::Reason::proxy_local);
  EXPECT_FALSE(base::is_decision_reason(out->reason)) << "no connection.decision record";
  EXPECT_EQ(out->ending, base::Ending::close) << "a FIN, as a TCP health check expects";
  EXPECT_EQ(context_.discards, std::vector<std::size_t>{header.size()});
  EXPECT_FALSE(facts_.proxied_by);
}

TEST_F(ProxyProtocolTest, ProxyOverAnotherTransportThanTcpIsDenied) {
  for (const std::string& header : {v2(0x21, 0x12, tcp4_block()),  // UDP4
                                    v2(0x21, 0x00, {}),            // UNSPEC
                                    std::string("PROXY UNKNOWN\r\n")}) {
    context_.client_bytes = header + kRequest;
    const auto out = run();
    ASSERT_TRUE(out);
    EXPECT_EQ(out->reason, base::Reason::proxy_transport_unsupported);
    EXPECT_NE(out->detail.find("egressd relays TCP only"), std::string::npos) << out->detail;
    EXPECT_EQ(facts_.src.to_string(), "192.0.2.50:51000");
  }
}

// The chain of a listener with proxy_protocol: the step comes first, the original_dst step keeps
// the header's destination, and a TLS listener's handshake sees the stream after the header.
class ProxyProtocolChainTest : public ProxyProtocolTest {
 protected:
  void SetUp() override {
    ProxyProtocolTest::SetUp();
    dir_ = std::filesystem::temp_directory_path() / ("egress-pp-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "policy.yaml") << R"(kind: Settings
default: deny
---
kind: Rule
id: allow-client
action: allow
from: [{source: 198.51.100.7/32}]
to: [{cidrs: [203.0.113.0/24], ports: [80]}]
)";
    store_ = std::make_unique<policy::PolicyStore>(dir_, policy_source::directory_loader(dir_));
    const auto r = store_->reload();
    ASSERT_TRUE(r.errors.empty()) << r.errors[0].to_string();
    info_.config.name = "lb";
    info_.config.proxy_protocol = config_;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  base::Outcome run_chain(const ChainFactory& factory) {
    auto chain = factory.build(names_);
    Facts facts(9, info_);
    facts.src = *base::Endpoint::parse("192.0.2.50:51000");
    auto out = testing::run(chain.run(facts, context_));
    src_ = facts.src.to_string();
    dst_ = facts.dst ? facts.dst->to_string() : "";
    return out;
  }

  std::filesystem::path dir_;
  std::unique_ptr<policy::PolicyStore> store_;
  upstream::LoopGuard guard_{{*base::Endpoint::parse("0.0.0.0:15001")}};
  ConnectionLimits limits_{ConnectionLimits::Options{0, {0}, 0, 0, 128}};
  ListenerInfo info_;
  std::string src_, dst_;
  boost::asio::io_context io_;  // the lookups' (none: this policy has no hostname rule)
  testing::FakeLookup lookup_{io_};
  resolve::NameVerifier names_{lookup_, {}};
};

TEST_F(ProxyProtocolChainTest, TheHeadersClientAndDestinationDecide) {
  ChainFactory factory(info_, {*store_, guard_, limits_});
  EXPECT_EQ(factory.build(names_).describe(),
            "proxy_protocol,original_dst,admission,loop_guard,name,policy");
  context_.dst_answer.destination = *base::Endpoint::parse("192.0.2.1:15001");  // the LB's own
  context_.client_bytes = "PROXY TCP4 198.51.100.7 203.0.113.10 40000 80\r\n" + kRequest;
  const auto out = run_chain(factory);
  EXPECT_TRUE(out.allow) << base::to_string(out.reason) << " " << out.detail;
  EXPECT_EQ(src_, "198.51.100.7:40000") << "a rule on the client's source matched";
  EXPECT_EQ(dst_, "203.0.113.10:80");
  EXPECT_EQ(context_.original_dst_calls, 0) << "SO_ORIGINAL_DST is not consulted";
}

TEST_F(ProxyProtocolChainTest, TheLoopGuardStillAppliesToTheHeadersDestination) {
  ChainFactory factory(info_, {*store_, guard_, limits_});
  context_.client_bytes = "PROXY TCP4 198.51.100.7 0.0.0.0 40000 80\r\n" + kRequest;
  const auto out = run_chain(factory);
  EXPECT_FALSE(out.allow);
  EXPECT_EQ(out.reason, base::Reason::loop);
}

TEST_F(ProxyProtocolChainTest, ATlsListenerHandshakesAfterTheHeader) {
  info_.config.tls = tls::test::gateway_options(tls::Mode::optional);
  ChainFactory factory(info_, {*store_, guard_, limits_});
  EXPECT_EQ(factory.build(names_).describe(),
            "proxy_protocol,original_dst,admission,loop_guard,tls_identity,name,policy");
  const std::string client_hello("\x16\x03\x01\x00\x05hello", 10);
  context_.client_bytes = v2(0x21, 0x11, tcp4_block()) + client_hello;
  context_.handshake_answer.tls_version = "TLSv1.3";
  const auto out = run_chain(factory);
  EXPECT_TRUE(out.allow) << base::to_string(out.reason) << " " << out.detail;
  EXPECT_EQ(context_.handshakes, 1);
  EXPECT_EQ(context_.bytes_at_handshake, client_hello) << "the handshake reads no header byte";
  EXPECT_EQ(src_, "198.51.100.7:40000");
  EXPECT_EQ(dst_, "203.0.113.10:80");
}

TEST_F(ProxyProtocolChainTest, AListenerWithoutProxyProtocolHasNoSuchStep) {
  info_.config.proxy_protocol.reset();
  ChainFactory factory(info_, {*store_, guard_, limits_});
  EXPECT_EQ(factory.build(names_).describe(), "original_dst,admission,loop_guard,name,policy");
}

}  // namespace
}  // namespace egress::filters
