#include "audit/json_out.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace egress::audit {
namespace {

namespace json = boost::json;

std::string json_quoted(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

TEST(JsonString, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(json_quoted("plain"), R"("plain")");
  EXPECT_EQ(json_quoted("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(json_quoted("l1\nl2\r\t\b\f"), R"("l1\nl2\r\t\b\f")");
  EXPECT_EQ(json_quoted(std::string_view("\x00\x01\x1f\x7f", 4)), "\"\\u0000\\u0001\\u001f\x7f\"");
}

TEST(JsonString, KeepsValidUtf8AndReplacesInvalidBytes) {
  EXPECT_EQ(json_quoted("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x94\x92"),
            "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x94\x92\"");
  // A lone continuation byte, a truncated sequence, an overlong '/', a UTF-16 surrogate.
  EXPECT_EQ(json_quoted("a\x80z"), "\"a\xEF\xBF\xBDz\"");
  EXPECT_EQ(json_quoted("a\xE2\x82"), "\"a\xEF\xBF\xBD\xEF\xBF\xBD\"");
  EXPECT_EQ(json_quoted("\xC0\xAF"), "\"\xEF\xBF\xBD\xEF\xBF\xBD\"");
  EXPECT_EQ(json_quoted("\xED\xA0\x80"), "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");
}

TEST(JsonString, EscapesUnicodeLineSeparators) {
  EXPECT_EQ(json_quoted("a\xC2\x85"
                        "b\xE2\x80\xA8"
                        "c\xE2\x80\xA9"
                        "d"),
            R"("a\u0085b\u2028c\u2029d")");
  // Their neighbours pass through as they are.
  EXPECT_EQ(json_quoted("\xC2\x84\xC2\x86\xE2\x80\xA7\xE2\x80\xAA"),
            "\"\xC2\x84\xC2\x86\xE2\x80\xA7\xE2\x80\xAA\"");
  // A truncated separator is invalid UTF-8, not a separator.
  EXPECT_EQ(json_quoted("\xE2\x80"), "\"\xEF\xBF\xBD\xEF\xBF\xBD\"");
}

TEST(JsonString, RoundTripsThroughAJsonParser) {
  const std::string nasty = "\"},{\"decision\":\"allow\"\n\\u0000 \x01 \xE2\x80\xA8 \xC2\x85 end";
  const auto parsed = json::parse("{\"k\":" + json_quoted(nasty) + "}");
  EXPECT_EQ(parsed.at("k").as_string(), nasty);
}

TEST(ObjectWriter, WritesKeysValuesAndNestedObjects) {
  std::string out;
  ObjectWriter w(out);
  w.num("n", 18446744073709551615ull);
  w.str("s", "x");
  w.str_if("empty", "");
  w.boolean("b", false);
  w.str_array("a", {"1", "2"});
  w.str_array("none", {});
  ObjectWriter inner(w.key("o"));
  inner.str("k", "v");
  inner.finish();
  w.finish();
  EXPECT_EQ(
      out, R"({"n":18446744073709551615,"s":"x","b":false,"a":["1","2"],"none":[],"o":{"k":"v"}})");
  EXPECT_NO_THROW(json::parse(out));
}

}  // namespace
}  // namespace egress::audit
