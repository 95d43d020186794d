#include "audit/encoder.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <array>
#include <fstream>

#include "audit/chain.hpp"
#include "audit/verify.hpp"
#include "test_util.hpp"

namespace egress::audit {
namespace {

namespace json = boost::json;

TEST(Timestamp, IsRfc3339UtcWithMicroseconds) {
  using namespace std::chrono;
  const auto tp = sys_days{2026y / November / 26} + 7h + 27min + 16s + 123456us;
  EXPECT_EQ(
      format_timestamp(Clock::time_point{duration_cast<Clock::duration>(tp.time_since_epoch())}),
      "2026-11-26T07:27:16.123456Z");
  EXPECT_EQ(format_timestamp(Clock::time_point{}), "1970-01-01T00:00:00.000000Z");
}

constexpr Origin kOrigin{"egress-a", "3f9c0a7e5b21d864"};

json::object encode(const Record& r, std::uint64_t dropped = 0) {
  std::string out;
  encode_record(r, ChainFields{7, kGenesisHash, dropped}, kOrigin, out);
  EXPECT_EQ(out.find('\n'), std::string::npos) << "a record must be one line";
  return json::parse(out).as_object();
}

TEST(Encoder, DecisionHasEveryFieldOfTheSchema) {
  ConnectionDecision d;
  d.conn_id = 42;
  d.listener = "outbound";
  d.src = *base::Endpoint::parse("192.0.2.2:40000");
  d.dst = *base::Endpoint::parse("[2001:db8::10]:443");
  base::Identity id;
  id.spiffe_id = "spiffe://corp.example/ns/payments/sa/api";
  id.uri_sans = {id.spiffe_id};
  id.dns_sans = {"api.payments.corp.example"};
  id.common_name = "api";
  id.fingerprint_sha256 = std::string(64, 'a');
  id.issuer = "CN=corp CA,O=Corp";
  id.serial = "1f";
  id.not_after = "2027-01-01T00:00:00Z";
  d.identity = id;
  d.tls_version = "TLSv1.3";
  d.decision = "deny";
  d.reason = "rule";
  d.detail = "";
  d.rule = "block-payments";
  d.rule_file = "20-rules.yaml:12";
  d.shadow_decision = "allow";
  d.shadow_rule = "payments-to-card-networks";
  d.policy_version = "sha256:abcd";
  const auto o = encode(Record{Clock::now(), d}, 3);

  EXPECT_EQ(o.at("v").as_int64(), 1);
  EXPECT_EQ(o.at("seq").as_int64(), 7);
  EXPECT_EQ(o.at("prev").as_string(), kGenesisHash);
  EXPECT_EQ(o.at("event").as_string(), "connection.decision");
  EXPECT_EQ(o.at("gateway").as_string(), "egress-a");
  EXPECT_EQ(o.at("conn_id").as_string(), "3f9c0a7e5b21d864-42");
  EXPECT_EQ(o.at("listener").as_string(), "outbound");
  EXPECT_EQ(o.at("src").at("ip").as_string(), "192.0.2.2");
  EXPECT_EQ(o.at("src").at("port").as_int64(), 40000);
  EXPECT_EQ(o.at("dst").at("ip").as_string(), "2001:db8::10");
  EXPECT_EQ(o.at("dst").at("port").as_int64(), 443);
  const auto& ido = o.at("identity").as_object();
  EXPECT_EQ(ido.at("spiffe_id").as_string(), id.spiffe_id);
  EXPECT_EQ(ido.at("uri_sans").as_array().size(), 1u);
  EXPECT_EQ(ido.at("dns_sans").as_array()[0].as_string(), "api.payments.corp.example");
  EXPECT_EQ(ido.at("cn").as_string(), "api");
  EXPECT_EQ(ido.at("fingerprint_sha256").as_string(), id.fingerprint_sha256);
  EXPECT_EQ(ido.at("issuer").as_string(), "CN=corp CA,O=Corp");
  EXPECT_EQ(ido.at("serial").as_string(), "1f");
  EXPECT_EQ(ido.at("not_after").as_string(), "2027-01-01T00:00:00Z");
  EXPECT_EQ(o.at("tls_version").as_string(), "TLSv1.3");
  EXPECT_EQ(o.at("decision").as_string(), "deny");
  EXPECT_EQ(o.at("reason").as_string(), "rule");
  EXPECT_FALSE(o.contains("detail")) << "empty optional strings are omitted";
  EXPECT_EQ(o.at("rule").as_string(), "block-payments");
  EXPECT_EQ(o.at("rule_file").as_string(), "20-rules.yaml:12");
  EXPECT_EQ(o.at("shadow").at("decision").as_string(), "allow");
  EXPECT_EQ(o.at("shadow").at("rule").as_string(), "payments-to-card-networks");
  EXPECT_EQ(o.at("policy_version").as_string(), "sha256:abcd");
  EXPECT_EQ(o.at("records_dropped").as_int64(), 3);
}

TEST(Encoder, DecisionOmitsWhatIsAbsent) {
  ConnectionDecision d;
  d.conn_id = 1;
  d.listener = "l";
  d.src = *base::Endpoint::parse("192.0.2.2:1");
  d.decision = "deny";
  d.reason = "no_original_dst";
  d.detail = "getsockopt: No such file or directory";
  d.identity = base::Identity{};  // set but empty: no certificate was presented
  const auto o = encode(Record{Clock::now(), d});
  for (const char* key :
       {"dst", "identity", "tls_version", "rule", "rule_file", "shadow", "records_dropped", "host",
        "name_source", "name_verified", "dns_answers", "ech", "proxy_src", "agent_conn"}) {
    EXPECT_FALSE(o.contains(key)) << key;
  }
  EXPECT_EQ(o.at("detail").as_string(), "getsockopt: No such file or directory");
  EXPECT_EQ(o.at("policy_version").as_string(), "");
}

// Behind a load balancer (issue 20): src is the client the PROXY header named, proxy_src the
// balancer, both {ip, port}.
TEST(Encoder, DecisionBehindALoadBalancerHasProxySrc) {
  ConnectionDecision d;
  d.conn_id = 2;
  d.listener = "lb";
  d.src = *base::Endpoint::parse("198.51.100.7:40000");
  d.proxy_src = *base::Endpoint::parse("[2001:db8:1::50]:51000");
  d.decision = "allow";
  d.reason = "rule";
  const auto o = encode(Record{Clock::now(), d});
  EXPECT_EQ(o.at("src").at("ip").as_string(), "198.51.100.7");
  EXPECT_EQ(o.at("proxy_src").at("ip").as_string(), "2001:db8:1::50");
  EXPECT_EQ(o.at("proxy_src").at("port").as_int64(), 51000);
}

// A CONNECT tunnel opened by an egressd agent (issue 20): its conn_id, as sent, joins the
// agent's records with the gateway's.
TEST(Encoder, DecisionOfAnAgentsTunnelHasAgentConn) {
  ConnectionDecision d;
  d.conn_id = 3;
  d.listener = "connect";
  d.src = *base::Endpoint::parse("192.0.2.2:40000");
  d.agent_conn = "0a1b2c3d4e5f6789-42";
  d.decision = "allow";
  d.reason = "rule";
  const auto o = encode(Record{Clock::now(), d});
  EXPECT_EQ(o.at("agent_conn").as_string(), "0a1b2c3d4e5f6789-42");
}

ConnectionDecision name_step_decision() {
  ConnectionDecision d;
  d.conn_id = 5;
  d.listener = "egress";
  d.src = *base::Endpoint::parse("192.0.2.2:40000");
  d.dst = *base::Endpoint::parse("203.0.113.10:443");
  d.tls_version = "TLSv1.3";
  d.decision = "allow";
  d.reason = "rule";
  d.rule = "payments-to-stripe";
  return d;
}

// Issue 19's fields: the name, where it came from, what DNS said, the answers used, ECH.
TEST(Encoder, DecisionWithEveryNameField) {
  ConnectionDecision d = name_step_decision();
  NameFields n;
  n.host = "api.stripe.com";
  n.source = NameSource::sni;
  n.verified = NameVerified::match;
  std::array<std::uint8_t, 16> mapped{};  // ::ffff:203.0.113.11, normalised to IPv4
  mapped[10] = mapped[11] = 0xff;
  mapped[12] = 203;
  mapped[14] = 113;
  mapped[15] = 11;
  n.dns_answers = {*base::IpAddress::parse("203.0.113.10"), base::IpAddress::v6(mapped),
                   *base::IpAddress::parse("2001:db8:0:0::10")};
  n.ech = true;
  d.name = n;
  std::string line;
  encode_record(Record{Clock::now(), d}, ChainFields{7, kGenesisHash, 0}, kOrigin, line);
  EXPECT_NE(line.find(R"("tls_version":"TLSv1.3","host":"api.stripe.com","name_source":"sni",)"
                      R"("name_verified":"match",)"
                      R"("dns_answers":["203.0.113.10","203.0.113.11","2001:db8::10"],)"
                      R"("ech":true,"decision":"allow")"),
            std::string::npos)
      << line;
  const auto o = json::parse(line).as_object();
  EXPECT_EQ(o.at("host").as_string(), "api.stripe.com");
  EXPECT_EQ(o.at("name_source").as_string(), "sni");
  EXPECT_EQ(o.at("name_verified").as_string(), "match");
  ASSERT_EQ(o.at("dns_answers").as_array().size(), 3u);
  EXPECT_EQ(o.at("dns_answers").as_array()[2].as_string(), "2001:db8::10");
  EXPECT_TRUE(o.at("ech").as_bool());
}

// The step ran and found no name: the source and verdict say so; no host, answers or ech.
TEST(Encoder, NameStepWithoutANameWritesOnlySourceAndVerdict) {
  ConnectionDecision d = name_step_decision();
  d.name = NameFields{};
  const auto o = encode(Record{Clock::now(), d});
  EXPECT_EQ(o.at("name_source").as_string(), "none");
  EXPECT_EQ(o.at("name_verified").as_string(), "not_checked");
  for (const char* key : {"host", "dns_answers", "ech"}) EXPECT_FALSE(o.contains(key)) << key;
}

TEST(Encoder, EveryNameSourceAndVerdictIsSpelledAsDocumented) {
  const std::pair<NameSource, const char*> sources[] = {
      {NameSource::sni, "sni"}, {NameSource::http_host, "http_host"}, {NameSource::none, "none"}};
  for (const auto& [value, name] : sources) {
    ConnectionDecision d = name_step_decision();
    d.name = NameFields{};
    d.name->source = value;
    EXPECT_EQ(encode(Record{Clock::now(), d}).at("name_source").as_string(), name);
  }
  const std::pair<NameVerified, const char*> verdicts[] = {
      {NameVerified::match, "match"},
      {NameVerified::mismatch, "mismatch"},
      {NameVerified::unresolved, "unresolved"},
      {NameVerified::not_checked, "not_checked"}};
  for (const auto& [value, name] : verdicts) {
    ConnectionDecision d = name_step_decision();
    d.name = NameFields{};
    d.name->verified = value;
    EXPECT_EQ(encode(Record{Clock::now(), d}).at("name_verified").as_string(), name);
  }
}

// The Host header is the client's bytes: escaped like every string, one line, valid UTF-8.
TEST(Encoder, HostIsEscaped) {
  ConnectionDecision d = name_step_decision();
  d.name = NameFields{};
  d.name->source = NameSource::http_host;
  d.name->host = "evil\"\n\xFF\xE2\x80\xA8.example";
  std::string line;
  encode_record(Record{Clock::now(), d}, ChainFields{1, kGenesisHash, 0}, kOrigin, line);
  EXPECT_NE(line.find(std::string(R"("host":"evil\"\n)") + "\xEF\xBF\xBD" + R"(\u2028.example")"),
            std::string::npos)
      << line;
  EXPECT_EQ(json::parse(line).at("host").as_string(), "evil\"\n\xEF\xBF\xBD\xE2\x80\xA8.example");
}

TEST(Encoder, CloseReloadStartStop) {
  ConnectionClose c;
  c.conn_id = 9;
  c.listener = "outbound";
  c.src = *base::Endpoint::parse("192.0.2.2:5000");
  c.dst = *base::Endpoint::parse("203.0.113.10:443");
  c.bytes_up = 1234;
  c.bytes_down = 567890;
  c.duration = std::chrono::microseconds{1500000};
  c.closed_by = "client";
  c.reason = "eof";
  auto o = encode(Record{Clock::now(), c});
  EXPECT_EQ(o.at("event").as_string(), "connection.close");
  EXPECT_EQ(o.at("conn_id").as_string(), "3f9c0a7e5b21d864-9");
  EXPECT_EQ(o.at("gateway").as_string(), "egress-a");
  EXPECT_EQ(o.at("bytes_up").as_int64(), 1234);
  EXPECT_EQ(o.at("bytes_down").as_int64(), 567890);
  EXPECT_EQ(o.at("duration_us").as_int64(), 1500000);
  EXPECT_EQ(o.at("closed_by").as_string(), "client");
  EXPECT_EQ(o.at("reason").as_string(), "eof");
  EXPECT_EQ(o.at("dst").at("ip").as_string(), "203.0.113.10");
  EXPECT_FALSE(o.contains("rule"));
  c.reason = "policy_revoked";
  c.rule = "block-10";
  o = encode(Record{Clock::now(), c});
  EXPECT_EQ(o.at("rule").as_string(), "block-10");
  EXPECT_FALSE(o.contains("via_conn")) << "only an egressd agent's records have one";
  c.reason = "via_denied";
  c.rule.clear();
  c.via_conn = "5b21d8643f9c0a7e-77";
  o = encode(Record{Clock::now(), c});
  EXPECT_EQ(o.at("via_conn").as_string(), "5b21d8643f9c0a7e-77");

  PolicyReload r;
  r.ok = false;
  r.version = "v1";
  r.errors = {"10-rules.yaml:3:5: rules[0].form: unknown key"};
  r.rule_count = 12;
  o = encode(Record{Clock::now(), r});
  EXPECT_EQ(o.at("event").as_string(), "policy.reload");
  EXPECT_EQ(o.at("result").as_string(), "failed");
  EXPECT_EQ(o.at("version").as_string(), "v1");
  EXPECT_EQ(o.at("errors").as_array()[0].as_string(), r.errors[0]);
  EXPECT_EQ(o.at("rule_count").as_int64(), 12);
  EXPECT_FALSE(o.contains("parts")) << "no parts given, no parts written";

  // One record for the whole reload: per part what happened.
  r.errors = {"listeners[0].tls.crl: crl.pem: invalid PEM CRL"};
  r.parts = {
      {"policy", "ok", {}, "v1", 12, {}, {}, {}, {}, {}, {}},
      {"tls", "skipped", {}, {}, std::nullopt, {}, {}, {}, {}, {}, {}},
      {"crl", "failed", r.errors, {}, std::nullopt, "2027-01-01T00:00:00Z", {}, {}, {}, {}, {}}};
  o = encode(Record{Clock::now(), r});
  EXPECT_EQ(o.at("result").as_string(), "failed");
  const auto& parts = o.at("parts").as_object();
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts.begin()->key(), "policy") << "parts in order policy, tls, crl";
  EXPECT_EQ(parts.at("policy").at("result").as_string(), "ok");
  EXPECT_EQ(parts.at("policy").at("version").as_string(), "v1");
  EXPECT_EQ(parts.at("policy").at("rule_count").as_int64(), 12);
  EXPECT_TRUE(parts.at("policy").at("errors").as_array().empty());
  EXPECT_EQ(parts.at("tls").at("result").as_string(), "skipped");
  EXPECT_FALSE(parts.at("tls").as_object().contains("version"));
  EXPECT_FALSE(parts.at("tls").as_object().contains("rule_count"));
  EXPECT_EQ(parts.at("crl").at("result").as_string(), "failed");
  EXPECT_EQ(parts.at("crl").at("next_update").as_string(), "2027-01-01T00:00:00Z");
  EXPECT_EQ(parts.at("crl").at("errors").as_array()[0].as_string(), r.errors[0]);
  EXPECT_FALSE(parts.at("policy").as_object().contains("redecided")) << "none re-decided";
  r.parts[0].redecided = 40;
  r.parts[0].revoked = 2;
  o = encode(Record{Clock::now(), r});
  EXPECT_EQ(o.at("parts").at("policy").at("redecided").as_int64(), 40);
  EXPECT_EQ(o.at("parts").at("policy").at("revoked").as_int64(), 2);
  EXPECT_FALSE(o.at("parts").at("policy").as_object().contains("redecide_unanswered"));
  EXPECT_FALSE(o.at("parts").at("crl").as_object().contains("checked")) << "no CRL reloaded";
  r.parts[2].checked = 9;
  r.parts[2].revoked = 1;
  r.parts[2].check_unanswered = 1;
  o = encode(Record{Clock::now(), r});
  EXPECT_EQ(o.at("parts").at("crl").at("checked").as_int64(), 9);
  EXPECT_EQ(o.at("parts").at("crl").at("revoked").as_int64(), 1);
  EXPECT_EQ(o.at("parts").at("crl").at("check_unanswered").as_int64(), 1);

  GatewayStart s;
  s.version = "0.1.0";
  s.policy_version = "v1";
  s.listeners = {"outbound=0.0.0.0:15001"};
  s.workers = 2;
  o = encode(Record{Clock::now(), s});
  EXPECT_EQ(o.at("event").as_string(), "gateway.start");
  EXPECT_EQ(o.at("instance").as_string(), "3f9c0a7e5b21d864");
  EXPECT_EQ(o.at("listeners").as_array()[0].as_string(), "outbound=0.0.0.0:15001");
  EXPECT_EQ(o.at("workers").as_int64(), 2);

  GatewayStop st;
  st.reason = "signal";
  st.connections_drained = 5;
  st.connections_forced = 1;
  o = encode(Record{Clock::now(), st});
  EXPECT_EQ(o.at("event").as_string(), "gateway.stop");
  EXPECT_EQ(o.at("gateway").as_string(), "egress-a");
  EXPECT_EQ(o.at("reason").as_string(), "signal");
  EXPECT_EQ(o.at("connections_drained").as_int64(), 5);
  EXPECT_EQ(o.at("connections_forced").as_int64(), 1);
}

// U+0085 NEL, U+2028 LINE SEPARATOR, U+2029 PARAGRAPH SEPARATOR: raw, a tool that splits on
// Unicode line boundaries (Python's splitlines, pre-ES2019 JavaScript) cuts a record in two
// (issue 17 item 10). Every string the encoder writes escapes them.
struct Separator {
  const char* raw;
  const char* escaped;
};
constexpr Separator kSeparators[] = {
    {"\xC2\x85", "\\u0085"}, {"\xE2\x80\xA8", "\\u2028"}, {"\xE2\x80\xA9", "\\u2029"}};

void expect_no_raw_separator(const std::string& line) {
  for (const auto& sep : kSeparators)
    EXPECT_EQ(line.find(sep.raw), std::string::npos) << "raw " << sep.escaped << " in " << line;
}

TEST(Encoder, EscapesUnicodeLineSeparatorsInEveryString) {
  for (const auto& sep : kSeparators) {
    SCOPED_TRACE(sep.escaped);
    const std::string x = std::string("a") + sep.raw + "b";
    ConnectionDecision d;
    d.conn_id = 1;
    d.listener = x;
    d.src = *base::Endpoint::parse("192.0.2.2:1");
    base::Identity id;
    id.spiffe_id = "spiffe://corp.example/" + x;
    id.uri_sans = {id.spiffe_id, x};
    id.dns_sans = {x};
    id.common_name = x;
    id.fingerprint_sha256 = x;
    id.issuer = "CN=" + x;
    id.serial = x;
    id.not_after = x;
    d.identity = id;
    d.tls_version = x;
    d.decision = x;
    d.reason = x;
    d.detail = x;
    d.rule = x;
    d.rule_file = x;
    d.shadow_decision = x;
    d.shadow_rule = x;
    d.policy_version = x;
    std::string line;
    encode_record(Record{Clock::now(), d}, ChainFields{1, kGenesisHash, 0}, kOrigin, line);
    expect_no_raw_separator(line);
    EXPECT_NE(line.find(std::string("\"detail\":\"a") + sep.escaped + "b\""), std::string::npos)
        << line;
    // 19 strings of the record hold it (uri_sans twice), each written escaped once.
    std::size_t count = 0;
    for (auto at = line.find(sep.escaped); at != std::string::npos;
         at = line.find(sep.escaped, at + 1))
      ++count;
    EXPECT_EQ(count, 19u) << line;
    // A JSON parser reads the original characters back.
    const auto o = json::parse(line).as_object();
    EXPECT_EQ(o.at("detail").as_string(), x);
    EXPECT_EQ(o.at("identity").at("cn").as_string(), x);
    EXPECT_EQ(o.at("identity").at("dns_sans").as_array()[0].as_string(), x);

    PolicyReload r;
    r.ok = false;
    r.version = x;
    r.errors = {x};
    std::string reload;
    encode_record(Record{Clock::now(), r}, ChainFields{2, kGenesisHash, 0}, kOrigin, reload);
    expect_no_raw_separator(reload);
    EXPECT_NE(reload.find(std::string("[\"a") + sep.escaped + "b\"]"), std::string::npos) << reload;
  }
}

TEST(Encoder, ChainOverEscapedSeparatorsVerifies) {
  testing::TempDir dir;
  const std::string path = dir.file("audit.jsonl");
  std::ofstream out(path, std::ios::binary);
  std::string prev(kGenesisHash);
  std::uint64_t seq = 0;
  for (const auto& sep : kSeparators) {
    ConnectionDecision d;
    d.conn_id = ++seq;
    d.listener = "l";
    d.src = *base::Endpoint::parse("192.0.2.2:1");
    d.decision = "deny";
    d.reason = "rule";
    d.detail = std::string("x") + sep.raw + "y";
    std::string line;
    encode_record(Record{Clock::now(), d}, ChainFields{seq, prev, 0}, kOrigin, line);
    out << line << '\n';
    prev = sha256_hex(line);
  }
  out.close();
  const auto r = verify_chain({path});
  EXPECT_TRUE(r.ok()) << (r.broken ? r.broken->message : r.error);
  EXPECT_EQ(r.records, 3u);
  EXPECT_EQ(r.last_hash, prev);
}

}  // namespace
}  // namespace egress::audit
