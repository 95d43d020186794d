#include "config/config.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace egress::config {
namespace {

using std::chrono::milliseconds;

const char* kIssueExample = R"(workers: 2
listeners:
  - name: egress
    address: "0.0.0.0:15001"
    destination: original_dst
upstream:
  connect_timeout: 5s
  idle_timeout: 1h
  max_duration: 0s
  mark: 0
policy:
  dir: policy/
audit:
  path: audit.jsonl
limits:
  max_connections: 10000
drain_timeout: 30s
)";

std::vector<std::string> messages(const LoadResult& r) {
  std::vector<std::string> out;
  for (const auto& e : r.errors) out.push_back(e.to_string());
  return out;
}

TEST(Config, IssueExampleLoadsWithItsValues) {
  const auto r = parse_config(kIssueExample, "/etc/egressd/egressd.yaml");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(messages(r));
  const GatewayConfig& c = *r.config;
  EXPECT_EQ(c.workers, 2u);
  ASSERT_EQ(c.listeners.size(), 1u);
  EXPECT_EQ(c.listeners[0].name, "egress");
  EXPECT_EQ(c.listeners[0].address.to_string(), "0.0.0.0:15001");
  EXPECT_EQ(c.listeners[0].destination, DestinationMode::original_dst);
  EXPECT_EQ(c.listeners[0].tls.mode, tls::Mode::off);
  EXPECT_EQ(c.upstream.connect_timeout, milliseconds(5000));
  EXPECT_EQ(c.upstream.idle_timeout, milliseconds(3600000));
  EXPECT_EQ(c.upstream.max_duration, milliseconds(0));
  EXPECT_EQ(c.upstream.mark, 0u);
  EXPECT_EQ(c.max_connections, 10000u);
  EXPECT_EQ(c.drain_timeout, milliseconds(30000));
  EXPECT_EQ(c.admin_address.to_string(), "127.0.0.1:9901");
  // Relative paths resolve against the config file's directory.
  EXPECT_EQ(c.policy_dir, std::filesystem::path("/etc/egressd/policy/"));
  EXPECT_EQ(c.audit.path, "/etc/egressd/audit.jsonl");
}

TEST(Config, AbsolutePathsAndStdoutStayAsWritten) {
  const auto r = parse_config(R"(listeners: [{name: a, address: "127.0.0.1:1"}]
policy: {dir: /srv/policy}
audit: {path: "-"}
)",
                              "/etc/egressd/egressd.yaml");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(messages(r));
  EXPECT_EQ(r.config->policy_dir, std::filesystem::path("/srv/policy"));
  EXPECT_EQ(r.config->audit.path, "-");
}

TEST(Config, UnknownKeysAndBadValuesAreAllReportedWithPositions) {
  const auto r = parse_config(R"(workers: two
listeners:
  - name: egress
    address: "0.0.0.0:15001"
    destination: redirect
    colour: blue
upstream:
  connect_timeout: 5
  idle_timeout: 1h
policy:
  dir: policy/
drain_timeot: 30s
)",
                              "cfg/egressd.yaml");
  EXPECT_FALSE(r.config);
  EXPECT_EQ(messages(r),
            (std::vector<std::string>{
                "cfg/egressd.yaml:1:10: error: workers: \"two\" is not an integer",
                "cfg/egressd.yaml:5:18: error: listeners[0].destination: \"redirect\" is not one "
                "of original_dst | tproxy | connect",
                "cfg/egressd.yaml:6:5: error: listeners[0].colour: unknown key \"colour\" in a "
                "listener (allowed: name, address, destination, max_connections, tls, peek, "
                "proxy_protocol, connect_request_timeout)",
                "cfg/egressd.yaml:8:20: error: upstream.connect_timeout: \"5\" is not a duration "
                "(e.g. 500ms, 5s, 2m, 1h)",
                "cfg/egressd.yaml:12:1: error: drain_timeot: unknown key \"drain_timeot\" in the "
                "config, did you mean \"drain_timeout\"? (allowed: workers, listeners, "
                "upstream, dns, policy, audit, admin, limits, drain_timeout)",
            }));
}

TEST(Config, MissingRequiredKeys) {
  const auto r = parse_config("workers: 1\nlisteners:\n  - name: x\n", "c.yaml");
  EXPECT_EQ(messages(r),
            (std::vector<std::string>{
                "c.yaml:1:1: error: policy: missing required key \"policy\" in the config",
                "c.yaml:3:5: error: listeners[0].address: missing required key "
                "\"address\" in a listener",
            }));
}

TEST(Config, YamlSyntaxErrorHasPosition) {
  const auto r = parse_config("workers: [1\n", "c.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].file, "c.yaml");
  EXPECT_GT(r.errors[0].line, 0);
}

TEST(Config, EmptyFileIsAnError) {
  const auto r = parse_config("", "c.yaml");
  EXPECT_EQ(messages(r), (std::vector<std::string>{"c.yaml: error: the config is empty"}));
}

TEST(Config, BadAddressesAndDuplicates) {
  const auto r = parse_config(R"(listeners:
  - {name: a, address: "0.0.0.0"}
  - {name: b, address: "[::]:15001"}
  - {name: b, address: "[::]:15001"}
  - {name: "c d", address: "127.0.0.1:9901"}
policy: {dir: p}
)",
                              "c.yaml");
  EXPECT_EQ(
      messages(r),
      (std::vector<std::string>{
          "c.yaml:2:24: error: listeners[0].address: \"0.0.0.0\" is not an address:port (e.g. "
          "\"0.0.0.0:15001\", \"[::]:15001\")",
          "c.yaml:4:5: error: listeners[2].name: duplicate listener name \"b\" (also "
          "listeners[1])",
          "c.yaml:4:5: error: listeners[2].address: duplicate address [::]:15001 (also "
          "listeners[1])",
          "c.yaml:5:5: error: listeners[3].address: conflicts with admin.address 127.0.0.1:9901",
          "c.yaml:5:12: error: listeners[3].name: \"c d\" may contain only letters, digits, "
          "'-', '_', '.'",
      }));
}

TEST(Config, DualStackUnlessAnIpv4ListenerSharesThePort) {
  auto r = parse_config(R"(listeners: [{name: a, address: "[::]:15001"}]
policy: {dir: p}
)",
                        "c.yaml");
  ASSERT_TRUE(r.config);
  EXPECT_FALSE(r.config->listeners[0].v6_only);
  r = parse_config(R"(listeners:
  - {name: a, address: "0.0.0.0:15001"}
  - {name: b, address: "[::]:15001", destination: tproxy}
  - {name: c, address: "[::]:15002"}
policy: {dir: p}
)",
                   "c.yaml");
  ASSERT_TRUE(r.config);
  EXPECT_TRUE(r.config->listeners[1].v6_only);
  EXPECT_EQ(r.config->listeners[1].destination, DestinationMode::tproxy);
  EXPECT_FALSE(r.config->listeners[2].v6_only);
}

TEST(Config, TlsAuditAdminLimitsSections) {
  const auto r = parse_config(R"(listeners:
  - name: egress
    address: "0.0.0.0:15001"
    max_connections: 50
    tls:
      mode: required
      cert: ../certs/out/gateway.pem
      key: ../certs/out/gateway.key
      client_ca: ../certs/out/ca.pem
      crl: ../certs/out/ca.crl
      min_version: "1.3"
      handshake_timeout: 2s
      allow_insecure_key_permissions: true
policy: {dir: p}
audit:
  path: /var/log/egressd/audit.jsonl
  write_ahead: false
  on_overflow: drop
  on_error: continue
  fsync: interval
  fsync_interval: 250ms
  queue_capacity: 1024
  gateway_id: egress-eu-1.prod
admin: {address: "[::1]:9000"}
limits: {max_connections: 7}
)",
                              "/etc/egressd/config/egressd.yaml");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(messages(r));
  const auto& c = *r.config;
  const auto& t = c.listeners[0].tls;
  EXPECT_EQ(c.listeners[0].max_connections, 50u);
  EXPECT_EQ(t.mode, tls::Mode::required);
  EXPECT_EQ(t.cert, std::filesystem::path("/etc/egressd/certs/out/gateway.pem"));
  EXPECT_EQ(t.key, std::filesystem::path("/etc/egressd/certs/out/gateway.key"));
  EXPECT_EQ(t.client_ca, std::filesystem::path("/etc/egressd/certs/out/ca.pem"));
  EXPECT_EQ(t.crl, std::filesystem::path("/etc/egressd/certs/out/ca.crl"));
  EXPECT_EQ(t.min_version, tls::MinVersion::tls1_3);
  EXPECT_EQ(t.handshake_timeout, milliseconds(2000));
  EXPECT_TRUE(t.allow_insecure_key_permissions);
  EXPECT_EQ(c.audit.path, "/var/log/egressd/audit.jsonl");
  EXPECT_FALSE(c.audit.write_ahead);
  EXPECT_EQ(c.audit.on_overflow, audit::Options::Overflow::drop);
  EXPECT_EQ(c.audit.on_error, audit::Options::OnError::continue_);
  EXPECT_EQ(c.audit.fsync, audit::Options::Fsync::interval);
  EXPECT_EQ(c.audit.fsync_interval, milliseconds(250));
  EXPECT_EQ(c.audit.queue_capacity, 1024u);
  EXPECT_EQ(c.audit.gateway_id, "egress-eu-1.prod");
  EXPECT_EQ(c.admin_address.to_string(), "[::1]:9000");
  EXPECT_EQ(c.max_connections, 7u);
}

// audit.gateway_id is written into every record: absent, the audit log uses the host name; a
// value a SIEM could not join on (spaces, control characters, too long) is an error.
TEST(Config, AuditGatewayId) {
  const auto absent =
      parse_config("listeners: [{name: e, address: \"0.0.0.0:1\"}]\npolicy: {dir: p}\n", "c.yaml");
  ASSERT_TRUE(absent.config) << ::testing::PrintToString(messages(absent));
  EXPECT_EQ(absent.config->audit.gateway_id, "");
  const auto bad = parse_config(R"(listeners: [{name: e, address: "0.0.0.0:1"}]
policy: {dir: p}
audit: {gateway_id: "egress a"}
)",
                                "c.yaml");
  EXPECT_EQ(messages(bad), (std::vector<std::string>{
                               "c.yaml:3:21: error: audit.gateway_id: must be 1 to 253 printable "
                               "ASCII characters without spaces, got \"egress a\""}));
  const auto empty = parse_config(R"(listeners: [{name: e, address: "0.0.0.0:1"}]
policy: {dir: p}
audit: {gateway_id: ""}
)",
                                  "c.yaml");
  EXPECT_FALSE(empty.config);
}

TEST(Config, TlsModeNeedsItsFiles) {
  const auto r = parse_config(R"(listeners:
  - name: egress
    address: "0.0.0.0:15001"
    tls: {mode: optional, cert: c.pem, min_version: "1.1"}
policy: {dir: p}
)",
                              "c.yaml");
  EXPECT_EQ(messages(r),
            (std::vector<std::string>{
                "c.yaml:4:10: error: listeners[0].tls.key: required when tls.mode is optional",
                "c.yaml:4:10: error: listeners[0].tls.client_ca: required when tls.mode is "
                "optional",
                "c.yaml:4:53: error: listeners[0].tls.min_version: \"1.1\" is not one of 1.2 | 1.3",
            }));
}

TEST(Config, TlsCrlCheck) {
  const auto r = parse_config(R"(listeners:
  - name: a
    address: "127.0.0.1:15001"
    tls: {mode: required, cert: c.pem, key: k.pem, client_ca: ca.pem, crl: ca.crl}
  - name: b
    address: "127.0.0.1:15002"
    tls: {mode: required, cert: c.pem, key: k.pem, client_ca: ca.pem, crl: d/, crl_check: leaf}
  - name: c
    address: "127.0.0.1:15003"
    tls: {mode: required, cert: c.pem, key: k.pem, client_ca: ca.pem, crl: x, crl_check: chain}
policy: {dir: p}
)",
                              "c.yaml");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(messages(r));
  const auto& l = r.config->listeners;
  EXPECT_EQ(l[0].tls.crl_check, tls::CrlCheck::chain);  // the default
  EXPECT_EQ(l[1].tls.crl_check, tls::CrlCheck::leaf);
  EXPECT_EQ(l[2].tls.crl_check, tls::CrlCheck::chain);
}

TEST(Config, PolicyOnChangeDefaultsToReevaluate) {
  const auto r = parse_config(kIssueExample, "/etc/egressd/egressd.yaml");
  ASSERT_TRUE(r.config);
  EXPECT_EQ(r.config->policy_on_change, PolicyOnChange::reevaluate);
  for (const auto& [text, want] : {std::pair{"reevaluate", PolicyOnChange::reevaluate},
                                   std::pair{"keep", PolicyOnChange::keep}}) {
    const auto k = parse_config(std::string(R"(listeners:
  - name: a
    address: "127.0.0.1:15001"
policy: {dir: p, on_change: )") + text +
                                    "}\n",
                                "c.yaml");
    ASSERT_TRUE(k.config) << ::testing::PrintToString(messages(k));
    EXPECT_EQ(k.config->policy_on_change, want) << text;
  }
}

TEST(Config, PolicyOnChangeBadValueNamesItsPlace) {
  const auto r = parse_config(R"(listeners:
  - name: a
    address: "127.0.0.1:15001"
policy:
  dir: p
  on_change: reevaluated
)",
                              "c.yaml");
  EXPECT_FALSE(r.config);
  EXPECT_EQ(messages(r), (std::vector<std::string>{
                             "c.yaml:6:14: error: policy.on_change: \"reevaluated\" is not one of "
                             "reevaluate | keep",
                         }));
}

TEST(Config, TlsCrlCheckBadValues) {
  const auto r = parse_config(R"(listeners:
  - name: a
    address: "127.0.0.1:15001"
    tls: {mode: required, cert: c.pem, key: k.pem, client_ca: ca.pem, crl: ca.crl, crl_check: all}
  - name: b
    address: "127.0.0.1:15002"
    tls: {mode: required, cert: c.pem, key: k.pem, client_ca: ca.pem, crl_check: leaf}
policy: {dir: p}
)",
                              "c.yaml");
  EXPECT_FALSE(r.config);
  EXPECT_EQ(messages(r),
            (std::vector<std::string>{
                "c.yaml:4:95: error: listeners[0].tls.crl_check: \"all\" is not one of leaf | "
                "chain",
                "c.yaml:7:82: error: listeners[1].tls.crl_check: has no effect without tls.crl",
            }));
}

TEST(Config, TlsSessionCacheSize) {
  const auto r = parse_config(R"(listeners:
  - name: a
    address: "127.0.0.1:15001"
    tls: {mode: required, cert: c.pem, key: k.pem, client_ca: ca.pem}
  - name: b
    address: "127.0.0.1:15002"
    tls: {mode: required, cert: c.pem, key: k.pem, client_ca: ca.pem, session_cache_size: 0}
  - name: c
    address: "127.0.0.1:15003"
    tls: {mode: optional, cert: c.pem, key: k.pem, client_ca: ca.pem, session_cache_size: 1000000}
policy: {dir: p}
)",
                              "c.yaml");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(messages(r));
  const auto& l = r.config->listeners;
  EXPECT_EQ(l[0].tls.session_cache_size, 8192u);  // the default
  EXPECT_EQ(l[1].tls.session_cache_size, 0u);
  EXPECT_EQ(l[2].tls.session_cache_size, 1000000u);
}

TEST(Config, TlsSessionCacheSizeBadValues) {
  const auto r = parse_config(R"(listeners:
  - name: c
    address: "127.0.0.1:15003"
    tls: {mode: required, cert: c.pem, key: k.pem, client_ca: ca.pem, session_cache_size: -1}
  - name: d
    address: "127.0.0.1:15004"
    tls: {mode: required, cert: c.pem, key: k.pem, client_ca: ca.pem, session_cache_size: 1000001}
  - name: e
    address: "127.0.0.1:15005"
    tls: {mode: required, cert: c.pem, key: k.pem, client_ca: ca.pem, session_cache_size: 8k}
  - name: f
    address: "127.0.0.1:15006"
    tls: {mode: required, cert: c.pem, key: k.pem, client_ca: ca.pem, session_cache_size: []}
policy: {dir: p}
)",
                              "c.yaml");
  EXPECT_FALSE(r.config);
  EXPECT_EQ(messages(r),
            (std::vector<std::string>{
                "c.yaml:4:91: error: listeners[0].tls.session_cache_size: \"-1\" is not an "
                "integer",
                "c.yaml:7:91: error: listeners[1].tls.session_cache_size: must be between 0 and "
                "1000000, got 1000001",
                "c.yaml:10:91: error: listeners[2].tls.session_cache_size: \"8k\" is not an "
                "integer",
                "c.yaml:13:91: error: listeners[3].tls.session_cache_size: expected an "
                "integer, found a list",
            }));
}

TEST(Config, OutOfRangeValues) {
  const auto r = parse_config(R"(workers: 0
listeners: [{name: a, address: "127.0.0.1:0"}]
upstream: {mark: 4294967296, connect_timeout: 0s}
policy: {dir: p}
audit: {on_error: ignore}
)",
                              "c.yaml");
  EXPECT_EQ(messages(r),
            (std::vector<std::string>{
                "c.yaml:1:10: error: workers: must be between 1 and 1024, got 0",
                "c.yaml:2:32: error: listeners[0].address: port must not be 0",
                "c.yaml:3:18: error: upstream.mark: \"4294967296\" is not an integer",
                "c.yaml:3:47: error: upstream.connect_timeout: must be greater than 0s",
                "c.yaml:5:19: error: audit.on_error: \"ignore\" is not one of fail_closed | "
                "continue",
            }));
}

TEST(Config, LoadConfigReadsTheFileAndNamesItWhenMissing) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("egress-config-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto file = dir / "egressd.yaml";
  {
    std::ofstream out(file);
    out << kIssueExample;
  }
  const auto ok = load_config(file);
  ASSERT_TRUE(ok.config);
  EXPECT_EQ(ok.config->policy_dir, dir / "policy/");
  const auto missing = load_config(dir / "nope.yaml");
  ASSERT_EQ(missing.errors.size(), 1u);
  EXPECT_EQ(missing.errors[0].to_string(),
            (dir / "nope.yaml").string() +
                ": error: cannot read the config file: No such file or directory");
  std::filesystem::remove_all(dir);
}

TEST(Config, LimitsPendingAndPerSource) {
  const auto defaults = parse_config(R"(listeners: [{name: a, address: "127.0.0.1:1"}]
policy: {dir: p}
)",
                                     "c.yaml");
  ASSERT_TRUE(defaults.config) << ::testing::PrintToString(messages(defaults));
  EXPECT_EQ(defaults.config->max_pending, 1024u);
  EXPECT_EQ(defaults.config->per_source, 0u);
  EXPECT_EQ(defaults.config->per_source_ipv6_prefix, 128u);

  const auto set = parse_config(R"(listeners: [{name: a, address: "127.0.0.1:1"}]
policy: {dir: p}
limits: {max_connections: 200, max_pending: 50, per_source: 20, per_source_ipv6_prefix: 64}
)",
                                "c.yaml");
  ASSERT_TRUE(set.config) << ::testing::PrintToString(messages(set));
  EXPECT_EQ(set.config->max_connections, 200u);
  EXPECT_EQ(set.config->max_pending, 50u);
  EXPECT_EQ(set.config->per_source, 20u);
  EXPECT_EQ(set.config->per_source_ipv6_prefix, 64u);

  const auto bad = parse_config(R"(listeners: [{name: a, address: "127.0.0.1:1"}]
policy: {dir: p}
limits: {max_pending: -1, per_source: many, per_source_ipv6_prefix: 0, per_host: 3}
)",
                                "c.yaml");
  EXPECT_EQ(messages(bad),
            (std::vector<std::string>{
                "c.yaml:3:23: error: limits.max_pending: \"-1\" is not an integer",
                "c.yaml:3:39: error: limits.per_source: \"many\" is not an integer",
                "c.yaml:3:69: error: limits.per_source_ipv6_prefix: must be between 1 and 128, "
                "got 0",
                "c.yaml:3:72: error: limits.per_host: unknown key \"per_host\" in limits (allowed: "
                "max_connections, max_pending, per_source, per_source_ipv6_prefix)",
            }));
}

// The config is read by the same strict reader as the policy: a misspelt key names the one meant.
TEST(Config, UnknownKeySuggestsTheKeyMeant) {
  const auto r = parse_config(R"(listeners:
  - name: a
    adress: "127.0.0.1:1"
policy: {dri: p}
)",
                              "c.yaml");
  EXPECT_FALSE(r.config);
  EXPECT_EQ(messages(r),
            (std::vector<std::string>{
                "c.yaml:2:5: error: listeners[0].address: missing required key \"address\" in a "
                "listener",
                "c.yaml:3:5: error: listeners[0].adress: unknown key \"adress\" in a listener, did "
                "you mean \"address\"? (allowed: name, address, destination, max_connections, tls, "
                "peek, proxy_protocol, connect_request_timeout)",
                "c.yaml:4:9: error: policy.dir: missing required key \"dir\" in policy",
                "c.yaml:4:10: error: policy.dri: unknown key \"dri\" in policy, did you mean "
                "\"dir\"? (allowed: dir, on_change)",
            }));
}

const char* kValid = R"(listeners: [{name: a, address: "127.0.0.1:1"}]
policy: {dir: p}
)";

// yaml-cpp recursed once per level and its own limit said only "bad file"; the guard stops at
// 64 levels and says so.
TEST(Config, DeepNestingIsRefusedWithAClearError) {
  std::string deep = std::string(kValid) + "upstream: ";
  for (int i = 0; i < 100000; ++i) deep += "{a: ";
  const auto r = parse_config(deep, "c.yaml");
  EXPECT_FALSE(r.config);
  ASSERT_EQ(r.errors.size(), 1u) << ::testing::PrintToString(messages(r));
  EXPECT_EQ(r.errors[0].file, "c.yaml");
  EXPECT_EQ(r.errors[0].line, 3);
  EXPECT_EQ(r.errors[0].message, "invalid YAML: collections nested deeper than 64 levels");
}

// Twelve levels of nine aliases (9^12 nodes expanded, from ~600 bytes). The old loader read the
// first document only, so a bomb after "---" passed; now the whole stream passes the guard.
TEST(Config, AnAliasBombIsRefusedWithAClearError) {
  std::string bomb = "---\na0: &a0 [x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 12; ++i) {
    bomb += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 9; ++k) bomb += (k ? ", *a" : "*a") + std::to_string(i - 1);
    bomb += "]\n";
  }
  const auto r = parse_config(std::string(kValid) + bomb, "c.yaml");
  EXPECT_FALSE(r.config);
  ASSERT_EQ(r.errors.size(), 1u) << ::testing::PrintToString(messages(r));
  EXPECT_NE(r.errors[0].message.find("invalid YAML: aliases expand this document past"),
            std::string::npos)
      << r.errors[0].message;
  EXPECT_NE(r.errors[0].message.find("(an alias bomb?)"), std::string::npos);
}

TEST(Config, ASecondDocumentIsAnError) {
  const auto r = parse_config(std::string(kValid) + "---\nworkers: 1\n---\n", "c.yaml");
  EXPECT_EQ(messages(r), (std::vector<std::string>{"c.yaml:4:1: error: a second YAML document; "
                                                   "the config is one document"}));
  ASSERT_TRUE(parse_config(std::string(kValid) + "---\n", "c.yaml").config);
}

}  // namespace
}  // namespace egress::config
