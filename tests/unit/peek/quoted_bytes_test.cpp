#include "peek/quoted_bytes.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <span>
#include <string>

namespace egress::peek {
namespace {

TEST(QuotedBytes, PrintableAsciiAsIsTheRestAsHex) {
  EXPECT_EQ(quoted_bytes("GET", 48), "\"GET\"");
  EXPECT_EQ(quoted_bytes("", 48), "\"\"");
  EXPECT_EQ(quoted_bytes(std::string("a\0b\r\n", 5), 48), "\"a\\x00b\\x0d\\x0a\"");
  // A quote or a backslash of the client's cannot end the quote or start an escape.
  EXPECT_EQ(quoted_bytes("x\"y\\z", 48), "\"x\\x22y\\x5cz\"");
  EXPECT_EQ(quoted_bytes("\x7f\xff", 48), "\"\\x7f\\xff\"");
}

TEST(QuotedBytes, AtMostMaxBytesThenAnEllipsis) {
  EXPECT_EQ(quoted_bytes("abcd", 4), "\"abcd\"");
  EXPECT_EQ(quoted_bytes("abcde", 4), "\"abcd\"...");
  EXPECT_EQ(quoted_bytes("abc", 0), "\"\"...");
}

TEST(QuotedBytes, OctetsAsText) {
  const std::uint8_t octets[] = {'P', 0x0d, 0x0a, 0x00};
  EXPECT_EQ(quoted_bytes(std::span<const std::uint8_t>(octets), 3), "\"P\\x0d\\x0a\"...");
}

}  // namespace
}  // namespace egress::peek
