#include "filters/name_filter.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "fake_context.hpp"
#include "fake_lookup.hpp"
#include "filters/policy_filter.hpp"
#include "peek/client_hellos.hpp"
#include "policy/policy.hpp"
#include "policy_source/directory.hpp"

// The name step between a fake connection (its first bytes) and a scripted DNS, followed by the
// real policy step: what it waits for, what it finds, how it is verified, and how the policy
// decides on it (issue 19).

namespace egress::filters {
namespace {

using namespace std::chrono_literals;
using peek::testing::Bytes;

constexpr std::uint16_t kSni = 0x0000;
constexpr std::uint16_t kEch = 0xfe0d;

std::string text(const Bytes& b) {
  return {b.begin(), b.end()};
}

std::string client_hello(const std::string& sni) {
  return text(peek::testing::openssl_client_hello({.sni = sni}));
}

std::vector<std::string> strings(const std::vector<base::IpAddress>& addresses) {
  std::vector<std::string> out;
  for (const auto& a : addresses) out.push_back(a.to_string());
  return out;
}

class NameFilterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("egress-name-filter-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    write_policy("strict");
    listener_.config.name = "egress";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void write_policy(const std::string& verification) {
    std::ofstream(dir_ / "policy.yaml")
        << "kind: Settings\ndefault: deny\nhost_verification: " << verification << R"(
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
to: [{hosts: [www.example.com], ports: [80]}]
---
kind: Rule
id: ssh-by-address
action: allow
from: [{any: true}]
to: [{cidrs: [203.0.113.22/32], ports: [22]}]
)";
    store_ = std::make_unique<policy::PolicyStore>(dir_, policy_source::directory_loader(dir_));
    const auto r = store_->reload();
    ASSERT_TRUE(r.errors.empty()) << r.errors[0].to_string();
  }

  /// The name step, then (when it passes on) the policy step, for 192.0.2.2 → `dst`.
  base::Outcome decide(const char* dst) {
    facts_ = std::make_unique<Facts>(42, listener_);
    facts_->src = *base::Endpoint::parse("192.0.2.2:40000");
    facts_->dst = *base::Endpoint::parse(dst);
    NameFilter name(*store_, names_, listener_.config.peek);
    PolicyFilter policy(*store_);
    auto steps = [&]() -> boost::asio::awaitable<base::Outcome> {
      auto out = co_await name.on_connection(*facts_, context_);
      if (out) co_return std::move(*out);
      co_return std::move(*co_await policy.on_connection(*facts_, context_));
    };
    auto f = boost::asio::co_spawn(io_, steps(), boost::asio::use_future);
    io_.restart();
    io_.run();
    return f.get();
  }

  std::filesystem::path dir_;
  std::unique_ptr<policy::PolicyStore> store_;
  ListenerInfo listener_;
  std::unique_ptr<Facts> facts_;
  testing::FakeContext context_;
  boost::asio::io_context io_;
  testing::FakeLookup lookup_{io_};
  resolve::NameVerifier names_{lookup_, {}};
};

TEST_F(NameFilterTest, NoHostnameRuleCanMatchSoNothingIsAwaited) {
  // A server-first protocol to a CIDR-allowed destination: the client sends nothing.
  const base::Outcome out = decide("203.0.113.22:22");
  EXPECT_TRUE(out.allow);
  EXPECT_EQ(out.reason, base::Reason::rule);
  EXPECT_EQ(facts_->decision->rule_id, "ssh-by-address");
  EXPECT_EQ(context_.peeks, 0) << "no wait for bytes";
  EXPECT_FALSE(facts_->name) << "the step did not run: no name fields in the record";
  EXPECT_TRUE(lookup_.asked.empty());
}

TEST_F(NameFilterTest, AVerifiedSniAllows) {
  lookup_.answer("api.stripe.com", {"203.0.113.50", "203.0.113.51"});
  context_.client_bytes = client_hello("api.stripe.com");
  const base::Outcome out = decide("203.0.113.50:443");
  EXPECT_TRUE(out.allow);
  EXPECT_EQ(facts_->decision->rule_id, "stripe");
  EXPECT_TRUE(facts_->decision->name_used);
  ASSERT_TRUE(facts_->name);
  EXPECT_EQ(facts_->name->host, "api.stripe.com");
  EXPECT_EQ(facts_->name->source, NameSource::sni);
  EXPECT_EQ(facts_->name->verified, policy::NameVerification::match);
  EXPECT_EQ(strings(facts_->name->dns_answers),
            (std::vector<std::string>{"203.0.113.50", "203.0.113.51"}));
  EXPECT_FALSE(facts_->name->ech);
  EXPECT_EQ(lookup_.asked, std::vector<std::string>{"api.stripe.com"});
  EXPECT_EQ(context_.first_peek_deadline, 1000ms) << "peek.timeout's default";
  EXPECT_EQ(context_.peek_max, 16384u) << "peek.max_bytes' default";
}

TEST_F(NameFilterTest, ANameNoRuleAllowsIsDeniedByDefault) {
  lookup_.answer("other.example.org", {"203.0.113.50"});
  context_.client_bytes = client_hello("other.example.org");
  const base::Outcome out = decide("203.0.113.50:443");
  EXPECT_FALSE(out.allow);
  EXPECT_EQ(out.reason, base::Reason::default_action);
  ASSERT_TRUE(facts_->name);
  EXPECT_EQ(facts_->name->host, "other.example.org");
  EXPECT_EQ(facts_->name->verified, policy::NameVerification::match);
}

TEST_F(NameFilterTest, ASpoofedSniIsDeniedNameMismatch) {
  lookup_.answer("api.stripe.com", {"203.0.113.50"});
  context_.client_bytes = client_hello("api.stripe.com");
  const base::Outcome out = decide("203.0.113.99:443");
  EXPECT_FALSE(out.allow);
  EXPECT_EQ(out.reason, base::Reason::name_mismatch);
  ASSERT_TRUE(facts_->name);
  EXPECT_EQ(facts_->name->verified, policy::NameVerification::mismatch);
  EXPECT_EQ(strings(facts_->name->dns_answers), std::vector<std::string>{"203.0.113.50"});
}

TEST_F(NameFilterTest, ANameThatDoesNotResolveIsDeniedNameUnresolved) {
  lookup_.fail("api.stripe.com", resolve::Answer::Status::servfail, "SERVFAIL");
  context_.client_bytes = client_hello("api.stripe.com");
  const base::Outcome out = decide("203.0.113.50:443");
  EXPECT_FALSE(out.allow);
  EXPECT_EQ(out.reason, base::Reason::name_unresolved);
  ASSERT_TRUE(facts_->name);
  EXPECT_EQ(facts_->name->verified, policy::NameVerification::unresolved);
  EXPECT_EQ(facts_->name->detail, "DNS: SERVFAIL");
  EXPECT_TRUE(facts_->name->dns_answers.empty());
}

TEST_F(NameFilterTest, EchIsRecordedAndTheOuterNameDecides) {
  lookup_.answer("api.stripe.com", {"203.0.113.50"});
  auto hello = peek::testing::parse_hello(
      peek::testing::handshake_of(peek::testing::openssl_client_hello({.sni = "api.stripe.com"})));
  hello.extensions.emplace_back(kEch, Bytes{0, 0, 1, 0, 1, 0x42, 0, 32, 1, 2, 3});
  context_.client_bytes = text(peek::testing::frame(hello.message(), 16384));
  const base::Outcome out = decide("203.0.113.50:443");
  EXPECT_TRUE(out.allow);
  ASSERT_TRUE(facts_->name);
  EXPECT_TRUE(facts_->name->ech);
  EXPECT_EQ(facts_->name->host, "api.stripe.com");
}

TEST_F(NameFilterTest, AClientHelloInSegmentsIsReassembled) {
  lookup_.answer("api.stripe.com", {"203.0.113.50"});
  const std::string hello = text(peek::testing::frame_in(
      peek::testing::handshake_of(peek::testing::openssl_client_hello({.sni = "api.stripe.com"})),
      3));
  const std::size_t third = hello.size() / 3;
  context_.arrivals = {hello.substr(0, 1), hello.substr(1, third), hello.substr(1 + third)};
  const base::Outcome out = decide("203.0.113.50:443");
  EXPECT_TRUE(out.allow) << out.detail;
  EXPECT_EQ(context_.peeks, 3);
  ASSERT_TRUE(facts_->name);
  EXPECT_EQ(facts_->name->source, NameSource::sni);
}

TEST_F(NameFilterTest, AnInvalidClientHelloIsDenied) {
  auto hello = peek::testing::parse_hello(
      peek::testing::handshake_of(peek::testing::openssl_client_hello({.sni = "api.stripe.com"})));
  hello.extensions.emplace_back(kSni, peek::testing::server_name_body({"evil.example.com"}));
  context_.client_bytes = text(peek::testing::frame(hello.message(), 16384));
  const base::Outcome out = decide("203.0.113.50:443");
  EXPECT_FALSE(out.allow);
  EXPECT_EQ(out.reason, base::Reason::client_hello_invalid);
  EXPECT_EQ(out.detail, "server_name extension appears twice");
  EXPECT_FALSE(facts_->decision) << "the policy never ran";
  EXPECT_TRUE(lookup_.asked.empty());
}

TEST_F(NameFilterTest, AClientHelloPastMaxBytesIsDenied) {
  listener_.config.peek.max_bytes = 512;
  context_.client_bytes =
      text(peek::testing::openssl_client_hello({.sni = "api.stripe.com", .alpn_bytes = 1024}));
  const base::Outcome out = decide("203.0.113.50:443");
  EXPECT_EQ(out.reason, base::Reason::client_hello_invalid);
  EXPECT_NE(out.detail.find("peek.max_bytes"), std::string::npos) << out.detail;
  EXPECT_EQ(context_.peek_max, 512u);
}

TEST_F(NameFilterTest, AClientHelloWithoutSniHasNoName) {
  context_.client_bytes = client_hello("");
  const base::Outcome out = decide("203.0.113.50:443");
  EXPECT_FALSE(out.allow) << "hostname rules do not match without a name";
  EXPECT_EQ(out.reason, base::Reason::default_action);
  ASSERT_TRUE(facts_->name);
  EXPECT_EQ(facts_->name->source, NameSource::none);
  EXPECT_EQ(facts_->name->host, "");
  EXPECT_EQ(facts_->name->verified, policy::NameVerification::not_checked);
  EXPECT_EQ(facts_->name->detail, "ClientHello without server_name");
  EXPECT_TRUE(lookup_.asked.empty());
}

TEST_F(NameFilterTest, ATimeoutDecidesWithoutAName) {
  listener_.config.peek.timeout = 250ms;
  const base::Outcome out = decide("203.0.113.50:443");
  EXPECT_EQ(out.reason, base::Reason::default_action);
  EXPECT_LE(context_.first_peek_deadline, 250ms);
  EXPECT_GT(context_.first_peek_deadline, 200ms);
  ASSERT_TRUE(facts_->name);
  EXPECT_EQ(facts_->name->source, NameSource::none);
  EXPECT_EQ(facts_->name->detail, "timeout after 250 ms");
}

TEST_F(NameFilterTest, ATimeoutWithPartOfAClientHelloSaysSo) {
  context_.client_bytes = client_hello("api.stripe.com").substr(0, 20);
  decide("203.0.113.50:443");
  ASSERT_TRUE(facts_->name);
  EXPECT_EQ(facts_->name->source, NameSource::none);
  EXPECT_EQ(facts_->name->detail, "timeout after 1000 ms with 20 bytes seen");
}

TEST_F(NameFilterTest, TheClientsEndBeforeANameDecidesWithoutOne) {
  context_.client_bytes = client_hello("api.stripe.com").substr(0, 20);
  context_.client_done = true;
  decide("203.0.113.50:443");
  ASSERT_TRUE(facts_->name);
  EXPECT_EQ(facts_->name->source, NameSource::none);
  EXPECT_EQ(facts_->name->detail, "no name in the 20 bytes the peek could see");
}

TEST_F(NameFilterTest, AnotherProtocolHasNoNameAndIsNotAwaited) {
  context_.client_bytes = "SSH-2.0-OpenSSH_9.2\r\n";
  const base::Outcome out = decide("203.0.113.50:443");
  EXPECT_EQ(out.reason, base::Reason::default_action);
  EXPECT_EQ(context_.peeks, 1);
  ASSERT_TRUE(facts_->name);
  EXPECT_EQ(facts_->name->source, NameSource::none);
  EXPECT_EQ(facts_->name->detail, "not TLS or HTTP");
}

TEST_F(NameFilterTest, AnHttpHostAllows) {
  lookup_.answer("www.example.com", {"203.0.113.80"});
  context_.arrivals = {"GET / HT", "TP/1.1\r\nHost: WWW.Example.com\r\n\r\n"};
  const base::Outcome out = decide("203.0.113.80:80");
  EXPECT_TRUE(out.allow) << out.detail;
  EXPECT_EQ(facts_->decision->rule_id, "web");
  ASSERT_TRUE(facts_->name);
  EXPECT_EQ(facts_->name->host, "www.example.com");
  EXPECT_EQ(facts_->name->source, NameSource::http_host);
  EXPECT_EQ(facts_->name->verified, policy::NameVerification::match);
}

TEST_F(NameFilterTest, AnIpLiteralHostIsNotAName) {
  context_.client_bytes = "GET / HTTP/1.1\r\nHost: 203.0.113.80\r\n\r\n";
  const base::Outcome out = decide("203.0.113.80:80");
  EXPECT_EQ(out.reason, base::Reason::default_action);
  ASSERT_TRUE(facts_->name);
  EXPECT_EQ(facts_->name->source, NameSource::none);
  EXPECT_EQ(facts_->name->detail, "Host is an IP address (203.0.113.80), not a name");
  EXPECT_TRUE(lookup_.asked.empty());
}

TEST_F(NameFilterTest, AnInvalidHttpRequestIsDenied) {
  context_.client_bytes = "GET / HTTP/1.1\r\nHost: www.example.com\r\nHost: evil.example\r\n\r\n";
  const base::Outcome out = decide("203.0.113.80:80");
  EXPECT_FALSE(out.allow);
  EXPECT_EQ(out.reason, base::Reason::http_request_invalid);
  EXPECT_FALSE(out.detail.empty());
  EXPECT_FALSE(facts_->decision);
}

TEST_F(NameFilterTest, ReportModeAllowsASpoofedNameAndTheShadowDenies) {
  write_policy("report");
  lookup_.answer("api.stripe.com", {"203.0.113.50"});
  context_.client_bytes = client_hello("api.stripe.com");
  const base::Outcome out = decide("203.0.113.99:443");
  EXPECT_TRUE(out.allow);
  EXPECT_EQ(facts_->decision->rule_id, "stripe");
  ASSERT_TRUE(facts_->decision->shadow_action);
  EXPECT_EQ(*facts_->decision->shadow_action, policy::Action::deny);
  ASSERT_TRUE(facts_->name);
  EXPECT_EQ(facts_->name->verified, policy::NameVerification::mismatch);
}

TEST_F(NameFilterTest, OffTrustsTheNameWithoutALookup) {
  write_policy("off");
  context_.client_bytes = client_hello("api.stripe.com");
  const base::Outcome out = decide("203.0.113.99:443");
  EXPECT_TRUE(out.allow);
  ASSERT_TRUE(facts_->name);
  EXPECT_EQ(facts_->name->verified, policy::NameVerification::not_checked);
  EXPECT_TRUE(lookup_.asked.empty()) << "no lookup under host_verification: off";
}

}  // namespace
}  // namespace egress::filters
