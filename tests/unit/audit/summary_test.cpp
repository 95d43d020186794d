#include "audit/summary.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "test_util.hpp"

namespace egress::audit {
namespace {

using testing::TempDir;

Clock::time_point at(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0, int us = 0) {
  using namespace std::chrono;
  const auto tp = sys_days{year{y} / month{mo} / day{d}} + hours{h} + minutes{mi} + seconds{s} +
                  microseconds{us};
  return Clock::time_point{duration_cast<Clock::duration>(tp.time_since_epoch())};
}

TEST(ParseTime, AcceptsRfc3339AndDates) {
  EXPECT_EQ(parse_time("2026-11-26"), at(2026, 11, 26));
  EXPECT_EQ(parse_time("2026-11-26T07:27:16Z"), at(2026, 11, 26, 7, 27, 16));
  EXPECT_EQ(parse_time("2026-11-26T07:27:16.123456Z"), at(2026, 11, 26, 7, 27, 16, 123456));
  EXPECT_EQ(parse_time("2026-11-26T07:27:16.5Z"), at(2026, 11, 26, 7, 27, 16, 500000));
  EXPECT_EQ(parse_time("2026-11-26T09:27:16+02:00"), at(2026, 11, 26, 7, 27, 16));
  EXPECT_EQ(parse_time("2026-11-26T02:27:16-05:00"), at(2026, 11, 26, 7, 27, 16));
}

TEST(ParseTime, RejectsWhatIsNotATime) {
  for (const char* bad : {"", "yesterday", "2026-13-01", "2026-02-30", "2026-11-26T07:27Z",
                          "2026-11-26T07:27:16", "2026-11-26T25:00:00Z", "2026-11-26T07:27:16.Z",
                          "2026-11-26T07:27:16+0200", "2026-11-26T07:27:16Zjunk",
                          // Outside the clock: the conversion overflowed (undefined behaviour).
                          "1013-06-30", "0000-01-01T00:00:00Z", "2263-01-01", "9999-12-31"}) {
    EXPECT_FALSE(parse_time(bad)) << bad;
  }
}

// Records by gateway, and allowed connections whose close is missing: joined by conn_id, which
// repeats its counter across runs but never its instance prefix.
TEST(Summarize, CountsGatewaysAndAllowedConnectionsWithoutAClose) {
  TempDir dir;
  const auto path = dir.file("a.jsonl");
  const auto decision = [](const char* gateway, const char* id) {
    return std::string(
               R"({"v":1,"seq":1,"prev":"0","ts":"2026-11-26T07:00:00.000000Z","event":"connection.decision","gateway":")") +
           gateway + R"(","conn_id":")" + id +
           R"(","listener":"l","src":{"ip":"192.0.2.2","port":1},"dst":{"ip":"203.0.113.1","port":443},"decision":"allow","reason":"rule","rule":"r","policy_version":"v"})" +
           "\n";
  };
  const auto close = [](const char* gateway, const char* id) {
    return std::string(
               R"({"v":1,"seq":2,"prev":"0","ts":"2026-11-26T07:00:01.000000Z","event":"connection.close","gateway":")") +
           gateway + R"(","conn_id":")" + id + R"(","bytes_up":1,"bytes_down":2})" + "\n";
  };
  std::ofstream(path) << decision("egress-a", "00000000000000aa-1")
                      << decision("egress-b", "00000000000000bb-1")
                      << close("egress-b", "00000000000000bb-1")
                      << decision("egress-a", "00000000000000cc-1");
  std::string error;
  const auto s = summarize({path}, {}, error);
  EXPECT_EQ(error, "");
  EXPECT_EQ(s.gateways.at("egress-a"), 2u);
  EXPECT_EQ(s.gateways.at("egress-b"), 2u);
  EXPECT_EQ(s.allowed_without_close, 2u);
  const auto text = to_text(s);
  EXPECT_NE(text.find("gateways: egress-a=2 egress-b=2"), std::string::npos) << text;
  EXPECT_NE(text.find("allowed without a close record: 2"), std::string::npos) << text;
}

TEST(Summarize, CountsAndSkipsMalformedLines) {
  TempDir dir;
  const auto path = dir.file("a.jsonl");
  std::ofstream(path)
      << R"({"v":1,"seq":1,"prev":"0","ts":"2026-11-26T07:00:00.000000Z","event":"connection.decision","conn_id":1,"listener":"l","src":{"ip":"192.0.2.2","port":1},"dst":{"ip":"203.0.113.1","port":443},"decision":"deny","reason":"default","policy_version":"v"})"
      << "\n"
      << "garbage\n"
      << R"({"v":1,"seq":2,"prev":"0","ts":"2026-11-26T08:00:00.000000Z","event":"connection.decision","conn_id":2,"listener":"l","src":{"ip":"192.0.2.2","port":2},"dst":{"ip":"203.0.113.1","port":443},"identity":{"spiffe_id":"","uri_sans":[],"dns_sans":["a.example"],"cn":"a","fingerprint_sha256":"f","issuer":"i","serial":"1","not_after":"x"},"decision":"deny","reason":"rule","rule":"r1","shadow":{"decision":"allow","rule":"r2"},"policy_version":"v","records_dropped":4})"
      << "\n"
      << R"({"v":1,"seq":3,"prev":"0","ts":"2026-11-26T09:00:00.000000Z","event":"connection.close","conn_id":2,"bytes_up":10,"bytes_down":20})"
      << "\n";
  std::string error;
  auto s = summarize({path}, {}, error);
  EXPECT_EQ(error, "");
  EXPECT_EQ(s.records, 3u);
  EXPECT_EQ(s.malformed, 1u);
  EXPECT_EQ(s.first_ts, "2026-11-26T07:00:00.000000Z");
  EXPECT_EQ(s.last_ts, "2026-11-26T09:00:00.000000Z");
  EXPECT_EQ(s.decisions["deny"], 2u);
  EXPECT_EQ(s.reasons["deny/default"], 1u);
  EXPECT_EQ(s.reasons["deny/rule"], 1u);
  ASSERT_EQ(s.top_denied_identities.size(), 2u);
  EXPECT_EQ(s.top_denied_identities[0].key, "a.example");  // first DNS SAN; ties sort by key
  EXPECT_EQ(s.top_denied_identities[1].key, "src:192.0.2.2");
  ASSERT_EQ(s.top_denied_destinations.size(), 1u);
  EXPECT_EQ(s.top_denied_destinations[0].key, "203.0.113.1:443");
  EXPECT_EQ(s.top_denied_destinations[0].count, 2u);
  ASSERT_EQ(s.top_rules.size(), 1u);
  EXPECT_EQ(s.top_rules[0].deny, 1u);
  EXPECT_EQ(s.shadow_differences, 1u);
  EXPECT_EQ(s.top_shadow_differences[0].key, "deny -> allow (rule r2)");
  EXPECT_EQ(s.records_dropped, 4u);
  EXPECT_EQ(s.bytes_up, 10u);
  EXPECT_EQ(s.bytes_down, 20u);

  SummaryOptions window;
  window.since = at(2026, 11, 26, 7, 30);
  window.until = at(2026, 11, 26, 9);
  s = summarize({path}, window, error);
  EXPECT_EQ(s.records, 1u);
  EXPECT_EQ(s.out_of_range, 2u);
  EXPECT_EQ(s.first_ts, "2026-11-26T08:00:00.000000Z");

  const auto j = to_json(s);
  EXPECT_EQ(j.at("records").as_uint64(), 1u);
  EXPECT_NE(to_text(s).find("records: 1 (2 outside --since/--until)"), std::string::npos)
      << to_text(s);
}

}  // namespace
}  // namespace egress::audit
