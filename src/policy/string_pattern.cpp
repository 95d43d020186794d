#include "policy/string_pattern.hpp"

#include <re2/re2.h>
#include <re2/set.h>

namespace egress::policy {

namespace {

constexpr std::string_view kRegexPrefix = "regex:";

// `"text"` and the rest of a message. Built with append: GCC 12 at -O2 and above reports a false
// -Wrestrict inside `"\"" + std::string(text)` (the inlined operator+).
std::string quoted(std::string_view text, std::string_view rest) {
  std::string out;
  out.reserve(text.size() + rest.size() + 2);
  out.append(1, '"').append(text).append(1, '"').append(rest);
  return out;
}

RE2::Options regex_options() {
  RE2::Options o;
  o.set_log_errors(false);
  o.set_max_mem(64 << 20);
  return o;
}

PatternParse regex_pattern(std::string_view text) {
  PatternParse r;
  std::string body(text.substr(kRegexPrefix.size()));
  if (body.empty()) {
    r.error = "empty regex";
    return r;
  }
  if (auto err = check_regex(body); !err.empty()) {
    r.error = "invalid RE2 pattern \"" + body + "\": " + err;
    return r;
  }
  r.pattern = StringPattern{PatternKind::regex, std::move(body), std::string(text)};
  return r;
}

// Translates an identity glob into an anchored RE2 pattern. Segments are separated by '/';
// a whole-segment '*' needs at least one character, a '*' among other characters any run
// (including none); a final "/**" is one or more further segments.
PatternParse glob_pattern(std::string_view text) {
  PatternParse r;
  const auto scheme_end = text.find("://");
  std::size_t path_start = 0;
  if (scheme_end != std::string_view::npos) {
    path_start = text.find('/', scheme_end + 3);
    if (path_start == std::string_view::npos) path_start = text.size();
    if (text.substr(0, path_start).find('*') != std::string_view::npos) {
      r.error =
          quoted(text, ": '*' is not allowed in the scheme or trust domain, only in path segments");
      return r;
    }
  }
  std::string_view path = text.substr(path_start);
  bool tail_any = false;
  if (path.size() >= 3 && path.substr(path.size() - 3) == "/**") {
    tail_any = true;
    path.remove_suffix(3);
  }
  std::string re = RE2::QuoteMeta(re2::StringPiece(text.data(), path_start));
  std::size_t seg_start = 0;
  while (seg_start <= path.size()) {
    auto seg_end = path.find('/', seg_start);
    if (seg_end == std::string_view::npos) seg_end = path.size();
    const std::string_view seg = path.substr(seg_start, seg_end - seg_start);
    if (seg.find("**") != std::string_view::npos) {
      r.error = quoted(text, ": '**' is only allowed as the final segment (\".../**\")");
      return r;
    }
    if (seg == "*") {
      re += "[^/]+";
    } else {
      std::size_t i = 0;
      while (i < seg.size()) {
        const auto star = seg.find('*', i);
        const auto lit = seg.substr(i, star == std::string_view::npos ? seg.size() - i : star - i);
        re += RE2::QuoteMeta(re2::StringPiece(lit.data(), lit.size()));
        if (star == std::string_view::npos) break;
        re += "[^/]*";
        i = star + 1;
      }
    }
    if (seg_end == path.size()) break;
    re += '/';
    seg_start = seg_end + 1;
  }
  if (tail_any) re += "(?:/[^/]+)+";
  r.pattern = StringPattern{PatternKind::regex, std::move(re), std::string(text)};
  return r;
}

}  // namespace

std::string check_regex(const std::string& pattern) {
  RE2 re(pattern, regex_options());
  return re.ok() ? std::string() : re.error();
}

PatternParse parse_identity_pattern(std::string_view text) {
  if (text.empty()) return {std::nullopt, "empty identity"};
  if (text.starts_with(kRegexPrefix)) return regex_pattern(text);
  if (text.find('*') == std::string_view::npos) {
    return {StringPattern{PatternKind::exact, std::string(text), std::string(text)}, {}};
  }
  return glob_pattern(text);
}

PatternParse parse_dns_pattern(std::string_view text) {
  PatternParse r;
  if (text.starts_with(kRegexPrefix)) {
    r.error = "dns_name takes an exact name or \"*.domain\", not regex:";
    return r;
  }
  std::string norm;
  normalize_dns_name(text, norm);
  if (norm.empty() || norm == "*." || norm == "*") {
    r.error = quoted(text, " is not a DNS name");
    return r;
  }
  const bool wildcard = norm.starts_with("*.");
  const std::string_view rest = wildcard ? std::string_view(norm).substr(2) : norm;
  if (rest.find('*') != std::string_view::npos) {
    r.error = quoted(text, ": '*' is only allowed as the whole first label (\"*.example.com\")");
    return r;
  }
  for (char c : rest) {
    if (static_cast<unsigned char>(c) <= ' ' || c == '/') {
      r.error = quoted(text, " is not a DNS name");
      return r;
    }
  }
  if (rest.empty() || rest.front() == '.' || rest.find("..") != std::string_view::npos) {
    r.error = quoted(text, " has an empty label");
    return r;
  }
  r.pattern = StringPattern{wildcard ? PatternKind::suffix : PatternKind::exact, std::string(rest),
                            std::string(text)};
  return r;
}

PatternParse parse_cn_pattern(std::string_view text) {
  if (text.empty()) return {std::nullopt, "empty common_name"};
  if (text.starts_with(kRegexPrefix)) return regex_pattern(text);
  if (text.find('*') != std::string_view::npos) {
    return {std::nullopt,
            quoted(text, ": '*' is not a wildcard in common_name; write regex: for a pattern")};
  }
  return {StringPattern{PatternKind::exact, std::string(text), std::string(text)}, {}};
}

void normalize_dns_name(std::string_view name, std::string& out) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  out.assign(name.data(), name.size());
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
}

struct PatternSet::SetHolder {
  RE2::Set set{regex_options(), RE2::ANCHOR_BOTH};
};

PatternSet::PatternSet() = default;
PatternSet::~PatternSet() = default;
PatternSet::PatternSet(PatternSet&&) noexcept = default;
PatternSet& PatternSet::operator=(PatternSet&&) noexcept = default;

int PatternSet::add(const std::string& pattern) {
  if (!set_) set_ = std::make_unique<SetHolder>();
  std::string err;
  const int id = set_->set.Add(pattern, &err);
  singles_.push_back(std::make_unique<RE2>(pattern, regex_options()));
  const int mine = static_cast<int>(singles_.size()) - 1;
  if (id != mine) set_ok_ = false;  // numbering diverged: use the single patterns only
  return mine;
}

bool PatternSet::compile() {
  compiled_ = set_ok_ && set_ && set_->set.Compile();
  return compiled_ || singles_.empty();
}

void PatternSet::match(std::string_view text, std::vector<int>& out) const noexcept {
  if (singles_.empty()) return;
  const re2::StringPiece sp(text.data(), text.size());
  if (compiled_) {
    RE2::Set::ErrorInfo info{};
    // The boolean probe allocates nothing; only a hit pays for the list of matches.
    if (!set_->set.Match(sp, nullptr, &info)) {
      if (info.kind == RE2::Set::kNoError) return;
    } else {
      static thread_local std::vector<int> hits;
      hits.clear();
      info = {};
      if (set_->set.Match(sp, &hits, &info) && info.kind == RE2::Set::kNoError) {
        out.insert(out.end(), hits.begin(), hits.end());
        return;
      }
      if (info.kind == RE2::Set::kNoError) return;
    }
  }
  // DFA out of memory (or no set): never miss a match, so try each pattern.
  for (std::size_t i = 0; i < singles_.size(); ++i) {
    if (singles_[i]->ok() && RE2::FullMatch(sp, *singles_[i])) out.push_back(static_cast<int>(i));
  }
}

}  // namespace egress::policy
