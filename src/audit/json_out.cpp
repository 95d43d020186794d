#include "audit/json_out.hpp"

#include <algorithm>
#include <array>
#include <charconv>

namespace egress::audit {
namespace {

constexpr char kHex[] = "0123456789abcdef";

// Bytes that cannot be copied through as they are: control characters, '"', '\\', non-ASCII.
constexpr std::array<bool, 256> kSpecial = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) t[c] = c < 0x20 || c >= 0x80 || c == '"' || c == '\\';
  return t;
}();

// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is invalid (RFC 3629 table:
// no overlongs, no surrogates, nothing above U+10FFFF).
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) noexcept {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const auto cont = [&](std::size_t k, unsigned lo = 0x80, unsigned hi = 0xBF) {
    return k < s.size() && byte(k) >= lo && byte(k) <= hi;
  };
  const unsigned c = byte(i);
  if (c >= 0xC2 && c <= 0xDF) return cont(i + 1) ? 2 : 0;
  if (c == 0xE0) return cont(i + 1, 0xA0, 0xBF) && cont(i + 2) ? 3 : 0;
  if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) return cont(i + 1) && cont(i + 2) ? 3 : 0;
  if (c == 0xED) return cont(i + 1, 0x80, 0x9F) && cont(i + 2) ? 3 : 0;
  if (c == 0xF0) return cont(i + 1, 0x90, 0xBF) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  if (c >= 0xF1 && c <= 0xF3) return cont(i + 1) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  if (c == 0xF4) return cont(i + 1, 0x80, 0x8F) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  return 0;
}

// U+0085 NEL, U+2028 LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR are valid in a JSON string,
// but tools that split text on Unicode line boundaries (JavaScript before ES2019, Python's
// str.splitlines, some log shippers) would cut a record in two (issue 17 item 10): they are
// written escaped. The escape for the valid `len`-byte sequence at s[i], or nullptr.
const char* line_separator_escape(std::string_view s, std::size_t i, std::size_t len) noexcept {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  if (len == 2 && byte(0) == 0xC2 && byte(1) == 0x85) return "\\u0085";
  if (len == 3 && byte(0) == 0xE2 && byte(1) == 0x80) {
    if (byte(2) == 0xA8) return "\\u2028";
    if (byte(2) == 0xA9) return "\\u2029";
  }
  return nullptr;
}

}  // namespace

void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  std::size_t run = 0;  // start of the pending run of bytes that need no escaping
  std::size_t i = 0;
  const auto flush = [&] { out.append(text.data() + run, i - run); };
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (!kSpecial[c]) {
      ++i;
      continue;
    }
    if (c >= 0x80) {
      const std::size_t len = utf8_sequence_length(text, i);
      if (const char* esc = line_separator_escape(text, i, len)) {
        flush();
        out += esc;
        run = i += len;
        continue;
      }
      if (len != 0) {
        i += len;
        continue;
      }
      flush();
      out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER
      run = ++i;
      continue;
    }
    flush();
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 0xF];
    }
    run = ++i;
  }
  flush();
  out += '"';
}

std::string& ObjectWriter::key(std::string_view key) {
  // One append per key: `,"key":` (keys are short literals).
  char buf[64];
  if (key.size() + 4 <= sizeof buf) {
    char* p = buf;
    if (!first_) *p++ = ',';
    *p++ = '"';
    p = std::copy(key.begin(), key.end(), p);
    *p++ = '"';
    *p++ = ':';
    out_.append(buf, static_cast<std::size_t>(p - buf));
  } else {
    if (!first_) out_ += ',';
    out_ += '"';
    out_ += key;
    out_ += "\":";
  }
  first_ = false;
  return out_;
}

void ObjectWriter::str(std::string_view k, std::string_view value) {
  append_json_string(key(k), value);
}

void ObjectWriter::num(std::string_view k, std::uint64_t value) {
  char buf[24];
  const auto res = std::to_chars(buf, buf + sizeof buf, value);
  key(k).append(buf, static_cast<std::size_t>(res.ptr - buf));
}

void ObjectWriter::boolean(std::string_view k, bool value) {
  key(k) += value ? "true" : "false";
}

void ObjectWriter::str_array(std::string_view k, const std::vector<std::string>& values) {
  std::string& out = key(k);
  out += '[';
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i != 0) out += ',';
    append_json_string(out, values[i]);
  }
  out += ']';
}

}  // namespace egress::audit
