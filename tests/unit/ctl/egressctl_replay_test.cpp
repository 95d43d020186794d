// `egressctl policy replay|unused` as a user runs them: audit logs written by the real writer,
// policy directories, exit codes, the JSON report and the refusal of a broken chain.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <boost/json.hpp>
#include <cstdio>

#include "../audit/run_command.hpp"
#include "replay_fixture.hpp"

#ifndef EGRESSCTL_PATH
#error "EGRESSCTL_PATH must name the egressctl binary"
#endif

namespace egress::ctl {
namespace {

using namespace testing;

using Run = audit::testing::CommandRun;

Run egressctl(const std::string& args) {
  return audit::testing::run_command(EGRESSCTL_PATH, args);
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Policy A (what the log was written under): web and api allowed, api.example.com by name.
const char* kSettings = "kind: Settings\ndefault: deny\n";
const char* kWeb =
    "kind: Rule\nid: web\naction: allow\nfrom: [{source: 192.0.2.0/24}]\n"
    "to: [{cidrs: [203.0.113.10/32], ports: [443]}]\n";
const char* kApi =
    "kind: Rule\nid: api\naction: allow\nfrom: [{source: 192.0.2.0/24}]\n"
    "to: [{cidrs: [203.0.113.20/32], ports: [443]}]\n";
const char* kNamedA =
    "kind: Rule\nid: named\naction: allow\nfrom: [{source: 192.0.2.0/24}]\n"
    "to: [{hosts: [api.example.com], ports: [443]}]\n";
// Policy B (proposed): api removed, the name widened to a wildcard (and to port 8443), a
// temporary rule that expired on 2026-06-01.
const char* kNamedB =
    "kind: Rule\nid: named\naction: allow\nfrom: [{source: 192.0.2.0/24}]\n"
    "to: [{hosts: [\"*.example.com\"], ports: [443, 8443]}]\n";
const char* kTemp =
    "kind: Rule\nid: temp\naction: allow\nfrom: [{source: 192.0.2.0/24}]\n"
    "to: [{cidrs: [203.0.113.30/32], ports: [443]}]\nexpires: 2026-06-01T00:00:00Z\n";

Conn conn(std::string ts, std::string src, std::string dst, std::string decision,
          std::string reason, std::string rule) {
  Conn c;
  c.ts = std::move(ts);
  c.src = std::move(src);
  c.dst = std::move(dst);
  c.decision = std::move(decision);
  c.reason = std::move(reason);
  c.rule = std::move(rule);
  return c;
}

class EgressctlReplay : public ::testing::Test {
 protected:
  void SetUp() override {
    write_file(dir_.path() / "a" / "policy.yaml",
               std::string(kSettings) + "---\n" + kWeb + "---\n" + kApi + "---\n" + kNamedA);
    write_file(dir_.path() / "b" / "policy.yaml",
               std::string(kSettings) + "---\n" + kWeb + "---\n" + kNamedB + "---\n" + kTemp);
    // As egressd wrote them under A: every port-443 connection went through the name step.
    Conn web =
        conn("2026-05-01T10:00:00Z", "192.0.2.2:40000", "203.0.113.10:443", "allow", "rule", "web");
    web.name_step = true;
    Conn api = web;
    api.dst = "203.0.113.20:443";
    api.rule = "api";
    Conn api_late = api;
    api_late.ts = "2026-05-03T10:00:00Z";
    Conn www =
        conn("2026-05-02T10:00:00Z", "192.0.2.2:40001", "203.0.113.50:443", "deny", "default", "");
    www.name_step = true;
    www.host = "www.example.com";
    www.verified = audit::NameVerified::match;
    www.answers = {"203.0.113.50"};
    Conn temp_before =
        conn("2026-05-20T00:00:00Z", "192.0.2.3:40000", "203.0.113.30:443", "deny", "default", "");
    temp_before.name_step = true;
    Conn temp_after = temp_before;
    temp_after.ts = "2026-06-02T00:00:00Z";
    // Port 8443: no rule of A could match by name, so the name was never read.
    Conn alt =
        conn("2026-05-04T00:00:00Z", "192.0.2.2:40002", "203.0.113.40:8443", "deny", "default", "");
    conns_ = {web, api, www, api_late, temp_before, temp_after, alt};
    write_audit(log_, conns_);
  }

  std::string a() const { return (dir_.path() / "a").string(); }
  std::string b() const { return (dir_.path() / "b").string(); }

  TempDir dir_;
  std::string log_ = dir_.file("audit.jsonl");
  std::vector<Conn> conns_;
};

boost::json::object find_change(const boost::json::array& changes, const std::string& kind,
                                const std::string& dst) {
  for (const auto& c : changes) {
    const auto& o = c.as_object();
    if (o.at("kind").as_string() == kind && o.at("dst").as_string() == dst) return o;
  }
  return {};
}

TEST_F(EgressctlReplay, ListsEachGroupWithCountsAndKinds) {
  const auto r = egressctl("policy replay " + b() + " --audit " + log_ + " --format json");
  ASSERT_EQ(r.exit_code, 1) << r.output;
  const auto report = boost::json::parse(r.output).as_object();
  const auto& t = report.at("totals").as_object();
  EXPECT_EQ(t.at("records").as_int64(), 7);
  EXPECT_EQ(t.at("decisions").as_int64(), 7);
  EXPECT_EQ(t.at("tighten").as_int64(), 2);  // api removed: both api records
  EXPECT_EQ(t.at("widen").as_int64(), 2);    // the wildcard, and temp before it expired
  EXPECT_EQ(t.at("rule_changed").as_int64(), 0);
  EXPECT_EQ(t.at("indeterminate").as_int64(), 1);  // port 8443 without a name
  EXPECT_EQ(t.at("unchanged").as_int64(), 2);      // web; temp after it expired
  EXPECT_TRUE(report.at("verified").as_bool());
  EXPECT_TRUE(report.at("baseline").is_null());
  const auto& changes = report.at("changes").as_array();
  ASSERT_EQ(changes.size(), 3u) << r.output;

  const auto api = find_change(changes, "tighten", "203.0.113.20:443");
  ASSERT_FALSE(api.empty()) << r.output;
  EXPECT_EQ(api.at("client").as_string(), "192.0.2.2");
  EXPECT_EQ(api.at("count").as_int64(), 2);
  EXPECT_EQ(api.at("old").as_object().at("decision").as_string(), "allow");
  EXPECT_EQ(api.at("old").as_object().at("rule").as_string(), "api");
  EXPECT_EQ(api.at("new").as_object().at("decision").as_string(), "deny");
  EXPECT_TRUE(api.at("new").as_object().at("rule").is_null());
  EXPECT_EQ(api.at("first_seen").as_string(), "2026-05-01T10:00:00.000000Z");
  EXPECT_EQ(api.at("last_seen").as_string(), "2026-05-03T10:00:00.000000Z");
  EXPECT_FALSE(api.contains("host"));  // the client sent no name

  const auto www = find_change(changes, "widen", "203.0.113.50:443");
  ASSERT_FALSE(www.empty()) << r.output;
  EXPECT_EQ(www.at("host").as_string(), "www.example.com");
  EXPECT_EQ(www.at("new").as_object().at("rule").as_string(), "named");
  EXPECT_EQ(www.at("count").as_int64(), 1);

  const auto temp = find_change(changes, "widen", "203.0.113.30:443");
  ASSERT_FALSE(temp.empty()) << r.output;
  EXPECT_EQ(temp.at("client").as_string(), "192.0.2.3");
  EXPECT_EQ(temp.at("count").as_int64(), 1);  // not the record after expiry
  EXPECT_EQ(temp.at("first_seen").as_string(), "2026-05-20T00:00:00.000000Z");
}

// Issue 20: a CONNECT listener's records (name_source connect, agent_conn) replay as any
// decision by name: the CONNECT name against the address it was decided for.
TEST_F(EgressctlReplay, ReadsACONNECTTunnelsRecords) {
  Conn tunnel =
      conn("2026-05-05T10:00:00Z", "192.0.2.2:40003", "203.0.113.60:443", "deny", "default", "");
  tunnel.name_step = true;
  tunnel.connect = true;
  tunnel.agent_conn = "0a1b2c3d4e5f6789-42";
  tunnel.host = "shop.example.com";
  tunnel.verified = audit::NameVerified::match;
  tunnel.answers = {"203.0.113.60"};
  const std::string log = dir_.file("connect.jsonl");
  write_audit(log, {tunnel});
  ASSERT_TRUE(contains(audit::testing::read_file(log), R"("agent_conn":"0a1b2c3d4e5f6789-42")"));
  ASSERT_TRUE(contains(audit::testing::read_file(log), R"("name_source":"connect")"));

  const auto r = egressctl("policy replay " + b() + " --audit " + log + " --format json");
  ASSERT_EQ(r.exit_code, 1) << r.output;
  const auto report = boost::json::parse(r.output).as_object();
  EXPECT_EQ(report.at("totals").as_object().at("widen").as_int64(), 1) << r.output;
  const auto shop = find_change(report.at("changes").as_array(), "widen", "203.0.113.60:443");
  ASSERT_FALSE(shop.empty()) << r.output;
  EXPECT_EQ(shop.at("host").as_string(), "shop.example.com");
  EXPECT_EQ(shop.at("new").as_object().at("rule").as_string(), "named");
  EXPECT_EQ(egressctl("policy replay " + a() + " --audit " + log).exit_code, 0)
      << "unchanged under the policy that decided it";
}

TEST_F(EgressctlReplay, FailOnSelectsTheKind) {
  EXPECT_EQ(egressctl("policy replay " + b() + " --audit " + log_ + " --fail-on none").exit_code,
            0);
  EXPECT_EQ(egressctl("policy replay " + b() + " --audit " + log_ + " --fail-on tighten").exit_code,
            1);
  EXPECT_EQ(egressctl("policy replay " + b() + " --audit " + log_ + " --fail-on widen").exit_code,
            1);
  // The recording policy itself changes nothing (its own name rule still needs no 8443 name).
  const auto same = egressctl("policy replay " + a() + " --audit " + log_);
  EXPECT_EQ(same.exit_code, 0) << same.output;
  EXPECT_TRUE(contains(same.output, "0 tighten, 0 widen, 0 rule_changed, 7 unchanged"))
      << same.output;
  // A proposal that only removes a rule: tighten fails, widen does not.
  write_file(dir_.path() / "c" / "policy.yaml",
             std::string(kSettings) + "---\n" + kWeb + "---\n" + kNamedA);
  const std::string c = (dir_.path() / "c").string();
  EXPECT_EQ(egressctl("policy replay " + c + " --audit " + log_ + " --fail-on widen").exit_code, 0);
  EXPECT_EQ(egressctl("policy replay " + c + " --audit " + log_ + " --fail-on tighten").exit_code,
            1);
}

TEST_F(EgressctlReplay, BaselineComparesTwoPolicies) {
  // B against B: nothing differs, even though B differs from what was recorded.
  const auto same = egressctl("policy replay " + b() + " --baseline " + b() + " --audit " + log_ +
                              " --format json");
  EXPECT_EQ(same.exit_code, 0) << same.output;
  const auto report = boost::json::parse(same.output).as_object();
  EXPECT_EQ(report.at("changes").as_array().size(), 0u);
  EXPECT_EQ(report.at("baseline").as_object().at("dir").as_string(), b());
  // A as the baseline: the same differences as against the records.
  const auto ab = egressctl("policy replay " + b() + " --baseline " + a() + " --audit " + log_ +
                            " --format json");
  EXPECT_EQ(ab.exit_code, 1) << ab.output;
  const auto parsed_ab = boost::json::parse(ab.output);
  const auto& t = parsed_ab.as_object().at("totals").as_object();
  EXPECT_EQ(t.at("tighten").as_int64(), 2);
  EXPECT_EQ(t.at("widen").as_int64(), 2);
}

TEST_F(EgressctlReplay, SinceAndUntilWindowByTheRecordsTime) {
  const auto r = egressctl("policy replay " + b() + " --audit " + log_ +
                           " --since 2026-05-02 --until 2026-05-03T00:00:00Z --format json");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  const auto parsed_r = boost::json::parse(r.output);
  const auto& t = parsed_r.as_object().at("totals").as_object();
  EXPECT_EQ(t.at("decisions").as_int64(), 1);  // www only
  EXPECT_EQ(t.at("widen").as_int64(), 1);
  EXPECT_EQ(t.at("outside_window").as_int64(), 6);
  EXPECT_EQ(egressctl("policy replay " + b() + " --audit " + log_ + " --since yesterday").exit_code,
            2);
}

TEST_F(EgressctlReplay, RefusesATamperedLineNamingIt) {
  auto lines = audit::testing::read_lines(log_);
  const auto at = lines[2].find("\"deny\"");  // www, denied: now claims allow
  ASSERT_NE(at, std::string::npos);
  lines[2].replace(at, 6, "\"allow\"");
  std::ofstream out(log_, std::ios::trunc);
  for (const auto& l : lines) out << l << "\n";
  out.close();
  const auto r = egressctl("policy replay " + b() + " --audit " + log_);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "refused: the audit chain is broken (edited)")) << r.output;
  EXPECT_TRUE(contains(r.output, log_ + ":3: seq 3 was edited")) << r.output;
  EXPECT_FALSE(contains(r.output, "tighten")) << r.output;
  // --no-verify reads it anyway.
  EXPECT_EQ(egressctl("policy replay " + b() + " --audit " + log_ + " --no-verify").exit_code, 1);
  const auto u = egressctl("policy unused " + b() + " --audit " + log_);
  EXPECT_EQ(u.exit_code, 2) << u.output;
  EXPECT_TRUE(contains(u.output, log_ + ":3:")) << u.output;
}

TEST_F(EgressctlReplay, ReadsRotatedGzipFilesInOrder) {
  // logrotate: audit.jsonl.1.gz holds the first lines, audit.jsonl the rest; the chain spans both.
  const auto lines = audit::testing::read_lines(log_);
  const std::string old_plain = dir_.file("audit.jsonl.1");
  {
    std::ofstream older(old_plain, std::ios::trunc);
    for (std::size_t i = 0; i < 4; ++i) older << lines[i] << "\n";
    std::ofstream newer(log_, std::ios::trunc);
    for (std::size_t i = 4; i < lines.size(); ++i) newer << lines[i] << "\n";
  }
  const std::string old_gz = dir_.file("audit.jsonl.1.gz");
  gzip_file(old_plain, old_gz);
  const auto r =
      egressctl("policy replay " + b() + " --audit " + old_gz + " " + log_ + " --format json");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  const auto parsed_r = boost::json::parse(r.output);
  const auto& t = parsed_r.as_object().at("totals").as_object();
  EXPECT_EQ(t.at("decisions").as_int64(), 7);
  EXPECT_EQ(t.at("tighten").as_int64(), 2);
  // Out of order, the chain does not hold: refused.
  const auto swapped = egressctl("policy replay " + b() + " --audit " + log_ + " " + old_gz);
  EXPECT_EQ(swapped.exit_code, 2) << swapped.output;
  // audit verify and audit summary read .gz too.
  EXPECT_EQ(egressctl("audit verify " + old_gz + " " + log_).exit_code, 0);
  const auto summary = egressctl("audit summary --json " + old_gz + " " + log_);
  ASSERT_EQ(summary.exit_code, 0) << summary.output;
  const auto parsed_summary = boost::json::parse(summary.output);
  EXPECT_EQ(parsed_summary.at("records").as_int64(), 7) << summary.output;
  EXPECT_EQ(parsed_summary.at("malformed").as_int64(), 0) << summary.output;
}

TEST_F(EgressctlReplay, MarkdownIsATableForAPullRequest) {
  const auto r = egressctl("policy replay " + b() + " --audit " + log_ + " --format markdown");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "### Policy replay: this change alters decisions")) << r.output;
  EXPECT_TRUE(contains(r.output, "| 2 | 2 | 0 | 1 | 2 |")) << r.output;
  EXPECT_TRUE(contains(r.output, "#### tighten (allow -> deny)")) << r.output;
  EXPECT_TRUE(contains(r.output,
                       "| 2 | `192.0.2.2` | `203.0.113.20:443` | – | allow (rule api) | "
                       "deny (no rule) | 2026-05-01T10:00:00.000000Z | "
                       "2026-05-03T10:00:00.000000Z |"))
      << r.output;
}

TEST_F(EgressctlReplay, MaxGroupsCountsTheRest) {
  const auto r = egressctl("policy replay " + b() + " --audit " + log_ + " --max-groups 1");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "and 2 more group(s) (2 record(s)) not listed")) << r.output;
}

TEST_F(EgressctlReplay, UsageErrorsExitTwo) {
  EXPECT_EQ(egressctl("policy replay " + b()).exit_code, 2);  // no --audit
  EXPECT_EQ(egressctl("policy replay " + b() + " --audit " + log_ + " --fail-on some").exit_code,
            2);
  EXPECT_EQ(egressctl("policy replay " + b() + " --audit " + dir_.file("missing")).exit_code, 2);
  EXPECT_EQ(egressctl("policy replay " + dir_.file("nodir") + " --audit " + log_).exit_code, 2);
}

TEST_F(EgressctlReplay, UnusedListsRulesAndDocumentsThatDecidedNothing) {
  write_file(dir_.path() / "u" / "policy.yaml",
             std::string(kSettings) + "---\n" + kWeb + "---\n" + kApi +
                 "---\nkind: Destination\nname: nowhere\ncidrs: [198.51.100.0/24]\n"
                 "---\nkind: Rule\nid: never\naction: allow\nfrom: [{source: 192.0.2.0/24}]\n"
                 "to: [{destination: nowhere}]\n"
                 "---\nkind: Rule\nid: trial\naction: allow\nmode: report\n"
                 "from: [{source: 192.0.2.0/24}]\nto: [{cidrs: [203.0.113.30/32]}]\n");
  const std::string u = (dir_.path() / "u").string();
  const auto r = egressctl("policy unused " + u + " --audit " + log_ + " --format json");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  const auto report = boost::json::parse(r.output).as_object();
  const auto& unused = report.at("unused").as_object();
  EXPECT_EQ(boost::json::serialize(unused.at("rules")), R"(["never"])");
  EXPECT_EQ(boost::json::serialize(unused.at("destinations")), R"(["nowhere"])");
  for (const auto& rule : report.at("rules").as_array()) {
    const auto& o = rule.as_object();
    if (o.at("id") == "web") {
      EXPECT_EQ(o.at("decided").as_int64(), 1);
    }
    if (o.at("id") == "api") {
      EXPECT_EQ(o.at("decided").as_int64(), 2);
    }
    if (o.at("id") == "trial") {
      EXPECT_EQ(o.at("mode").as_string(), "report");
      EXPECT_EQ(o.at("would_decide").as_int64(), 2);  // both records to .30
    }
  }
  const auto text = egressctl("policy unused " + u + " --audit " + log_);
  EXPECT_TRUE(contains(text.output, "  never (policy.yaml:")) << text.output;
  EXPECT_TRUE(contains(text.output, "  trial (policy.yaml:")) << text.output;
  EXPECT_TRUE(contains(text.output, "unused Destination nowhere")) << text.output;
  // A policy whose every rule decided: exit 0.
  write_file(dir_.path() / "w" / "policy.yaml", std::string(kSettings) + "---\n" + kWeb);
  const auto all = egressctl("policy unused " + (dir_.path() / "w").string() + " --audit " + log_);
  EXPECT_EQ(all.exit_code, 0) << all.output;
}

}  // namespace
}  // namespace egress::ctl
