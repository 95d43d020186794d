#include "config/size.hpp"

#include <gtest/gtest.h>

namespace egress::config {
namespace {

TEST(Size, ParsesEachUnit) {
  EXPECT_EQ(parse_size("512B"), 512u);
  EXPECT_EQ(parse_size("0B"), 0u);
  EXPECT_EQ(parse_size("16KiB"), 16384u);
  EXPECT_EQ(parse_size("1MiB"), 1048576u);
  EXPECT_EQ(parse_size("1024KiB"), 1048576u);
  EXPECT_EQ(parse_size("007KiB"), 7168u);
}

// The unit is never guessed: a bare number, decimal (SI) units, lowercase spellings, fractions,
// signs and spaces are all errors, as are values past 64 bits.
TEST(Size, RejectsWhatIsNotASize) {
  for (const char* bad : {"",
                          "16",
                          "B",
                          "KiB",
                          "16KB",
                          "16kb",
                          "16kib",
                          "16K",
                          "16k",
                          "16 KiB",
                          " 16KiB",
                          "16KiB ",
                          "1.5KiB",
                          "-1B",
                          "+1B",
                          "16KiBB",
                          "16KiB1",
                          "1GiB",
                          "0x10B",
                          "18446744073709551616B",
                          "18014398509481984KiB"}) {
    EXPECT_FALSE(parse_size(bad)) << bad;
  }
  EXPECT_EQ(parse_size("18446744073709551615B"), 18446744073709551615u);
}

TEST(Size, FormatRoundTrips) {
  for (std::uint64_t n : {0u, 1u, 512u, 1500u, 1024u, 16384u, 1048576u, 3u * 1048576u + 1024u}) {
    EXPECT_EQ(parse_size(format_size(n)), n) << format_size(n);
  }
  EXPECT_EQ(format_size(16384), "16KiB");
  EXPECT_EQ(format_size(1048576), "1MiB");
  EXPECT_EQ(format_size(2097152), "2MiB");
  EXPECT_EQ(format_size(1500), "1500B");
  EXPECT_EQ(format_size(0), "0B");
}

}  // namespace
}  // namespace egress::config
