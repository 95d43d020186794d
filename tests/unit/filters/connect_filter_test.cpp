#include "filters/connect_filter.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <string>
#include <vector>

#include "fake_context.hpp"
#include "fake_lookup.hpp"
#include "filters/chain.hpp"
#include "filters/name_filter.hpp"
#include "filters/policy_filter.hpp"
#include "peek/client_hellos.hpp"
#include "peek/connect_request.hpp"
#include "policy/policy.hpp"
#include "policy_dir_fixture.hpp"
#include "tls/test_certs.hpp"

// A `destination: connect` listener's chain up to the decision (issue 20): the CONNECT request
// read from a fake connection, its name resolved by a scripted DNS, and the real policy deciding
// each address as it decides a transparent connection's.

namespace egress::filters {
namespace {

using namespace std::chrono_literals;

/// deny_destinations 198.51.100.0/24; block-x denies 203.0.113.66; stripe allows
/// api.stripe.com:443 by name; web allows 203.0.113.0/24 and 2001:db8::/32 port 443 by address.
constexpr std::string_view kConnectPolicy = R"(kind: Settings
default: deny
deny_destinations: [198.51.100.0/24]
---
kind: Rule
id: block-x
action: deny
from: [{any: true}]
to: [{cidrs: [203.0.113.66/32]}]
---
kind: Rule
id: stripe
action: allow
from: [{any: true}]
to: [{hosts: [api.stripe.com], ports: [443]}]
---
kind: Rule
id: web
action: allow
from: [{any: true}]
to: [{cidrs: [203.0.113.0/24, "2001:db8::/32"], ports: [443]}]
)";

std::vector<std::string> strings(const std::vector<base::IpAddress>& addresses) {
  std::vector<std::string> out;
  for (const auto& a : addresses) out.push_back(a.to_string());
  return out;
}

std::string connect_head(const std::string& authority, const std::string& fields = "") {
  return "CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n" + fields + "\r\n";
}

class ConnectChainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto r = policy_.store().reload();
    ASSERT_TRUE(r.errors.empty()) << r.errors[0].to_string();
    listener_.config.name = "tunnel";
    listener_.config.destination = config::DestinationMode::connect;
    listener_.config.connect_request_timeout = 2s;
  }

  /// The listener's chain for a client 192.0.2.2 that sent `bytes` (and nothing after).
  base::Outcome run(const std::string& bytes) {
    context_.client_bytes = bytes;
    return run_chain();
  }
  base::Outcome run_chain() {
    facts_ = std::make_unique<Facts>(42, listener_);
    facts_->src = *base::Endpoint::parse("192.0.2.2:40000");
    if (preset_dst_) facts_->dst = preset_dst_;
    factory_ =
        std::make_unique<ChainFactory>(listener_, ChainServices{policy_.store(), guard_, limits_});
    chain_ = factory_->build(names_);
    auto f = boost::asio::co_spawn(io_, chain_.run(*facts_, context_), boost::asio::use_future);
    io_.restart();
    io_.run();
    return f.get();
  }

  testing::PolicyDir policy_{"connect-chain", kConnectPolicy};
  upstream::LoopGuard guard_{{*base::Endpoint::parse("0.0.0.0:15001")}};
  ConnectionLimits limits_{ConnectionLimits::Options{0, {0}, 0, 0, 128}};
  ListenerInfo listener_;
  std::unique_ptr<Facts> facts_;
  std::optional<base::Endpoint> preset_dst_;
  testing::FakeContext context_;
  boost::asio::io_context io_;
  testing::FakeLookup lookup_{io_};
  resolve::NameVerifier names_{lookup_, {}};
  std::unique_ptr<ChainFactory> factory_;
  FilterChain chain_;
};

TEST_F(ConnectChainTest, TheChainOfAConnectListener) {
  ChainFactory plain(listener_, {policy_.store(), guard_, limits_});
  EXPECT_EQ(plain.build(names_).describe(), "admission,connect,loop_guard,name,policy")
      << "no original_dst: the client names its destination";
  // Inside mTLS the request arrives over TLS: the handshake comes before the connect step.
  ListenerInfo tls_listener{1, listener_.config};
  tls_listener.config.tls = tls::test::gateway_options(tls::Mode::required);
  ChainFactory with_tls(tls_listener, {policy_.store(), guard_, limits_});
  EXPECT_EQ(with_tls.build(names_).describe(),
            "admission,tls_identity,connect,loop_guard,name,policy");
  ListenerInfo balanced{2, listener_.config};
  balanced.config.proxy_protocol = config::ProxyProtocolConfig{};
  ChainFactory behind_lb(balanced, {policy_.store(), guard_, limits_});
  EXPECT_EQ(behind_lb.build(names_).describe(),
            "proxy_protocol,admission,connect,loop_guard,name,policy");
}

TEST_F(ConnectChainTest, AnAllowedIpLiteralIsTheOneAddressToDial) {
  const std::string head = connect_head("203.0.113.10:443");
  const base::Outcome out = run(head + "tunnel bytes");
  EXPECT_TRUE(out.allow);
  EXPECT_EQ(out.reason, base::Reason::rule);
  EXPECT_EQ(facts_->decision->rule_id, "web");
  ASSERT_TRUE(facts_->connect);
  EXPECT_EQ(facts_->connect->name, "");
  EXPECT_EQ(facts_->connect->port, 443);
  EXPECT_EQ(strings(facts_->connect->dial), std::vector<std::string>{"203.0.113.10"});
  ASSERT_TRUE(facts_->dst);
  EXPECT_EQ(facts_->dst->to_string(), "203.0.113.10:443");
  // The head is the gateway's: consumed, so the upstream sees only the tunnel's bytes.
  EXPECT_EQ(context_.discards, std::vector<std::size_t>{head.size()});
  EXPECT_EQ(context_.client_bytes, "tunnel bytes");
  EXPECT_TRUE(lookup_.asked.empty());
}

TEST_F(ConnectChainTest, ADeniedIpLiteralIsDecidedByThePolicyAndDialsNothing) {
  const base::Outcome out = run(connect_head("203.0.113.66:443"));
  EXPECT_FALSE(out.allow);
  EXPECT_EQ(out.reason, base::Reason::rule);
  EXPECT_EQ(facts_->decision->rule_id, "block-x");
  EXPECT_EQ(out.ending, base::Ending::close) << "the 403 must reach the client";
  EXPECT_TRUE(facts_->connect->dial.empty());
  EXPECT_EQ(facts_->dst->to_string(), "203.0.113.66:443");
}

TEST_F(ConnectChainTest, AnIpLiteralToTheGatewayIsALoop) {
  const base::Outcome out = run(connect_head("0.0.0.0:443"));
  EXPECT_FALSE(out.allow);
  EXPECT_EQ(out.reason, base::Reason::loop);
  EXPECT_FALSE(facts_->decision);
}

TEST_F(ConnectChainTest, AnIpLiteralsTunnelIsReadForANameAsATransparentConnection) {
  // The agent pipelines the workload's ClientHello after its CONNECT head: the name step reads
  // it inside the tunnel before the decision (a hostname rule could match 203.0.113.10:443).
  lookup_.answer("api.stripe.com", {"203.0.113.10"});
  const std::string hello = [] {
    const auto b = peek::testing::openssl_client_hello({.sni = "api.stripe.com"});
    return std::string(b.begin(), b.end());
  }();
  const base::Outcome out = run(connect_head("203.0.113.10:443") + hello);
  EXPECT_TRUE(out.allow);
  EXPECT_EQ(facts_->decision->rule_id, "stripe");
  ASSERT_TRUE(facts_->name);
  EXPECT_EQ(facts_->name->source, NameSource::sni);
  EXPECT_EQ(facts_->name->host, "api.stripe.com");
  EXPECT_EQ(facts_->name->verified, policy::NameVerification::match);
  EXPECT_EQ(context_.client_bytes, hello) << "the ClientHello stays for the upstream";
}

TEST_F(ConnectChainTest, ANameWhoseAddressesAreAllAllowedDialsThemAllInTheResolversOrder) {
  lookup_.answer("api.stripe.com", {"2001:db8::10", "203.0.113.10"});
  // Behind a balancer the PROXY header's destination is the gateway: not where this goes.
  preset_dst_ = *base::Endpoint::parse("0.0.0.0:15001");
  const base::Outcome out = run(connect_head("API.Stripe.com.:443") + "\x16\x03\x01");
  EXPECT_TRUE(out.allow);
  EXPECT_EQ(out.reason, base::Reason::rule);
  EXPECT_EQ(out.detail, "");
  EXPECT_EQ(facts_->decision->rule_id, "stripe");
  EXPECT_EQ(facts_->connect->name, "api.stripe.com");
  EXPECT_EQ(strings(facts_->connect->dial),
            (std::vector<std::string>{"2001:db8::10", "203.0.113.10"}));
  EXPECT_EQ(facts_->dst->to_string(), "[2001:db8::10]:443");
  ASSERT_TRUE(facts_->name);
  EXPECT_EQ(facts_->name->host, "api.stripe.com");
  EXPECT_EQ(facts_->name->source, NameSource::connect);
  EXPECT_EQ(facts_->name->verified, policy::NameVerification::match);
  EXPECT_EQ(strings(facts_->name->dns_answers),
            (std::vector<std::string>{"2001:db8::10", "203.0.113.10"}));
  EXPECT_EQ(lookup_.asked, std::vector<std::string>{"api.stripe.com"});
  EXPECT_EQ(context_.peeks, 1) << "the name step does not peek for a CONNECT name";
}

TEST_F(ConnectChainTest, TheNameStepNeitherPeeksNorLooksUpForACONNECTName) {
  // Even with a destination set (as the session sets it once it has dialled one), a CONNECT
  // name is not read from the tunnel's bytes nor verified again: egressd resolved it itself.
  Facts facts(7, listener_);
  facts.src = *base::Endpoint::parse("192.0.2.2:40000");
  facts.dst = *base::Endpoint::parse("203.0.113.10:443");
  facts.connect.emplace().name = "api.stripe.com";
  facts.name.emplace().host = "api.stripe.com";
  facts.name->source = NameSource::connect;
  facts.name->verified = policy::NameVerification::match;
  context_.client_bytes = "\x16\x03\x01";
  NameFilter step(policy_.store(), names_, listener_.config.peek);
  EXPECT_FALSE(testing::run_on(io_, step.on_connection(facts, context_)));
  EXPECT_EQ(context_.peeks, 0);
  EXPECT_TRUE(lookup_.asked.empty());
  EXPECT_EQ(facts.name->source, NameSource::connect);
}

TEST_F(ConnectChainTest, SomeAddressesDeniedOnlyTheAllowedOnesAreDialled) {
  lookup_.answer("api.stripe.com", {"198.51.100.1", "203.0.113.66", "0.0.0.0", "203.0.113.10"});
  const base::Outcome out = run(connect_head("api.stripe.com:443"));
  EXPECT_TRUE(out.allow);
  EXPECT_EQ(facts_->decision->rule_id, "stripe");
  EXPECT_EQ(strings(facts_->connect->dial), std::vector<std::string>{"203.0.113.10"});
  EXPECT_EQ(facts_->dst->to_string(), "203.0.113.10:443");
  EXPECT_EQ(out.detail,
            "1 of 4 addresses allowed; denied: 198.51.100.1 deny_destination, 203.0.113.66 rule "
            "'block-x', 0.0.0.0 loop (the gateway)");
}

TEST_F(ConnectChainTest, NoAddressAllowedDeniesWithTheFirstAddresssDecision) {
  lookup_.answer("api.stripe.com", {"198.51.100.1", "203.0.113.66"});
  const base::Outcome out = run(connect_head("api.stripe.com:443"));
  EXPECT_FALSE(out.allow);
  EXPECT_EQ(out.reason, base::Reason::deny_destination);
  EXPECT_EQ(out.ending, base::Ending::close);
  EXPECT_EQ(out.detail,
            "no address of api.stripe.com allowed: 198.51.100.1 deny_destination, 203.0.113.66 "
            "rule 'block-x'");
  EXPECT_EQ(facts_->decision->reason, policy::Reason::deny_destination);
  EXPECT_TRUE(facts_->connect->dial.empty());
  EXPECT_EQ(facts_->dst->to_string(), "198.51.100.1:443") << "the record names the first";
}

TEST_F(ConnectChainTest, ANameThatIsOnlyTheGatewayIsALoop) {
  lookup_.answer("self.example", {"0.0.0.0"});
  const base::Outcome out = run(connect_head("self.example:443"));
  EXPECT_FALSE(out.allow);
  EXPECT_EQ(out.reason, base::Reason::loop);
  EXPECT_EQ(out.detail, "no address of self.example allowed: 0.0.0.0 loop (the gateway)");
  EXPECT_TRUE(facts_->connect->dial.empty());
}

TEST_F(ConnectChainTest, AnUnresolvedNameIsDeniedBeforeThePolicy) {
  const base::Outcome out = run(connect_head("gone.example:443"));
  EXPECT_FALSE(out.allow);
  EXPECT_EQ(out.reason, base::Reason::name_unresolved);
  EXPECT_EQ(out.detail, "DNS: NXDOMAIN");
  ASSERT_TRUE(facts_->name);
  EXPECT_EQ(facts_->name->source, NameSource::connect);
  EXPECT_EQ(facts_->name->verified, policy::NameVerification::unresolved);
  EXPECT_FALSE(facts_->dst);
  EXPECT_FALSE(facts_->decision);
}

TEST_F(ConnectChainTest, NumericIpv4SpellingsAreRefusedBeforeAnyLookup) {
  for (const char* target : {"127.1:443", "2130706433:443", "0x7f.0.0.1:443", "0177.0.0.1:443"}) {
    context_ = {};
    const base::Outcome out = run(std::string("CONNECT ") + target + " HTTP/1.1\r\n\r\n");
    EXPECT_FALSE(out.allow) << target;
    EXPECT_EQ(out.reason, base::Reason::connect_request_invalid) << target;
    EXPECT_EQ(facts_->connect->status, 400) << target;
    EXPECT_NE(facts_->connect->detail.find(target), std::string::npos)
        << target << ": " << facts_->connect->detail;
    EXPECT_EQ(out.detail, facts_->connect->detail);
    EXPECT_TRUE(context_.discards.empty()) << target;
  }
  EXPECT_TRUE(lookup_.asked.empty()) << "no DNS question for a refused request";
}

TEST_F(ConnectChainTest, AnotherMethodIs405) {
  const base::Outcome out =
      run("GET http://api.stripe.com/ HTTP/1.1\r\nHost: api.stripe.com\r\n\r\n");
  EXPECT_EQ(out.reason, base::Reason::connect_request_invalid);
  EXPECT_EQ(out.ending, base::Ending::close);
  EXPECT_EQ(facts_->connect->status, 405);
  EXPECT_FALSE(facts_->connect->detail.empty());
  EXPECT_TRUE(lookup_.asked.empty());
}

TEST_F(ConnectChainTest, AHeadOver8KiBIs431) {
  const base::Outcome out =
      run("CONNECT api.stripe.com:443 HTTP/1.1\r\nX-Pad: " + std::string(9000, 'a'));
  EXPECT_EQ(out.reason, base::Reason::connect_request_invalid);
  EXPECT_EQ(facts_->connect->status, 431);
  EXPECT_EQ(context_.peek_max, peek::kDefaultMaxConnectHead);
}

TEST_F(ConnectChainTest, AHeadNotEndedInTimeIsATimeoutWithNoAnswer) {
  context_.arrivals = {"CONNECT api.stripe.com:443 HTTP/1.1\r\n"};
  const base::Outcome out = run_chain();
  EXPECT_FALSE(out.allow);
  EXPECT_EQ(out.reason, base::Reason::connect_request_timeout);
  EXPECT_EQ(out.detail, "no complete CONNECT request within 2000 ms (37 bytes seen)");
  EXPECT_EQ(out.ending, base::Ending::close);
  EXPECT_FALSE(facts_->connect) << "nothing to answer";
  EXPECT_GT(context_.first_peek_deadline, 0ms);
  EXPECT_LE(context_.first_peek_deadline, 2000ms);
  EXPECT_TRUE(lookup_.asked.empty());
}

TEST_F(ConnectChainTest, AClientThatEndsInsideTheHeadIsRefused) {
  context_.client_done = true;
  const base::Outcome out = run("CONNECT api.stripe.com:443 HTTP/1.1\r\n");
  EXPECT_EQ(out.reason, base::Reason::connect_request_invalid);
  EXPECT_EQ(facts_->connect->status, 400);
  EXPECT_EQ(facts_->connect->detail,
            "the CONNECT request did not end within the 37 bytes the client sent");
}

TEST_F(ConnectChainTest, TheAgentsConnIdIsKept) {
  lookup_.answer("api.stripe.com", {"203.0.113.10"});
  const base::Outcome out =
      run(connect_head("api.stripe.com:443", "Egressd-Agent-Conn: 0a1b2c3d4e5f6789-42\r\n"));
  EXPECT_TRUE(out.allow);
  ASSERT_TRUE(facts_->connect->agent_conn);
  EXPECT_EQ(*facts_->connect->agent_conn, "0a1b2c3d4e5f6789-42");
}

TEST_F(ConnectChainTest, OverTlsTheHeadIsReadAfterTheHandshakeAndDiscarded) {
  listener_.config.tls = tls::test::gateway_options(tls::Mode::required);
  lookup_.answer("api.stripe.com", {"203.0.113.10"});
  context_.handshake_answer.tls_version = "TLSv1.3";
  context_.discard_over_tls = true;
  const std::string head = connect_head("api.stripe.com:443");
  const base::Outcome out = run(head);
  EXPECT_TRUE(out.allow) << base::to_string(out.reason) << " " << out.detail;
  EXPECT_EQ(context_.handshakes, 1);
  EXPECT_EQ(context_.bytes_at_handshake, head) << "nothing was read before the handshake";
  EXPECT_EQ(context_.discards, std::vector<std::size_t>{head.size()});
}

// The same address decided the same way whichever way it came: a transparent connection to it,
// a CONNECT to it as an IP literal, a CONNECT to a name that resolves to it (IPv4-mapped is the
// IPv4 address; NAT64 and 6to4 forms of a deny_destinations address are denied as it is).
TEST_F(ConnectChainTest, EveryFormOfAnAddressIsDecidedAsInTransparentMode) {
  struct Case {
    const char* address;
    bool allow;
    policy::Reason reason;
  };
  const Case cases[] = {
      {"203.0.113.10", true, policy::Reason::rule},
      {"::ffff:203.0.113.10", true, policy::Reason::rule},
      {"203.0.113.66", false, policy::Reason::rule},
      {"::ffff:203.0.113.66", false, policy::Reason::rule},
      {"198.51.100.1", false, policy::Reason::deny_destination},
      {"::ffff:198.51.100.1", false, policy::Reason::deny_destination},
      {"64:ff9b::198.51.100.1", false, policy::Reason::deny_destination},
      {"2002:c633:6401::1", false, policy::Reason::deny_destination},
      {"::ffff:0:198.51.100.1", false, policy::Reason::deny_destination},
      {"2001:db8::10", true, policy::Reason::rule},
      {"192.0.2.77", false, policy::Reason::default_action},
  };
  int n = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.address);
    const auto address = *base::IpAddress::parse(c.address);
    // Transparent: the policy step on a connection whose original destination is the address.
    ListenerInfo transparent;
    Facts plain(1, transparent);
    plain.src = *base::Endpoint::parse("192.0.2.2:40000");
    plain.dst = base::Endpoint{address, 443};
    const base::Outcome by_dst = PolicyFilter(policy_.store()).decide(plain);
    ASSERT_TRUE(plain.decision);
    EXPECT_EQ(by_dst.allow, c.allow);
    EXPECT_EQ(plain.decision->reason, c.reason);

    // CONNECT to the address as an IP literal.
    context_ = {};
    const std::string literal = std::string_view(c.address).find(':') != std::string_view::npos
                                    ? "[" + std::string(c.address) + "]:443"
                                    : std::string(c.address) + ":443";
    const base::Outcome by_literal = run(connect_head(literal));
    EXPECT_EQ(by_literal.allow, c.allow) << by_literal.detail;
    ASSERT_TRUE(facts_->decision);
    EXPECT_EQ(facts_->decision->reason, c.reason);
    EXPECT_EQ(facts_->decision->rule_id, plain.decision->rule_id);
    EXPECT_EQ(facts_->dst->address, address);

    // CONNECT to a name whose one address it is.
    context_ = {};
    const std::string name = "case" + std::to_string(n++) + ".example";
    lookup_.answer(name, {c.address});
    const base::Outcome by_name = run(connect_head(name + ":443"));
    EXPECT_EQ(by_name.allow, c.allow);
    ASSERT_TRUE(facts_->decision);
    EXPECT_EQ(facts_->decision->reason, c.reason);
    EXPECT_EQ(facts_->decision->rule_id, plain.decision->rule_id);
    EXPECT_EQ(facts_->dst->address, address);
    EXPECT_EQ(facts_->connect->dial.size(), c.allow ? 1u : 0u);
  }
}

}  // namespace
}  // namespace egress::filters
