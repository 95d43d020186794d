#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace re2 {
class RE2;
}  // namespace re2

namespace egress::policy {

/// How a principal string field (identity, dns_name, common_name) matches.
enum class PatternKind : std::uint8_t {
  exact,   ///< byte equality (DNS names: after lowercasing and dropping a trailing dot)
  regex,   ///< an RE2 pattern that must match the whole value (globs are compiled to one)
  suffix,  ///< DNS "*.example.com": any name ending in ".example.com", never the apex
};

/// A parsed pattern: `text` is the exact value / the suffix (without "*.") / the RE2 source.
struct StringPattern {
  PatternKind kind = PatternKind::exact;
  std::string text;
  std::string written;  ///< as the user wrote it, for messages
  friend bool operator==(const StringPattern&, const StringPattern&) = default;
};

/// The result of parsing a pattern: the pattern, or an error message.
struct PatternParse {
  std::optional<StringPattern> pattern;
  std::string error;
};

/// `identity`: exact; glob (`*` inside one path segment, a final `/**` = one or more segments,
/// no `*` in the scheme or trust domain); or "regex:" + RE2.
PatternParse parse_identity_pattern(std::string_view text);
/// `dns_name`: exact or "*.example.com" (any subdomain, any depth, not the apex); case-insensitive.
PatternParse parse_dns_pattern(std::string_view text);
/// `common_name`: exact or "regex:" + RE2.
PatternParse parse_cn_pattern(std::string_view text);

/// Lowercases and drops one trailing dot into `out` (which keeps its capacity between calls).
void normalize_dns_name(std::string_view name, std::string& out);

/// Checks an RE2 pattern; returns RE2's message, or empty when it compiles.
std::string check_regex(const std::string& pattern);

/// Many RE2 patterns matched at once (one RE2::Set, anchored at both ends). If the set's DFA runs
/// out of memory, falls back to each pattern on its own so that a match is never missed.
class PatternSet {
 public:
  PatternSet();
  ~PatternSet();
  PatternSet(PatternSet&&) noexcept;
  PatternSet& operator=(PatternSet&&) noexcept;

  /// Adds a pattern (already checked with check_regex) and returns its number.
  int add(const std::string& pattern);
  /// Compiles the set; returns false (and the set matches nothing) on failure.
  bool compile();
  std::size_t size() const noexcept { return singles_.size(); }

  /// Appends the numbers of every pattern matching the whole of `text` to `out`.
  void match(std::string_view text, std::vector<int>& out) const noexcept;

 private:
  struct SetHolder;
  std::unique_ptr<SetHolder> set_;
  std::vector<std::unique_ptr<re2::RE2>> singles_;
  bool compiled_ = false;
  bool set_ok_ = true;
};

}  // namespace egress::policy
