#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace egress::audit {

/// Appends `text` to `out` as a JSON string literal (with the quotes). Escapes `"`, `\`, every
/// control character (U+0000..U+001F, as \n, \t, ... or \u00XX) and the Unicode line separators
/// U+0085, U+2028 and U+2029 (as \u0085, \u2028, \u2029), so a line holds exactly one record
/// for every line splitter; invalid UTF-8 bytes each become U+FFFD, so the output is always valid
/// UTF-8 JSON whatever bytes a certificate or errno text held.
void append_json_string(std::string& out, std::string_view text);

/// Writes one JSON object into a string, key by key, without building a DOM. Keys are trusted
/// literals (never escaped); values are escaped. Call finish() exactly once.
class ObjectWriter {
 public:
  explicit ObjectWriter(std::string& out) : out_(out) { out_ += '{'; }

  /// "key":"value"
  void str(std::string_view key, std::string_view value);
  /// "key":"value", omitted when value is empty.
  void str_if(std::string_view key, std::string_view value) {
    if (!value.empty()) str(key, value);
  }
  /// "key":123
  void num(std::string_view key, std::uint64_t value);
  /// "key":true|false
  void boolean(std::string_view key, bool value);
  /// "key":["a","b"] (always written, possibly empty)
  void str_array(std::string_view key, const std::vector<std::string>& values);
  /// Writes `"key":` and returns the buffer so the caller can append a nested value.
  std::string& key(std::string_view key);
  /// Closes the object.
  void finish() { out_ += '}'; }

 private:
  std::string& out_;
  bool first_ = true;
};

}  // namespace egress::audit
