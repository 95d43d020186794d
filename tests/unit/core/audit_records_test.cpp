#include "core/audit_records.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

#include "audit/encoder.hpp"

// The connection.decision record from a connection's facts: the name step's findings become the
// record's name fields (issue 19), as docs/audit.md describes them.

namespace egress::core {
namespace {

boost::json::object encoded(const audit::ConnectionDecision& d) {
  std::string line;
  audit::encode_record({audit::Clock::now(), d}, {1, std::string(64, '0'), 0}, {"gw", "run"}, line);
  return boost::json::parse(line).as_object();
}

class AuditRecordsTest : public ::testing::Test {
 protected:
  AuditRecordsTest() {
    listener_.config.name = "egress";
    facts_.src = *base::Endpoint::parse("192.0.2.2:40000");
    facts_.dst = *base::Endpoint::parse("203.0.113.99:443");
  }
  filters::ListenerInfo listener_;
  filters::Facts facts_{7, listener_};
};

TEST_F(AuditRecordsTest, TheNameStepsFindingsAreTheRecordsNameFields) {
  filters::NameFacts name;
  name.host = "api.stripe.com";
  name.source = filters::NameSource::sni;
  name.verified = policy::NameVerification::mismatch;
  name.dns_answers = {*base::IpAddress::parse("203.0.113.50"),
                      *base::IpAddress::parse("2001:db8::50")};
  name.ech = true;
  facts_.name = std::move(name);
  const auto r =
      decision_record(facts_, base::Outcome::denied(base::Reason::name_mismatch), nullptr);
  ASSERT_TRUE(r.name);
  EXPECT_EQ(r.name->host, "api.stripe.com");
  EXPECT_EQ(r.name->source, audit::NameSource::sni);
  EXPECT_EQ(r.name->verified, audit::NameVerified::mismatch);
  const auto json = encoded(r);
  EXPECT_EQ(json.at("host"), "api.stripe.com");
  EXPECT_EQ(json.at("name_source"), "sni");
  EXPECT_EQ(json.at("name_verified"), "mismatch");
  EXPECT_EQ(json.at("dns_answers"), (boost::json::array{"203.0.113.50", "2001:db8::50"}));
  EXPECT_EQ(json.at("ech"), true);
  EXPECT_EQ(json.at("reason"), "name_mismatch");
}

// Issue 20: a CONNECT tunnel's record carries the agent's conn_id (the Egressd-Agent-Conn field)
// and the CONNECT name as host with name_source connect; a transparent one has no agent_conn.
TEST_F(AuditRecordsTest, ACONNECTTunnelsRecordHasTheAgentsConnIdAndItsName) {
  EXPECT_FALSE(encoded(decision_record(facts_, base::Outcome::allowed(base::Reason::rule), nullptr))
                   .contains("agent_conn"));
  facts_.connect.emplace();
  facts_.connect->name = "api.stripe.com";
  facts_.connect->port = 443;
  EXPECT_FALSE(encoded(decision_record(facts_, base::Outcome::allowed(base::Reason::rule), nullptr))
                   .contains("agent_conn"))
      << "a CONNECT without Egressd-Agent-Conn";
  facts_.connect->agent_conn = "0a1b2c3d4e5f6789-42";
  facts_.name = filters::NameFacts{};
  facts_.name->host = "api.stripe.com";
  facts_.name->source = filters::NameSource::connect;
  facts_.name->verified = policy::NameVerification::match;
  facts_.name->dns_answers = {*base::IpAddress::parse("203.0.113.99")};
  const auto json =
      encoded(decision_record(facts_, base::Outcome::allowed(base::Reason::rule), nullptr));
  EXPECT_EQ(json.at("agent_conn"), "0a1b2c3d4e5f6789-42");
  EXPECT_EQ(json.at("host"), "api.stripe.com");
  EXPECT_EQ(json.at("name_source"), "connect");
  EXPECT_EQ(json.at("name_verified"), "match");
  EXPECT_EQ(json.at("dst").at("ip"), "203.0.113.99");
}

TEST_F(AuditRecordsTest, EachSourceAndVerdictHasItsSpelling) {
  const std::pair<filters::NameSource, const char*> sources[] = {
      {filters::NameSource::sni, "sni"},
      {filters::NameSource::http_host, "http_host"},
      {filters::NameSource::none, "none"}};
  for (auto [source, spelling] : sources) {
    facts_.name = filters::NameFacts{};
    facts_.name->source = source;
    EXPECT_EQ(encoded(decision_record(facts_, base::Outcome::denied(base::Reason::default_action),
                                      nullptr))
                  .at("name_source"),
              spelling);
  }
  const std::pair<policy::NameVerification, const char*> verdicts[] = {
      {policy::NameVerification::match, "match"},
      {policy::NameVerification::mismatch, "mismatch"},
      {policy::NameVerification::unresolved, "unresolved"},
      {policy::NameVerification::not_checked, "not_checked"}};
  for (auto [verdict, spelling] : verdicts) {
    facts_.name = filters::NameFacts{};
    facts_.name->host = "a.example";
    facts_.name->source = filters::NameSource::sni;
    facts_.name->verified = verdict;
    EXPECT_EQ(encoded(decision_record(facts_, base::Outcome::allowed(base::Reason::rule), nullptr))
                  .at("name_verified"),
              spelling);
  }
}

TEST_F(AuditRecordsTest, NoNameFoundKeepsOnlySourceVerdictAndTheDetail) {
  facts_.name = filters::NameFacts{};
  facts_.name->detail = "timeout after 1000 ms";
  const auto json = encoded(
      decision_record(facts_, base::Outcome::denied(base::Reason::default_action), nullptr));
  EXPECT_EQ(json.at("name_source"), "none");
  EXPECT_EQ(json.at("name_verified"), "not_checked");
  EXPECT_FALSE(json.contains("host"));
  EXPECT_FALSE(json.contains("dns_answers"));
  EXPECT_FALSE(json.contains("ech"));
  EXPECT_EQ(json.at("detail"), "timeout after 1000 ms") << "why there is no name";
}

TEST_F(AuditRecordsTest, TheOutcomesDetailWinsOverTheNames) {
  facts_.name = filters::NameFacts{};
  facts_.name->detail = "ClientHello without server_name";
  const auto json = encoded(decision_record(
      facts_, base::Outcome::denied(base::Reason::client_hello_invalid, "record too long"),
      nullptr));
  EXPECT_EQ(json.at("detail"), "record too long");
}

TEST_F(AuditRecordsTest, WithoutTheNameStepThereAreNoNameFields) {
  const auto r = decision_record(facts_, base::Outcome::allowed(base::Reason::rule), nullptr);
  EXPECT_FALSE(r.name);
  const auto json = encoded(r);
  for (const char* key : {"host", "name_source", "name_verified", "dns_answers", "ech"}) {
    EXPECT_FALSE(json.contains(key)) << key;
  }
}

}  // namespace
}  // namespace egress::core
