// upstream.via (issue 20, section 2: the egressd agent): every key required, policy.dir optional
// with it, the TLS material read at load, every bad value named with its position and key path.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace egress::config {
namespace {

std::vector<std::string> messages(const LoadResult& r) {
  std::vector<std::string> out;
  for (const auto& e : r.errors) out.push_back(e.to_string());
  return out;
}

// The dev PKI the tls tests' fixture makes (tests/unit/config/CMakeLists.txt).
std::string certs() {
  const char* dir = std::getenv("EGRESS_TEST_CERTS");
  return dir != nullptr ? dir : "certs-not-made";
}

std::string agent_config(const std::string& via, const std::string& rest = "") {
  return "listeners: [{name: capture, address: \"127.0.0.1:15001\"}]\nupstream:\n  via:\n" + via +
         rest;
}

std::string good_via(const std::string& address = "gateway.corp.example:15443") {
  return "    address: \"" + address +
         "\"\n"
         "    tunnel: connect\n"
         "    tls: {cert: " +
         certs() + "/payments.pem, key: " + certs() + "/payments.key, ca: " + certs() +
         "/ca.pem, server_name: egress-gateway.corp.example}\n";
}

TEST(ConfigVia, AbsentByDefault) {
  const auto r = parse_config(
      "listeners: [{name: a, address: \"127.0.0.1:1\"}]\npolicy: {dir: p}\n", "c.yaml");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(messages(r));
  EXPECT_FALSE(r.config->upstream.via);
}

TEST(ConfigVia, AnAgentNeedsNoPolicyDirectory) {
  const auto r = parse_config(agent_config(good_via()), "/etc/egressd/agent.yaml");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(messages(r));
  const auto& via = r.config->upstream.via;
  ASSERT_TRUE(via);
  EXPECT_EQ(via->address, "gateway.corp.example:15443");
  EXPECT_EQ(via->tunnel, ViaConfig::Tunnel::connect);
  EXPECT_EQ(via->tls.cert, std::filesystem::path(certs()) / "payments.pem");
  EXPECT_EQ(via->tls.ca, std::filesystem::path(certs()) / "ca.pem");
  EXPECT_EQ(via->tls.server_name, "egress-gateway.corp.example");
  EXPECT_TRUE(r.config->policy_dir.empty());
}

TEST(ConfigVia, AnAgentMayHaveItsOwnPolicy) {
  const auto r = parse_config(
      agent_config(good_via("[2001:db8::10]:15443"), "policy: {dir: p, on_change: keep}\n"),
      "/etc/egressd/agent.yaml");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(messages(r));
  EXPECT_EQ(r.config->policy_dir, std::filesystem::path("/etc/egressd/p"));
  EXPECT_EQ(r.config->upstream.via->address, "[2001:db8::10]:15443");
}

TEST(ConfigVia, WithoutViaThePolicyIsStillRequired) {
  const auto r = parse_config("listeners: [{name: a, address: \"127.0.0.1:1\"}]\n", "c.yaml");
  EXPECT_EQ(messages(r), (std::vector<std::string>{"c.yaml:1:1: error: policy: missing required "
                                                   "key \"policy\" in the config"}));
}

TEST(ConfigVia, EveryKeyIsRequired) {
  const auto r = parse_config(agent_config("    tls: {cert: a.pem}\n"), "c.yaml");
  EXPECT_EQ(messages(r),
            (std::vector<std::string>{
                "c.yaml:4:5: error: upstream.via.address: missing required key \"address\" in "
                "upstream.via",
                "c.yaml:4:5: error: upstream.via.tunnel: missing required key \"tunnel\" in "
                "upstream.via",
                "c.yaml:4:10: error: upstream.via.tls.key: missing required key \"key\" in "
                "upstream.via.tls",
                "c.yaml:4:10: error: upstream.via.tls.ca: missing required key \"ca\" in "
                "upstream.via.tls",
                "c.yaml:4:10: error: upstream.via.tls.server_name: missing required key "
                "\"server_name\" in upstream.via.tls",
            }));
}

TEST(ConfigVia, EachBadValueNamesItsPosition) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"gateway.corp.example",
       "c.yaml:4:14: error: upstream.via.address: \"gateway.corp.example\" "
       "is not a host:port (e.g. \"gateway.corp.example:15443\", "
       "\"192.0.2.10:15443\", \"[2001:db8::10]:15443\")"},
      {"gw:0", "c.yaml:4:14: error: upstream.via.address: \"gw:0\": the port must be 1 to 65535"},
      {"gw:99999",
       "c.yaml:4:14: error: upstream.via.address: \"gw:99999\": the port must be 1 to 65535"},
      {"2001:db8::1:443",
       "c.yaml:4:14: error: upstream.via.address: \"2001:db8::1:443\": an IPv6 address is written "
       "in brackets (e.g. \"gateway.corp.example:15443\", \"192.0.2.10:15443\", "
       "\"[2001:db8::10]:15443\")"},
      {"127.1:443",
       "c.yaml:4:14: error: upstream.via.address: \"127.1\" is not a dotted-quad "
       "IPv4 address nor a host name"},
      {"gw_1.example:443",
       "c.yaml:4:14: error: upstream.via.address: \"gw_1.example\" is not a host name: "},
  };
  for (const auto& [address, want] : cases) {
    const auto r = parse_config(agent_config(good_via(address)), "c.yaml");
    ASSERT_EQ(r.errors.size(), 1u) << address << ": " << ::testing::PrintToString(messages(r));
    EXPECT_EQ(r.errors[0].to_string().substr(0, want.size()), want) << address;
  }
  const auto tunnel = parse_config(
      agent_config("    address: gw:1\n    tunnel: http2\n    tls: {cert: a, key: b, ca: c, "
                   "server_name: gw}\n"),
      "c.yaml");
  ASSERT_FALSE(tunnel.errors.empty());
  EXPECT_EQ(tunnel.errors[0].to_string().substr(0, 45),
            "c.yaml:5:13: error: upstream.via.tunnel: \"htt");
}

TEST(ConfigVia, AnAgentHasNoConnectListener) {
  const auto r = parse_config(
      "listeners:\n  - {name: capture, address: \"127.0.0.1:15001\"}\n"
      "  - {name: c, address: \"127.0.0.1:15443\", destination: connect}\n"
      "upstream:\n  via:\n" +
          good_via(),
      "c.yaml");
  EXPECT_EQ(messages(r), (std::vector<std::string>{
                             "c.yaml:3:5: error: listeners[1].destination: connect cannot be used "
                             "with upstream.via (an agent's listeners are original_dst or tproxy; "
                             "its gateway is the CONNECT listener)"}));
}

TEST(ConfigVia, UnreadableMaterialIsAnErrorNamingTheFile) {
  const std::string via =
      "    address: gw:1\n    tunnel: connect\n    tls:\n      cert: " + certs() +
      "/payments.pem\n      key: " + certs() +
      "/payments.key\n      ca: /nonexistent/ca.pem\n      server_name: gw\n";
  const auto r = parse_config(agent_config(via), "c.yaml");
  ASSERT_EQ(r.errors.size(), 1u) << ::testing::PrintToString(messages(r));
  EXPECT_EQ(r.errors[0].to_string(),
            "c.yaml:9:11: error: upstream.via.tls.ca: /nonexistent/ca.pem: No such file or "
            "directory");

  const std::string mismatched =
      "    address: gw:1\n    tunnel: connect\n    tls:\n      cert: " + certs() +
      "/payments.pem\n      key: " + certs() + "/gateway.key\n      ca: " + certs() +
      "/ca.pem\n      server_name: gw\n";
  const auto m = parse_config(agent_config(mismatched), "c.yaml");
  ASSERT_EQ(m.errors.size(), 1u) << ::testing::PrintToString(messages(m));
  EXPECT_NE(m.errors[0].to_string().find("c.yaml:8:12: error: upstream.via.tls.key: " + certs() +
                                         "/gateway.key: private key does not match"),
            std::string::npos)
      << m.errors[0].to_string();
}

}  // namespace
}  // namespace egress::config
