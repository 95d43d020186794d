// listeners[].destination: connect and listeners[].connect_request_timeout (issue 20): the
// default, the bounds, and the timeout refused on a listener that reads no CONNECT request.
#include <gtest/gtest.h>

#include "config/config.hpp"

namespace egress::config {
namespace {

std::vector<std::string> messages(const LoadResult& r) {
  std::vector<std::string> out;
  for (const auto& e : r.errors) out.push_back(e.to_string());
  return out;
}

TEST(ConfigConnect, DestinationConnectWithTheDefaultTimeout) {
  const auto r =
      parse_config(R"(listeners: [{name: c, address: "127.0.0.1:1", destination: connect}]
policy: {dir: p}
)",
                   "c.yaml");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(messages(r));
  const auto& l = r.config->listeners.at(0);
  EXPECT_EQ(l.destination, DestinationMode::connect);
  EXPECT_EQ(to_string(l.destination), "connect");
  EXPECT_EQ(l.connect_request_timeout, std::chrono::seconds(10));
}

TEST(ConfigConnect, TimeoutIsReadUpToFiveMinutes) {
  const auto r = parse_config(R"(listeners:
  - {name: a, address: "127.0.0.1:1", destination: connect, connect_request_timeout: 250ms}
  - {name: b, address: "127.0.0.1:2", destination: connect, connect_request_timeout: 5m}
  - {name: c, address: "127.0.0.1:3", destination: connect, proxy_protocol: {trusted: [192.0.2.0/24]}}
policy: {dir: p}
)",
                              "c.yaml");
  ASSERT_TRUE(r.config) << ::testing::PrintToString(messages(r));
  EXPECT_EQ(r.config->listeners.at(0).connect_request_timeout, std::chrono::milliseconds(250));
  EXPECT_EQ(r.config->listeners.at(1).connect_request_timeout, std::chrono::minutes(5));
  // A balancer in front of a CONNECT listener: the PROXY header comes first, then the request.
  EXPECT_TRUE(r.config->listeners.at(2).proxy_protocol);
}

TEST(ConfigConnect, EachBadValueNamesItsPosition) {
  const auto r = parse_config(R"(listeners:
  - {name: a, address: "127.0.0.1:1", destination: connect, connect_request_timeout: 0s}
  - {name: b, address: "127.0.0.1:2", destination: connect, connect_request_timeout: 301s}
  - {name: c, address: "127.0.0.1:3", destination: connect, connect_request_timeout: soon}
  - {name: d, address: "127.0.0.1:4", connect_request_timeout: 5s}
  - {name: e, address: "127.0.0.1:5", destination: tproxy, connect_request_timeout: 5s}
  - {name: f, address: "127.0.0.1:6", destination: CONNECT}
policy: {dir: p}
)",
                              "c.yaml");
  EXPECT_FALSE(r.config);
  EXPECT_EQ(messages(r),
            (std::vector<std::string>{
                "c.yaml:2:86: error: listeners[0].connect_request_timeout: must be greater than "
                "0s",
                "c.yaml:3:86: error: listeners[1].connect_request_timeout: must be greater than "
                "0s and at most 5m, got 301s",
                "c.yaml:4:86: error: listeners[2].connect_request_timeout: \"soon\" is not a "
                "duration (e.g. 500ms, 5s, 2m, 1h)",
                "c.yaml:5:64: error: listeners[3].connect_request_timeout: only valid with "
                "destination: connect (this listener's destination is original_dst)",
                "c.yaml:6:85: error: listeners[4].connect_request_timeout: only valid with "
                "destination: connect (this listener's destination is tproxy)",
                "c.yaml:7:52: error: listeners[5].destination: \"CONNECT\" is not one of "
                "original_dst | tproxy | connect",
            }));
}

}  // namespace
}  // namespace egress::config
