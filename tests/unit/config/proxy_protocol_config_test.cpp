// listeners[].proxy_protocol (issue 20, section 3): absent by default, the trusted balancers as
// prefixes, and every bad value named with its position and key path.
#include <gtest/gtest.h>

#include "config/config.hpp"

namespace egress::config {
namespace {

std::vector<std::string> messages(const LoadResult& r) {
  std::vector<std::string> out;
  for (const auto& e : r.errors) out.push_back(e.to_string());
  return out;
}

TEST(ConfigProxyProtocol, AbsentByDefault) {
  const auto r = parse_config(R"(listeners: [{name: a, address: "127.0.0.1:1"}]
policy: {dir: p}
)",
                              "c.yaml");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(messages(r));
  EXPECT_FALSE(r.config->listeners.at(0).proxy_protocol);
}

TEST(ConfigProxyProtocol, TrustedPrefixesLoadInEveryCidrForm) {
  const auto r = parse_config(R"(listeners:
  - name: lb
    address: "0.0.0.0:15001"
    proxy_protocol:
      trusted: [192.0.2.48/29, "2001:db8:1::/64", 198.51.100.9, "::ffff:203.0.113.0/120"]
policy: {dir: p}
)",
                              "c.yaml");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(messages(r));
  const auto& pp = r.config->listeners.at(0).proxy_protocol;
  ASSERT_TRUE(pp);
  std::vector<std::string> got;
  for (const auto& c : pp->trusted) got.push_back(c.to_string());
  EXPECT_EQ(got, (std::vector<std::string>{"192.0.2.48/29", "2001:db8:1::/64", "198.51.100.9/32",
                                           "203.0.113.0/24"}));
}

TEST(ConfigProxyProtocol, EachBadValueNamesItsPosition) {
  const auto r = parse_config(R"(listeners:
  - name: a
    address: "127.0.0.1:1"
    proxy_protocol: {trusted: []}
  - name: b
    address: "127.0.0.1:2"
    proxy_protocol: {trusted: [192.0.2.1/24, lb.example, 10.0.0.0/33]}
  - name: c
    address: "127.0.0.1:3"
    proxy_protocol: {}
  - name: d
    address: "127.0.0.1:4"
    proxy_protocol: {trusted: 192.0.2.0/24, trustd: [192.0.2.0/24]}
  - name: e
    address: "127.0.0.1:5"
    proxy_protocol: true
policy: {dir: p}
)",
                              "c.yaml");
  EXPECT_FALSE(r.config);
  EXPECT_EQ(
      messages(r),
      (std::vector<std::string>{
          "c.yaml:4:31: error: listeners[0].proxy_protocol.trusted: must be a non-empty list of "
          "CIDRs (the load balancers' addresses)",
          "c.yaml:7:32: error: listeners[1].proxy_protocol.trusted[0]: \"192.0.2.1/24\" has host "
          "bits set; did you mean 192.0.2.0/24?",
          "c.yaml:7:46: error: listeners[1].proxy_protocol.trusted[1]: \"lb.example\" is not an "
          "IP address or CIDR",
          "c.yaml:7:58: error: listeners[1].proxy_protocol.trusted[2]: \"10.0.0.0/33\" has an "
          "invalid prefix length (0-32)",
          "c.yaml:10:21: error: listeners[2].proxy_protocol.trusted: missing required key "
          "\"trusted\" in proxy_protocol",
          "c.yaml:13:31: error: listeners[3].proxy_protocol.trusted: must be a non-empty list of "
          "CIDRs (the load balancers' addresses)",
          "c.yaml:13:45: error: listeners[3].proxy_protocol.trustd: unknown key \"trustd\" in "
          "proxy_protocol, did you mean \"trusted\"? (allowed: trusted)",
          "c.yaml:16:21: error: listeners[4].proxy_protocol: expected a mapping, found a scalar",
      }));
}

}  // namespace
}  // namespace egress::config
