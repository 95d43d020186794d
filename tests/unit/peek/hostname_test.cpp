#include "peek/hostname.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace egress::peek {
namespace {

TEST(Hostname, ValidNames) {
  for (const std::string& name :
       std::vector<std::string>{"example.com", "EXAMPLE.com.", "a", "xn--bcher-kva.example",
                                "r3---sn-4g5e6nsz.googlevideo.com", "1password.com", "a-b.c-d.e1",
                                std::string(63, 'a') + ".com"}) {
    EXPECT_EQ(hostname_error(name), "") << name;
  }
  std::string longest;
  for (int i = 0; i < 3; ++i) longest += std::string(63, 'a') + ".";
  longest += std::string(61, 'b');  // 253
  EXPECT_TRUE(is_valid_hostname(longest));
  EXPECT_TRUE(is_valid_hostname(longest + "."));
  EXPECT_EQ(hostname_error(longest + "b"), "longer than 253 characters");
}

TEST(Hostname, InvalidNamesSayWhy) {
  struct Case {
    std::string name;
    std::string_view why;
  };
  const Case cases[] = {
      {"", "empty name"},
      {".", "empty name"},
      {"a..b", "empty label"},
      {".a", "empty label"},
      {"a.b..", "empty label"},
      {std::string(64, 'a') + ".com", "label longer than 63 characters"},
      {"-a.com", "label starts or ends with a hyphen"},
      {"a-.com", "label starts or ends with a hyphen"},
      {"xn--", "label starts or ends with a hyphen"},
      {"a_b.com", "character other than a letter, digit, hyphen or dot"},
      {"a b.com", "character other than a letter, digit, hyphen or dot"},
      {"a.com:443", "character other than a letter, digit, hyphen or dot"},
      {"b\xc3\xbc"
       "cher.de",
       "non-ASCII byte (IDNA names are sent as xn-- A-labels)"},
      {"1.2.3.4", "last label is all digits"},
      {"example.123", "last label is all digits"},
  };
  for (const auto& c : cases) EXPECT_EQ(hostname_error(c.name), c.why) << c.name;
}

TEST(Hostname, NormaliseLowercasesAndStripsOneDot) {
  EXPECT_EQ(normalize_hostname("Api.Example.COM."), "api.example.com");
  EXPECT_EQ(normalize_hostname("a.."), "a.");
  EXPECT_EQ(normalize_hostname("XN--BCHER-KVA.EXAMPLE"), "xn--bcher-kva.example");
  std::string out = "previous content that is long";
  normalize_hostname_into("B.C", out);
  EXPECT_EQ(out, "b.c");
}

TEST(Hostname, IpLiterals) {
  for (const std::string& text : std::vector<std::string>{
           "192.0.2.1", "2001:db8::1", "[2001:db8::1]", "::ffff:192.0.2.1", "127.1", "0x7f.0.0.1",
           "2130706433", "0x7f000001", "0x" + std::string(100, '0') + "7f000001"}) {
    EXPECT_TRUE(is_ip_literal(text)) << text;
  }
  for (const std::string text : {"example.com", "[example.com]", "1.2.3.4 x", "", "deadbeef.com",
                                 "[192.0.2.1]", "1.2.3.4.5"}) {
    EXPECT_FALSE(is_ip_literal(text)) << text;
  }
}

}  // namespace
}  // namespace egress::peek
