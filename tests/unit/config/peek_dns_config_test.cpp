// listeners[].peek and dns: (issue 19's config keys): defaults, values, bounds, and the
// resolver's options made from them.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "config/config.hpp"
#include "config/dns_options.hpp"

namespace egress::config {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

std::vector<std::string> messages(const LoadResult& r) {
  std::vector<std::string> out;
  for (const auto& e : r.errors) out.push_back(e.to_string());
  return out;
}

constexpr const char* kMinimal = R"(listeners: [{name: a, address: "127.0.0.1:1"}]
policy: {dir: p}
)";

TEST(ConfigPeekDns, DefaultsWhenAbsent) {
  const auto r = parse_config(kMinimal, "c.yaml");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(messages(r));
  const auto& peek = r.config->listeners.at(0).peek;
  EXPECT_EQ(peek.timeout, milliseconds(1000));
  EXPECT_EQ(peek.max_bytes, 16384u);
  const auto& dns = r.config->dns;
  EXPECT_TRUE(dns.servers.empty()) << "empty: the nameservers of /etc/resolv.conf";
  EXPECT_EQ(dns.min_ttl, seconds(60));
  EXPECT_EQ(dns.timeout, milliseconds(2000));

  const auto ro = resolver_options(dns);
  EXPECT_TRUE(ro.servers.empty());
  EXPECT_EQ(ro.timeout, milliseconds(2000));
  EXPECT_EQ(verifier_options(dns).min_ttl, seconds(60));
}

// The keys exactly as issue 19 writes them.
TEST(ConfigPeekDns, TheIssueExampleLoadsWithItsValues) {
  const auto r = parse_config(R"(listeners:
  - name: egress
    address: "0.0.0.0:15001"
    peek: {timeout: 1s, max_bytes: 16KiB}
  - name: other
    address: "0.0.0.0:15002"
    peek: {timeout: 250ms, max_bytes: 2KiB}
dns:
  servers: ["203.0.113.53:53"]
  min_ttl: 60s
  timeout: 2s
policy: {dir: p}
)",
                              "c.yaml");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(messages(r));
  const auto& c = *r.config;
  EXPECT_EQ(c.listeners[0].peek.timeout, milliseconds(1000));
  EXPECT_EQ(c.listeners[0].peek.max_bytes, 16384u);
  EXPECT_EQ(c.listeners[1].peek.timeout, milliseconds(250));
  EXPECT_EQ(c.listeners[1].peek.max_bytes, 2048u);
  EXPECT_EQ(c.dns.servers, std::vector<std::string>{"203.0.113.53:53"});
  EXPECT_EQ(c.dns.min_ttl, seconds(60));
  EXPECT_EQ(c.dns.timeout, milliseconds(2000));
}

// Every server form the resolver takes, normalised as the resolver writes it, and a resolver
// built from the loaded config accepts them (config and resolver agree).
TEST(ConfigPeekDns, ServersAreNormalisedAndTheResolverTakesThem) {
  const auto r = parse_config(std::string(kMinimal) + R"(dns:
  servers: ["203.0.113.53:5353", "198.51.100.53", "[2001:db8::53]:53", "2001:db8::54"]
  min_ttl: 5m
  timeout: 500ms
)",
                              "c.yaml");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(messages(r));
  const std::vector<std::string> want{"203.0.113.53:5353", "198.51.100.53:53", "[2001:db8::53]:53",
                                      "[2001:db8::54]:53"};
  EXPECT_EQ(r.config->dns.servers, want);
  const auto ro = resolver_options(r.config->dns);
  EXPECT_EQ(ro.servers, want);
  EXPECT_EQ(ro.timeout, milliseconds(500));
  EXPECT_EQ(verifier_options(r.config->dns).min_ttl, seconds(300));
  boost::asio::io_context io;
  EXPECT_NO_THROW(resolve::Resolver(io.get_executor(), ro));
}

TEST(ConfigPeekDns, BoundsAreInclusive) {
  const auto r = parse_config(R"(listeners:
  - {name: a, address: "127.0.0.1:1", peek: {timeout: 60s, max_bytes: 512B}}
  - {name: b, address: "127.0.0.1:2", peek: {timeout: 1ms, max_bytes: 1MiB}}
  - {name: c, address: "127.0.0.1:3", peek: {max_bytes: 1024KiB}}
dns: {servers: [], min_ttl: 0s, timeout: 30s}
policy: {dir: p}
)",
                              "c.yaml");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(messages(r));
  const auto& c = *r.config;
  EXPECT_EQ(c.listeners[0].peek.timeout, milliseconds(60000));
  EXPECT_EQ(c.listeners[0].peek.max_bytes, 512u);
  EXPECT_EQ(c.listeners[1].peek.timeout, milliseconds(1));
  EXPECT_EQ(c.listeners[1].peek.max_bytes, 1048576u);
  EXPECT_EQ(c.listeners[2].peek.timeout, milliseconds(1000)) << "a key left out keeps its default";
  EXPECT_EQ(c.listeners[2].peek.max_bytes, 1048576u);
  EXPECT_TRUE(c.dns.servers.empty());
  EXPECT_EQ(c.dns.min_ttl, seconds(0));
  EXPECT_EQ(c.dns.timeout, milliseconds(30000));
  const auto hour = parse_config(std::string(kMinimal) + "dns: {min_ttl: 1h}\n", "c.yaml");
  ASSERT_TRUE(hour.config) << ::testing::PrintToString(messages(hour));
  EXPECT_EQ(hour.config->dns.min_ttl, seconds(3600));
}

TEST(ConfigPeekDns, EachBadPeekValueNamesItsPosition) {
  const auto r = parse_config(R"(listeners:
  - name: a
    address: "127.0.0.1:1"
    peek: {timeout: 0s, max_bytes: 511B}
  - name: b
    address: "127.0.0.1:2"
    peek: {timeout: 61s, max_bytes: 2MiB}
  - name: c
    address: "127.0.0.1:3"
    peek: {timeout: 1, max_bytes: 16KB}
  - name: d
    address: "127.0.0.1:4"
    peek: {max_bytes: 16384, max_byte: 1KiB}
  - name: e
    address: "127.0.0.1:5"
    peek: 1s
policy: {dir: p}
)",
                              "c.yaml");
  EXPECT_FALSE(r.config);
  EXPECT_EQ(messages(r),
            (std::vector<std::string>{
                "c.yaml:4:21: error: listeners[0].peek.timeout: must be greater than 0s",
                "c.yaml:4:36: error: listeners[0].peek.max_bytes: must be between 512B and 1MiB, "
                "got 511B",
                "c.yaml:7:21: error: listeners[1].peek.timeout: must be greater than 0s and at "
                "most 1m, got 61s",
                "c.yaml:7:37: error: listeners[1].peek.max_bytes: must be between 512B and 1MiB, "
                "got 2MiB",
                "c.yaml:10:21: error: listeners[2].peek.timeout: \"1\" is not a duration (e.g. "
                "500ms, 5s, 2m, 1h)",
                "c.yaml:10:35: error: listeners[2].peek.max_bytes: \"16KB\" is not a size (e.g. "
                "512B, 16KiB, 1MiB)",
                "c.yaml:13:23: error: listeners[3].peek.max_bytes: \"16384\" is not a size (e.g. "
                "512B, 16KiB, 1MiB)",
                "c.yaml:13:30: error: listeners[3].peek.max_byte: unknown key \"max_byte\" in "
                "peek, did you mean \"max_bytes\"? (allowed: timeout, max_bytes)",
                "c.yaml:16:11: error: listeners[4].peek: expected a mapping, found a scalar",
            }));
}

TEST(ConfigPeekDns, EachBadDnsValueNamesItsPosition) {
  const auto r = parse_config(std::string(kMinimal) + R"(dns:
  servers: ["dns.example:53", "203.0.113.53:0", "203.0.113.53", "203.0.113.53:53", "[2001:db8::53]", 53]
  min_ttl: 1500ms
  timeout: 0s
  retries: 3
)",
                              "c.yaml");
  EXPECT_FALSE(r.config);
  const std::string eg =
      " (e.g. \"203.0.113.53:53\", \"[2001:db8::53]:53\", \"203.0.113.53\" for port 53)";
  EXPECT_EQ(messages(r),
            (std::vector<std::string>{
                "c.yaml:4:13: error: dns.servers[0]: \"dns.example:53\" is not an IP address "
                "with an optional port" +
                    eg,
                "c.yaml:4:31: error: dns.servers[1]: \"203.0.113.53:0\" is not an IP address "
                "with an optional port" +
                    eg,
                "c.yaml:4:65: error: dns.servers[3]: duplicate server 203.0.113.53:53 (also "
                "dns.servers[2])",
                "c.yaml:4:84: error: dns.servers[4]: \"[2001:db8::53]\" is not an IP address "
                "with an optional port" +
                    eg,
                "c.yaml:4:102: error: dns.servers[5]: \"53\" is not an IP address with an "
                "optional port" +
                    eg,
                "c.yaml:5:12: error: dns.min_ttl: must be whole seconds, got 1500ms",
                "c.yaml:6:12: error: dns.timeout: must be greater than 0s",
                "c.yaml:7:3: error: dns.retries: unknown key \"retries\" in dns (allowed: "
                "servers, min_ttl, timeout)",
            }));
  const auto more = parse_config(std::string(kMinimal) + R"(dns:
  servers: "203.0.113.53"
  min_ttl: 2h
  timeout: 31s
dsn: {}
)",
                                 "c.yaml");
  EXPECT_FALSE(more.config);
  EXPECT_EQ(messages(more),
            (std::vector<std::string>{
                "c.yaml:4:12: error: dns.servers: expected a list, found a scalar",
                "c.yaml:5:12: error: dns.min_ttl: must be at most 1h, got 2h",
                "c.yaml:6:12: error: dns.timeout: must be greater than 0s and at most 30s, got 31s",
                "c.yaml:7:1: error: dsn: unknown key \"dsn\" in the config, did you mean \"dns\"? "
                "(allowed: workers, listeners, upstream, dns, policy, audit, admin, limits, "
                "drain_timeout)",
            }));
}

}  // namespace
}  // namespace egress::config
