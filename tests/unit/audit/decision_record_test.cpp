#include "audit/decision_record.hpp"

#include <gtest/gtest.h>

#include "audit/chain.hpp"
#include "audit/encoder.hpp"
#include "clock/rfc3339.hpp"
#include "test_util.hpp"

namespace egress::audit {
namespace {

// A decision as the real encoder writes it, as JSON to edit.
boost::json::object encoded(const Record& r) {
  std::string line;
  encode_record(r, ChainFields{7, kGenesisHash, 0}, Origin{"gw", "0123456789abcdef"}, line);
  return boost::json::parse(line).as_object();
}

// The fields of a record's line, as the replay reader takes them.
RecordFields fields(const boost::json::object& o) {
  RecordParser parser;
  RecordFields f;
  EXPECT_TRUE(parser.parse(boost::json::serialize(o), f));
  return f;
}

TEST(DecisionRecord, ReadsEveryFactTheDecisionUsed) {
  ConnectionDecision d;
  d.conn_id = 1;
  d.listener = "mtls";
  d.src = *base::Endpoint::parse("[2001:db8::2]:5000");
  d.dst = *base::Endpoint::parse("[2001:db8:5::50]:443");
  base::Identity id;
  id.spiffe_id = "spiffe://corp.example/ns/a/sa/b";
  id.uri_sans = {id.spiffe_id};
  id.dns_sans = {"b.corp.example"};
  id.common_name = "b";
  id.fingerprint_sha256 = "ff";
  d.identity = id;
  NameFields n;
  n.host = "api.example.com";
  n.source = NameSource::sni;
  n.verified = NameVerified::mismatch;
  n.dns_answers = {*base::IpAddress::parse("203.0.113.9")};
  d.name = n;
  d.decision = "deny";
  d.reason = "name_mismatch";
  d.shadow_decision = "allow";
  d.shadow_rule = "trial";
  d.policy_version = "v";
  const auto ts = *clock::parse_rfc3339("2026-05-01T10:00:00.123456Z");
  DecisionRecord r;
  std::string error;
  const auto o = fields(encoded(Record{ts, d}));
  EXPECT_TRUE(o.has_seq);
  EXPECT_EQ(o.seq, 7u);
  EXPECT_EQ(o.prev, kGenesisHash);
  ASSERT_TRUE(is_decision(o));
  ASSERT_TRUE(read_decision(o, r, error)) << error;
  EXPECT_EQ(r.ts, ts);
  EXPECT_EQ(r.ts_text, "2026-05-01T10:00:00.123456Z");
  EXPECT_EQ(r.src.to_string(), "2001:db8::2");
  ASSERT_TRUE(r.dst);
  EXPECT_EQ(r.dst->to_string(), "[2001:db8:5::50]:443");
  ASSERT_TRUE(r.has_identity);
  EXPECT_EQ(r.identity.spiffe_id, id.spiffe_id);
  EXPECT_EQ(r.identity.uri_sans, id.uri_sans);
  EXPECT_EQ(r.identity.dns_sans, id.dns_sans);
  EXPECT_EQ(r.identity.common_name, "b");
  EXPECT_TRUE(r.name_step);
  EXPECT_EQ(r.host, "api.example.com");
  EXPECT_EQ(r.name_verified, NameVerified::mismatch);
  ASSERT_EQ(r.dns_answers.size(), 1u);
  EXPECT_EQ(r.dns_answers[0].to_string(), "203.0.113.9");
  EXPECT_EQ(r.decision, "deny");
  EXPECT_EQ(r.reason, "name_mismatch");
  EXPECT_TRUE(is_policy_reason(r.reason));
  EXPECT_EQ(r.shadow_decision, "allow");
  EXPECT_EQ(r.shadow_rule, "trial");

  // Reused for a record without identity, name or destination: nothing of the last one stays.
  ConnectionDecision plain;
  plain.src = *base::Endpoint::parse("192.0.2.2:1");
  plain.decision = "deny";
  plain.reason = "no_original_dst";
  plain.policy_version = "v";
  ASSERT_TRUE(read_decision(fields(encoded(Record{ts, plain})), r, error)) << error;
  EXPECT_FALSE(r.dst);
  EXPECT_FALSE(r.has_identity);
  EXPECT_FALSE(r.name_step);
  EXPECT_TRUE(r.host.empty());
  EXPECT_TRUE(r.dns_answers.empty());
  EXPECT_TRUE(r.shadow_decision.empty());
  EXPECT_FALSE(is_policy_reason(r.reason));
}

// Issue 20: a CONNECT listener's record (name_source connect, the agent's conn_id) is read by
// replay as any other: the name, its verification and the address decided are the facts.
TEST(DecisionRecord, ReadsACONNECTTunnelsRecord) {
  ConnectionDecision d;
  d.conn_id = 9;
  d.listener = "connect";
  d.src = *base::Endpoint::parse("192.0.2.2:5000");
  d.dst = *base::Endpoint::parse("203.0.113.10:443");
  d.agent_conn = "0a1b2c3d4e5f6789-42";
  NameFields n;
  n.host = "api.example.com";
  n.source = NameSource::connect;
  n.verified = NameVerified::match;
  n.dns_answers = {*base::IpAddress::parse("203.0.113.10"),
                   *base::IpAddress::parse("203.0.113.66")};
  d.name = n;
  d.decision = "allow";
  d.reason = "rule";
  d.rule = "stripe";
  d.policy_version = "v";
  const auto o = encoded(Record{*clock::parse_rfc3339("2026-05-01T10:00:00Z"), d});
  EXPECT_EQ(o.at("agent_conn").as_string(), "0a1b2c3d4e5f6789-42");
  EXPECT_EQ(o.at("name_source").as_string(), "connect");
  DecisionRecord r;
  std::string error;
  ASSERT_TRUE(read_decision(fields(o), r, error)) << error;
  ASSERT_TRUE(r.dst);
  EXPECT_EQ(r.dst->to_string(), "203.0.113.10:443");
  EXPECT_TRUE(r.name_step);
  EXPECT_EQ(r.host, "api.example.com");
  EXPECT_EQ(r.name_verified, NameVerified::match);
  EXPECT_EQ(r.dns_answers.size(), 2u);
  EXPECT_TRUE(is_policy_reason(r.reason));
}

TEST(DecisionRecord, SaysWhichFieldIsMissingOrWrong) {
  DecisionRecord r;
  std::string error;
  auto o = encoded(testing::sample_decision(1));
  o.erase("ts");
  EXPECT_FALSE(read_decision(fields(o), r, error));
  EXPECT_EQ(error, "no ts");
  o = encoded(testing::sample_decision(1));
  o["dst"] = "203.0.113.1:443";
  EXPECT_FALSE(read_decision(fields(o), r, error));
  EXPECT_EQ(error, "dst is not {ip, port}");
  o = encoded(testing::sample_decision(1));
  o["name_source"] = "sni";
  EXPECT_FALSE(read_decision(fields(o), r, error));
  EXPECT_EQ(error, "name_source without a valid name_verified");
  o = encoded(testing::sample_decision(1));
  o.erase("decision");
  EXPECT_FALSE(read_decision(fields(o), r, error));
  o = encoded(testing::sample_decision(1));
  o["event"] = "connection.close";
  EXPECT_FALSE(is_decision(fields(o)));
}

TEST(RecordParser, TakesOnlyWhatItNeedsAndRefusesWhatIsNotAnObject) {
  RecordParser parser;
  RecordFields f;
  // Escapes are decoded; nested objects and lists elsewhere are skipped; a seq that is not a
  // positive integer is not a seq.
  ASSERT_TRUE(parser.parse(
      R"({"seq":3,"prev":"p","event":"connection.decision","parts":{"policy":{"rule":"x"}},)"
      R"("host":"a\u002eexample","identity":{"uri_sans":["u1","u2"],"dns_sans":[],"cn":"c"},)"
      R"("dns_answers":["203.0.113.1",7],"rule":"r"})",
      f));
  EXPECT_TRUE(f.has_seq);
  EXPECT_EQ(f.host, "a.example");
  EXPECT_EQ(f.rule, "r");
  EXPECT_TRUE(f.has_identity);
  EXPECT_EQ(f.uri_sans, (std::vector<std::string>{"u1", "u2"}));
  EXPECT_EQ(f.cn, "c");
  EXPECT_TRUE(f.bad_dns_answers);
  ASSERT_TRUE(parser.parse(R"({"seq":-1,"prev":5})", f));
  EXPECT_FALSE(f.has_seq);
  EXPECT_FALSE(f.has_prev);
  EXPECT_TRUE(f.rule.empty());  // nothing of the last line stays
  EXPECT_FALSE(parser.parse("[1,2]", f));
  EXPECT_FALSE(parser.parse(R"({"seq":1} trailing)", f));
  EXPECT_FALSE(parser.parse(R"({"seq":1)", f));
  EXPECT_FALSE(parser.parse("", f));
}

}  // namespace
}  // namespace egress::audit
