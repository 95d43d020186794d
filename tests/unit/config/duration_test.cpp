#include "config/duration.hpp"

#include <gtest/gtest.h>

namespace egress::config {
namespace {

using std::chrono::milliseconds;

TEST(Duration, ParsesEachUnit) {
  EXPECT_EQ(parse_duration("500ms"), milliseconds(500));
  EXPECT_EQ(parse_duration("5s"), milliseconds(5000));
  EXPECT_EQ(parse_duration("2m"), milliseconds(120000));
  EXPECT_EQ(parse_duration("1h"), milliseconds(3600000));
  EXPECT_EQ(parse_duration("0s"), milliseconds(0));
  EXPECT_EQ(parse_duration("1m30s"), milliseconds(90000));
  EXPECT_EQ(parse_duration("1s500ms"), milliseconds(1500));
}

TEST(Duration, RejectsWhatIsNotADuration) {
  for (const char* bad : {"", "5", "0", "s", "5x", "-5s", "5 s", " 5s", "5s ", "1.5s", "ms", "5sm",
                          "99999999999999999999h"}) {
    EXPECT_FALSE(parse_duration(bad)) << bad;
  }
}

TEST(Duration, FormatRoundTrips) {
  for (auto d : {milliseconds(0), milliseconds(1), milliseconds(1500), milliseconds(5000),
                 milliseconds(120000), milliseconds(3600000)}) {
    EXPECT_EQ(parse_duration(format_duration(d)), d) << format_duration(d);
  }
  EXPECT_EQ(format_duration(milliseconds(3600000)), "1h");
  EXPECT_EQ(format_duration(milliseconds(1500)), "1500ms");
}

}  // namespace
}  // namespace egress::config
