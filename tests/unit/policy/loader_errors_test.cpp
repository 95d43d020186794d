// Every error of the policy language, with its exact file:line:col and message (issue 2).
#include "policy/loader.hpp"

#include <gtest/gtest.h>

#include "test_util.hpp"

namespace egress::policy {
namespace {

using testing::errors_of;
using testing::load_text;

struct ErrorCase {
  const char* name;
  const char* yaml;      // file "p.yaml"; Settings come from 00-settings.yaml
  const char* expected;  // one full diagnostic line
};

class LoaderErrors : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(LoaderErrors, ReportsPositionKeyAndMessage) {
  const auto& c = GetParam();
  auto r = load_text(c.yaml);
  EXPECT_FALSE(r.policy);
  EXPECT_NE(errors_of(r).find(std::string(c.expected) + "\n"), std::string::npos)
      << "expected: " << c.expected << "\ngot:\n"
      << errors_of(r);
}

INSTANTIATE_TEST_SUITE_P(
    Table, LoaderErrors,
    ::testing::Values(
        ErrorCase{"unknown_key_rule",
                  "kind: Rule\nid: r1\naction: allow\nfrom: [{any: true}]\nto: [{any: "
                  "true}]\nacton: deny\n",
                  "p.yaml:6:1: error: acton: unknown key \"acton\" in Rule, did you mean "
                  "\"action\"? (allowed: kind, id, action, mode, from, to, expires, description)"},
        ErrorCase{
            "unknown_key_entry",
            "kind: Rule\nid: r1\naction: allow\nfrom: [{any: true}]\nto:\n  - cidrs: "
            "[192.0.2.0/24]\n    port: 443\n",
            "p.yaml:7:5: error: to[0].port: unknown key \"port\" in a destination entry, "
            "did you mean \"ports\"? (allowed: hosts, cidrs, except, ports, destination, any)"},
        ErrorCase{"unknown_kind", "kind: Rules\n",
                  "p.yaml:1:7: error: kind: unknown kind \"Rules\" (Settings, Role, Destination, "
                  "Rule or PolicyTest)"},
        ErrorCase{"missing_kind", "id: r1\n",
                  "p.yaml:1:1: error: kind: missing required key \"kind\" (Settings, Role, "
                  "Destination, Rule or PolicyTest)"},
        ErrorCase{"not_a_mapping", "- a\n- b\n",
                  "p.yaml:1:1: error: a document must be a mapping with a kind"},
        ErrorCase{"wrong_type_action",
                  "kind: Rule\nid: r1\naction: [allow]\nfrom: [{any: true}]\nto: [{any: true}]\n",
                  "p.yaml:3:9: error: action: expected a string, found a list"},
        ErrorCase{"bad_action",
                  "kind: Rule\nid: r1\naction: permit\nfrom: [{any: true}]\nto: [{any: true}]\n",
                  "p.yaml:3:9: error: action: expected allow or deny, found \"permit\""},
        ErrorCase{"bad_mode",
                  "kind: Rule\nid: r1\naction: allow\nmode: audit\nfrom: [{any: true}]\nto: [{any: "
                  "true}]\n",
                  "p.yaml:4:7: error: mode: expected enforce or report, found \"audit\""},
        ErrorCase{"wrong_type_from",
                  "kind: Rule\nid: r1\naction: allow\nfrom: {any: true}\nto: [{any: true}]\n",
                  "p.yaml:4:7: error: from: expected a list, found a mapping"},
        ErrorCase{
            "wrong_type_any",
            "kind: Rule\nid: r1\naction: allow\nfrom: [{any: yes please}]\nto: [{any: true}]\n",
            "p.yaml:4:14: error: from[0].any: expected true or false, found \"yes please\""},
        ErrorCase{
            "any_false",
            "kind: Rule\nid: r1\naction: allow\nfrom: [{any: false}]\nto: [{any: true}]\n",
            "p.yaml:4:14: error: from[0].any: any: false is not allowed; remove the entry instead"},
        ErrorCase{
            "any_combined",
            "kind: Rule\nid: r1\naction: allow\nfrom: [{any: true, source: 192.0.2.0/24}]\nto: "
            "[{any: true}]\n",
            "p.yaml:4:14: error: from[0].any: any: true cannot be combined with other fields"},
        ErrorCase{"missing_id",
                  "kind: Rule\naction: allow\nfrom: [{any: true}]\nto: [{any: true}]\n",
                  "p.yaml:1:1: error: id: missing required key \"id\" in Rule"},
        ErrorCase{"missing_from", "kind: Rule\nid: r1\naction: allow\nto: [{any: true}]\n",
                  "p.yaml:1:1: error: from: missing required key \"from\" in Rule"},
        ErrorCase{"empty_from", "kind: Rule\nid: r1\naction: allow\nfrom: []\nto: [{any: true}]\n",
                  "p.yaml:4:7: error: from: empty from (write [{any: true}] for everyone)"},
        ErrorCase{"empty_to", "kind: Rule\nid: r1\naction: allow\nfrom: [{any: true}]\nto: []\n",
                  "p.yaml:5:5: error: to: empty to (write [{any: true}] for everyone)"},
        ErrorCase{"empty_entry",
                  "kind: Rule\nid: r1\naction: allow\nfrom: [{}]\nto: [{any: true}]\n",
                  "p.yaml:4:8: error: from[0]: empty entry; the wildcard is written {any: true}"},
        ErrorCase{"host_bits",
                  "kind: Rule\nid: r1\naction: allow\nfrom: [{any: true}]\nto: [{cidrs: "
                  "[203.0.113.5/24]}]\n",
                  "p.yaml:5:15: error: to[0].cidrs[0]: \"203.0.113.5/24\" has host bits set; did "
                  "you mean 203.0.113.0/24?"},
        ErrorCase{"host_bits_v6",
                  "kind: Rule\nid: r1\naction: allow\nfrom: [{source: \"2001:db8::1/64\"}]\nto: "
                  "[{any: true}]\n",
                  "p.yaml:4:17: error: from[0].source: \"2001:db8::1/64\" has host bits set; did "
                  "you mean 2001:db8::/64?"},
        ErrorCase{
            "bad_cidr",
            "kind: Rule\nid: r1\naction: allow\nfrom: [{any: true}]\nto: [{cidrs: "
            "[300.1.1.1/32]}]\n",
            "p.yaml:5:15: error: to[0].cidrs[0]: \"300.1.1.1/32\" is not an IP address or CIDR"},
        ErrorCase{"unknown_builtin",
                  "kind: Rule\nid: r1\naction: allow\nfrom: [{any: true}]\nto: [{cidrs: "
                  "[builtin:private]}]\n",
                  "p.yaml:5:15: error: to[0].cidrs[0]: unknown built-in set \"builtin:private\" "
                  "(known: builtin:non_public, builtin:metadata)"},
        ErrorCase{"port_zero",
                  "kind: Rule\nid: r1\naction: allow\nfrom: [{any: true}]\nto: [{ports: [0]}]\n",
                  "p.yaml:5:15: error: to[0].ports[0]: port \"0\" is outside 1-65535"},
        ErrorCase{
            "port_too_big",
            "kind: Rule\nid: r1\naction: allow\nfrom: [{any: true}]\nto: [{ports: [443, 65536]}]\n",
            "p.yaml:5:20: error: to[0].ports[1]: port \"65536\" is outside 1-65535"},
        ErrorCase{"port_range_too_big", "kind: Destination\nname: d\nports: [\"1-70000\"]\n",
                  "p.yaml:3:9: error: ports[0]: port \"1-70000\" is outside 1-65535"},
        ErrorCase{"port_reversed", "kind: Destination\nname: d\nports: [\"8450-8443\"]\n",
                  "p.yaml:3:9: error: ports[0]: port range \"8450-8443\" is reversed; did you mean "
                  "\"8443-8450\"?"},
        ErrorCase{"port_garbage", "kind: Destination\nname: d\nports: [https]\n",
                  "p.yaml:3:9: error: ports[0]: \"https\" is not a port number or an inclusive "
                  "\"lo-hi\" range"},
        ErrorCase{"bad_regex",
                  "kind: Role\nname: r\nmembers:\n  - identity: \"regex:spiffe://(a\"\n",
                  "p.yaml:4:15: error: members[0].identity: invalid RE2 pattern \"spiffe://(a\": "
                  "missing ): spiffe://(a"},
        ErrorCase{
            "bad_cn_regex", "kind: Role\nname: r\nmembers:\n  - common_name: \"regex:a[\"\n",
            "p.yaml:4:18: error: members[0].common_name: invalid RE2 pattern \"a[\": missing ]: ["},
        ErrorCase{"glob_in_trust_domain",
                  "kind: Role\nname: r\nmembers:\n  - identity: \"spiffe://*/ns/a\"\n",
                  "p.yaml:4:15: error: members[0].identity: \"spiffe://*/ns/a\": '*' is not "
                  "allowed in the scheme or trust domain, only in path segments"},
        ErrorCase{"glob_double_star_inside",
                  "kind: Role\nname: r\nmembers:\n  - identity: \"spiffe://corp/**/sa\"\n",
                  "p.yaml:4:15: error: members[0].identity: \"spiffe://corp/**/sa\": '**' is only "
                  "allowed as the final segment (\".../**\")"},
        ErrorCase{"dns_star_inside",
                  "kind: Role\nname: r\nmembers:\n  - dns_name: \"api.*.example.com\"\n",
                  "p.yaml:4:15: error: members[0].dns_name: \"api.*.example.com\": '*' is only "
                  "allowed as the whole first label (\"*.example.com\")"},
        ErrorCase{"cn_star", "kind: Role\nname: r\nmembers:\n  - common_name: \"build-*\"\n",
                  "p.yaml:4:18: error: members[0].common_name: \"build-*\": '*' is not a wildcard "
                  "in common_name; write regex: for a pattern"},
        ErrorCase{"role_in_role", "kind: Role\nname: r\nmembers:\n  - role: other\n",
                  "p.yaml:4:5: error: members[0].role: unknown key \"role\" in a role member "
                  "(allowed: identity, dns_name, common_name, source, any)"},
        ErrorCase{"bad_expires",
                  "kind: Rule\nid: r1\naction: allow\nfrom: [{any: true}]\nto: [{any: "
                  "true}]\nexpires: 2027-02-30T00:00:00Z\n",
                  "p.yaml:6:10: error: expires: \"2027-02-30T00:00:00Z\" is not an RFC 3339 "
                  "date-time from 1678 to 2261 (e.g. 2027-03-31T00:00:00Z)"},
        // Found by libFuzzer: a year the clock cannot hold overflowed the conversion (UB).
        ErrorCase{"expires_before_the_clock",
                  "kind: Rule\nid: r1\naction: allow\nfrom: [{any: true}]\nto: [{any: "
                  "true}]\nexpires: 1013-06-30T00:00:00Z\n",
                  "p.yaml:6:10: error: expires: \"1013-06-30T00:00:00Z\" is not an RFC 3339 "
                  "date-time from 1678 to 2261 (e.g. 2027-03-31T00:00:00Z)"},
        ErrorCase{"bad_expires_date_only",
                  "kind: Rule\nid: r1\naction: allow\nfrom: [{any: true}]\nto: [{any: "
                  "true}]\nexpires: 2027-03-31\n",
                  "p.yaml:6:10: error: expires: \"2027-03-31\" is not an RFC 3339 date-time from "
                  "1678 to 2261 (e.g. "
                  "2027-03-31T00:00:00Z)"},
        ErrorCase{"unknown_role",
                  "kind: Rule\nid: r1\naction: allow\nfrom: [{role: nobody}]\nto: [{any: true}]\n",
                  "p.yaml:4:15: error: from[0].role: unknown role \"nobody\""},
        ErrorCase{"unknown_destination",
                  "kind: Rule\nid: r1\naction: allow\nfrom: [{any: true}]\nto:\n  - destination: "
                  "nowhere\n",
                  "p.yaml:6:18: error: to[0].destination: unknown destination \"nowhere\""},
        ErrorCase{
            "duplicate_rule_id",
            "kind: Rule\nid: r1\naction: allow\nfrom: [{any: true}]\nto: [{any: true}]\n---\nkind: "
            "Rule\nid: r1\naction: deny\nfrom: [{any: true}]\nto: [{any: true}]\n",
            "p.yaml:7:1: error: id: duplicate rule id \"r1\" (first defined at p.yaml:1)"},
        ErrorCase{"duplicate_role",
                  "kind: Role\nname: a\nmembers: [{any: true}]\n---\nkind: Role\nname: a\nmembers: "
                  "[{any: true}]\n",
                  "p.yaml:5:1: error: name: duplicate role name \"a\" (first defined at p.yaml:1)"},
        ErrorCase{
            "duplicate_destination",
            "kind: Destination\nname: d\nports: [1]\n---\nkind: Destination\nname: d\nports: [2]\n",
            "p.yaml:5:1: error: name: duplicate destination name \"d\" (first defined at "
            "p.yaml:1)"},
        ErrorCase{"second_settings", "kind: Settings\ndefault: allow\n",
                  "p.yaml:1:1: error: kind: a second Settings document (the first is at "
                  "00-settings.yaml:1); exactly one is allowed"},
        ErrorCase{
            "settings_unknown_key", "kind: Settings\ndefualt: allow\n",
            "p.yaml:2:1: error: defualt: unknown key \"defualt\" in Settings, did you "
            "mean \"default\"? (allowed: kind, default, mode, deny_destinations, deny_exceptions, "
            "host_verification)"},
        ErrorCase{
            "duplicate_key",
            "kind: Rule\nid: r1\nid: r2\naction: allow\nfrom: [{any: true}]\nto: [{any: true}]\n",
            "p.yaml:3:1: error: id: duplicate key \"id\""},
        ErrorCase{"empty_destination_doc", "kind: Destination\nname: d\n",
                  "p.yaml:1:1: error: cidrs: a Destination needs hosts, cidrs or ports (any of "
                  "them, AND-ed)"},
        // hosts (issue 19): names only, in their ASCII form, "*" only as the first label.
        ErrorCase{"hosts_ip_literal",
                  "kind: Rule\nid: r1\naction: allow\nfrom: [{any: true}]\nto:\n  - hosts: "
                  "[api.stripe.com, 203.0.113.7]\n",
                  "p.yaml:6:29: error: to[0].hosts[1]: \"203.0.113.7\" is an IP address; hosts "
                  "takes names (write addresses in cidrs)"},
        ErrorCase{"hosts_ipv6_literal",
                  "kind: Rule\nid: r1\naction: allow\nfrom: [{any: true}]\nto:\n  - hosts: "
                  "\"[2001:db8::1]\"\n",
                  "p.yaml:6:12: error: to[0].hosts: \"[2001:db8::1]\" is an IP address; hosts "
                  "takes names (write addresses in cidrs)"},
        ErrorCase{"hosts_inet_aton_literal", "kind: Destination\nname: d\nhosts: [\"0x7f.1\"]\n",
                  "p.yaml:3:9: error: hosts[0]: \"0x7f.1\" is an IP address; hosts takes names "
                  "(write addresses in cidrs)"},
        ErrorCase{
            "hosts_unicode",
            "kind: Destination\nname: d\nhosts: [\"b\xC3\xBC"
            "cher.example\"]\n",
            "p.yaml:3:9: error: hosts[0]: \"b\xC3\xBC"
            "cher.example\" is not ASCII; write an "
            "internationalised name as its A-label (xn--..., e.g. with `idn2`), which is what "
            "clients send"},
        ErrorCase{"hosts_inner_star",
                  "kind: Rule\nid: r1\naction: allow\nfrom: [{any: true}]\nto: [{hosts: "
                  "[\"api.*.example.com\"]}]\n",
                  "p.yaml:5:15: error: to[0].hosts[0]: \"api.*.example.com\": * is allowed only "
                  "as the whole first label (\"*.example.com\": any name below example.com, never "
                  "example.com itself)"},
        ErrorCase{"hosts_partial_star", "kind: Destination\nname: d\nhosts: [\"*stripe.com\"]\n",
                  "p.yaml:3:9: error: hosts[0]: \"*stripe.com\": * is allowed only as the whole "
                  "first label (\"*.example.com\": any name below example.com, never example.com "
                  "itself)"},
        ErrorCase{"hosts_underscore", "kind: Destination\nname: d\nhosts: [a_b.example.com]\n",
                  "p.yaml:3:9: error: hosts[0]: \"a_b.example.com\" is not a host name: character "
                  "other than a letter, digit, hyphen or dot"},
        ErrorCase{"hosts_empty_label", "kind: Destination\nname: d\nhosts: [a..example.com]\n",
                  "p.yaml:3:9: error: hosts[0]: \"a..example.com\" is not a host name: empty "
                  "label"},
        ErrorCase{"hosts_empty_list",
                  "kind: Rule\nid: r1\naction: allow\nfrom: [{any: true}]\nto: [{hosts: []}]\n",
                  "p.yaml:5:14: error: to[0].hosts: empty hosts list (leave hosts out to match any "
                  "name)"},
        ErrorCase{"host_verification_value", "kind: Settings\nhost_verification: lax\n",
                  "p.yaml:2:20: error: host_verification: expected strict, report or off, found "
                  "\"lax\""},
        ErrorCase{"test_resolves_to_not_ip",
                  "kind: PolicyTest\ncases:\n  - {src: 192.0.2.2, dst: 203.0.113.7:443, host: "
                  "a.example.com, resolves_to: [a.example.net], expect: deny}\n",
                  "p.yaml:3:79: error: cases[0].resolves_to[0]: \"a.example.net\" is not an IP "
                  "address"},
        ErrorCase{"test_resolves_to_without_host",
                  "kind: PolicyTest\ncases:\n  - {src: 192.0.2.2, dst: 203.0.113.7:443, "
                  "resolves_to: 203.0.113.7, expect: deny}\n",
                  "p.yaml:3:57: error: cases[0].resolves_to: resolves_to needs host (the name "
                  "that resolves)"},
        ErrorCase{"invalid_yaml", "kind: Rule\nid: [r1\n",
                  "p.yaml:3:1: error: invalid YAML: end of sequence flow not found"},
        ErrorCase{"invalid_yaml_tab", "kind: Rule\nfrom:\n\t- any: true\n",
                  "p.yaml:3:2: error: invalid YAML: illegal block entry"},
        ErrorCase{"test_bad_dst",
                  "kind: PolicyTest\ncases:\n  - src: 192.0.2.2\n    dst: 2001:db8::1:443\n    "
                  "expect: allow\n",
                  "p.yaml:4:10: error: cases[0].dst: \"2001:db8::1:443\" is not IP:PORT (IPv6 in "
                  "brackets: [2001:db8::1]:443)"},
        ErrorCase{"test_bad_expect",
                  "kind: PolicyTest\ncases:\n  - src: 192.0.2.2\n    dst: 192.0.2.1:443\n    "
                  "expect: maybe\n",
                  "p.yaml:5:13: error: cases[0].expect: expected allow or deny, found \"maybe\""}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(LoaderErrors, AllErrorsInOneRunAcrossFiles) {
  std::vector<SourceFile> files{
      {"00-settings.yaml", "kind: Settings\ndefault: maybe\n"},
      {"10-rules.yaml",
       "kind: Rule\nid: a\naction: allow\nfrom: [{role: ghost}]\nto: [{cidrs: [10.0.0.1/8]}]\n"
       "---\nkind: Rule\nid: b\naction: allow\nfrom: []\nto: [{ports: [0]}]\nextra: 1\n"},
      {"20-broken.yaml", "kind: [\n"},
  };
  auto r = load_policy_sources(files);
  EXPECT_FALSE(r.policy);
  const std::string all = testing::errors_of(r);
  for (const char* line : {
           "00-settings.yaml:2:10: error: default: expected allow or deny, found \"maybe\"",
           "10-rules.yaml:5:15: error: to[0].cidrs[0]: \"10.0.0.1/8\" has host bits set; did you "
           "mean 10.0.0.0/8?",
           "10-rules.yaml:12:1: error: extra: unknown key \"extra\" in Rule",
           "10-rules.yaml:10:7: error: from: empty from",
           "10-rules.yaml:11:15: error: to[0].ports[0]: port \"0\" is outside 1-65535",
           "10-rules.yaml:4:15: error: from[0].role: unknown role \"ghost\"",
           "20-broken.yaml:2:1: error: invalid YAML",
       }) {
    EXPECT_NE(all.find(line), std::string::npos) << "missing: " << line << "\nin:\n" << all;
  }
  EXPECT_GE(r.errors.size(), 7u);
}

TEST(LoaderErrors, MissingSettings) {
  auto r = load_policy_sources({{"a.yaml", "kind: Role\nname: x\nmembers: [{any: true}]\n"}}, {},
                               "policy");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].to_string(),
            "policy: error: Settings: no Settings document in the policy; exactly one is required");
}

TEST(LoaderErrors, NoFiles) {
  auto r = load_policy_sources({}, {}, "policy");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].to_string(), "policy: error: no *.yaml files");
}

TEST(LoaderErrors, TestDirectoryHoldsOnlyTests) {
  auto out = parse_sources({{"t.yaml", "kind: Settings\n"}}, SourceKind::tests_only);
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_EQ(out.errors[0].to_string(),
            "t.yaml:1:7: error: kind: only PolicyTest documents belong in a test directory, found "
            "Settings");
}

TEST(Loader, AcceptsTheWholeLanguage) {
  auto r = load_text(R"(kind: Role
name: web
members:
  - identity: "spiffe://corp.example/ns/web/sa/*"
  - identity: "spiffe://corp.example/ns/batch/**"
  - identity: "regex:spiffe://corp\\.example/ns/team-[0-9]+/sa/.+"
  - dns_name: "*.svc.example.com."
  - dns_name: Api.Example.com
  - common_name: legacy-client
  - common_name: "regex:build-[0-9]+"
  - source: [192.0.2.0/28, "2001:db8:1::/64"]
  - {source: 198.51.100.0/24, common_name: batch}
---
kind: Destination
name: d
cidrs: 203.0.113.0/24
except: [203.0.113.7]
ports: [443, "8443-8450", 1, 65535]
---
kind: Rule
id: r
action: allow
mode: report
from: [{role: web}, {any: true}]
to: [{destination: d, ports: [443]}, {cidrs: ["::ffff:198.51.100.0/120"], except: [builtin:metadata]}]
expires: 2030-01-01T00:00:00+01:00
description: everything at once
---
---
)");
  EXPECT_TRUE(r.errors.empty()) << errors_of(r);
  ASSERT_TRUE(r.policy);
  EXPECT_EQ(r.policy->rule_count(), 1u);
  const auto& rule = r.policy->rules()[0];
  EXPECT_EQ(rule.id, "r");
  EXPECT_EQ(rule.file, "p.yaml");
  EXPECT_EQ(rule.line, 20);
  EXPECT_TRUE(rule.report);
  EXPECT_EQ(clock::format_rfc3339(*rule.expires), "2029-12-31T23:00:00Z");
}

}  // namespace
}  // namespace egress::policy
