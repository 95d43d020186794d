#include "yaml/guard.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace egress::yaml {
namespace {

// Twelve levels of nine aliases each: 9^12 nodes once expanded, from ~600 bytes.
std::string alias_bomb() {
  std::string s = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 12; ++i) {
    s += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 9; ++k) s += (k ? ", *a" : "*a") + std::to_string(i - 1);
    s += "]\n";
  }
  return s;
}

TEST(Guard, PlainYamlPasses) {
  EXPECT_FALSE(check("a: 1\nb: [x, {c: d}]\n---\ne: f\n"));
  // Aliases that share a little are fine.
  EXPECT_FALSE(check("base: &b [10.0.0.0/8, 192.0.2.0/24]\nx: *b\ny: *b\n"));
}

TEST(Guard, NestingDeeperThanTheLimitIsRefusedWithItsPosition) {
  const std::string ok = std::string(kMaxDepth, '[') + std::string(kMaxDepth, ']');
  EXPECT_FALSE(check(ok));
  const std::string deep = std::string(kMaxDepth + 1, '[') + std::string(kMaxDepth + 1, ']');
  const auto p = check(deep);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->message, "collections nested deeper than 64 levels");
  EXPECT_EQ(p->line, 1);
  EXPECT_EQ(p->column, 65);
  // Block mappings count the same; yaml-cpp's own limit would only say "bad file".
  std::string block;
  for (std::size_t i = 0; i < 100; ++i) block += std::string(i, ' ') + "k:\n";
  const auto q = check(block);
  ASSERT_TRUE(q);
  EXPECT_EQ(q->message, "collections nested deeper than 64 levels");
  // Far deeper than yaml-cpp's recursion could survive: still one quick answer.
  EXPECT_TRUE(check(std::string(100000, '[')));
}

TEST(Guard, AnAliasBombIsRefusedQuickly) {
  const auto start = std::chrono::steady_clock::now();
  const auto p = check(alias_bomb());
  ASSERT_TRUE(p);
  EXPECT_NE(p->message.find("aliases expand this document past"), std::string::npos) << p->message;
  EXPECT_NE(p->message.find("alias bomb"), std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

TEST(Guard, TextMustBeUtf8WithoutControlCharacters) {
  const auto bad = check("a: \xf8\n");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->message, "byte 0xf8 is not UTF-8 (YAML files are UTF-8 text)");
  EXPECT_EQ(bad->column, 4);
  const auto ctl = check("a: b\nc:\x01\n");
  ASSERT_TRUE(ctl);
  EXPECT_EQ(ctl->line, 2);
  EXPECT_EQ(ctl->message, "control character U+0001 is not allowed in YAML");
}

}  // namespace
}  // namespace egress::yaml
