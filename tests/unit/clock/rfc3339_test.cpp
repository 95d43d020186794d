#include "clock/rfc3339.hpp"

#include <gtest/gtest.h>

namespace egress::clock {
namespace {

std::int64_t secs(const char* s) {
  auto t = parse_rfc3339(s);
  EXPECT_TRUE(t) << s;
  return t ? std::chrono::duration_cast<std::chrono::seconds>(t->time_since_epoch()).count() : -1;
}

TEST(Rfc3339, Valid) {
  EXPECT_EQ(secs("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(secs("2027-03-31T00:00:00Z"), 1806451200);
  EXPECT_EQ(secs("2027-03-31T02:00:00+02:00"), 1806451200);
  EXPECT_EQ(secs("2027-03-30T19:30:00-04:30"), 1806451200);
  EXPECT_EQ(secs("2027-03-31t00:00:00z"), 1806451200);
  EXPECT_EQ(secs("2027-03-31 00:00:00Z"), 1806451200);
  EXPECT_EQ(secs("2024-02-29T00:00:00Z"), 1709164800);
  // The first and last whole years the clock holds.
  EXPECT_EQ(secs("1678-01-01T00:00:00Z"), -9214560000);
  EXPECT_EQ(secs("2261-12-31T23:59:59.999999Z"), 9214646399);
  auto frac = parse_rfc3339("1970-01-01T00:00:01.25Z");
  ASSERT_TRUE(frac);
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(frac->time_since_epoch()).count(),
            1250);
  EXPECT_EQ(format_rfc3339(*parse_rfc3339("2027-03-31T02:00:00+02:00")), "2027-03-31T00:00:00Z");
}

TEST(Rfc3339, Invalid) {
  for (const char* bad :
       {"", "2027-03-31", "2027-03-31T00:00:00", "2027-13-01T00:00:00Z", "2027-02-29T00:00:00Z",
        "2027-04-31T00:00:00Z", "2027-03-31T24:00:00Z", "2027-03-31T00:60:00Z",
        "2027-03-31T00:00:00+2:00", "2027-03-31T00:00:00.Z", "2027-03-31T00:00:00Zjunk",
        "27-03-31T00:00:00Z", "next tuesday", "2027-00-10T00:00:00Z", "2027-03-00T00:00:00Z",
        "2027-03-31T00:00:00+24:00",
        // Outside the clock (nanoseconds in 64 bits): once undefined behaviour, found by libFuzzer.
        "1013-06-30T00:00:00Z", "0000-01-01T00:00:00Z", "1677-01-01T00:00:00Z",
        "2263-01-01T00:00:00Z", "9999-12-31T23:59:59Z"}) {
    EXPECT_FALSE(parse_rfc3339(bad)) << bad;
  }
}

// The audit records' ts and the JSON log's time: microseconds, UTC, appended as they are.
TEST(Rfc3339, AppendsMicroseconds) {
  using namespace std::chrono;
  std::string out = "ts=";
  const auto tp = sys_days{2026y / November / 26} + 7h + 27min + 16s + 123456us;
  append_rfc3339_micros(
      out, system_clock::time_point{duration_cast<system_clock::duration>(tp.time_since_epoch())});
  EXPECT_EQ(out, "ts=2026-11-26T07:27:16.123456Z");
  out.clear();
  append_rfc3339_micros(out, system_clock::time_point{});
  EXPECT_EQ(out, "1970-01-01T00:00:00.000000Z");
  // Parsed back, to the microsecond.
  EXPECT_EQ(parse_rfc3339("2026-11-26T07:27:16.123456Z").value().time_since_epoch(),
            duration_cast<system_clock::duration>(tp.time_since_epoch()));
}

}  // namespace
}  // namespace egress::clock
