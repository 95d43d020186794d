#pragma once

// The strict YAML reader shared by the gateway config and the policy: every problem becomes a
// base::Diagnostic with the file, line, column and key path, and reading goes on so that one run
// reports everything. Bytes reach yaml-cpp only through the guard (yaml/guard.hpp).

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/diagnostic.hpp"
#include "yaml/position.hpp"

namespace egress::yaml {

/// "a scalar", "a list", "a mapping" or "nothing": what a node is, for messages.
std::string type_name(const YAML::Node& n);

/// Collects the diagnostics of one file.
class Reader {
 public:
  Reader(std::string file, std::vector<base::Diagnostic>& out)
      : file_(std::move(file)), out_(out) {}

  const std::string& file() const noexcept { return file_; }
  Position position(const YAML::Node& n) const;
  /// An error at `at` (a node's position; the file's start when it has none).
  void error(const YAML::Node& at, const std::string& path, std::string message);
  /// An error at a position; line 0 is the file as a whole.
  void error(const Position& at, const std::string& path, std::string message);

  /// Every document of `bytes`, after the guard. On invalid YAML: one "invalid YAML: ..." error
  /// at the offending position and nullopt. Never throws.
  std::optional<std::vector<YAML::Node>> load_all(const std::string& bytes);

  /// A scalar's text; otherwise reports "expected <expected>, found a list" (or the like).
  std::optional<std::string> scalar(const YAML::Node& n, const std::string& path,
                                    std::string_view expected);
  /// A scalar's text ("expected a string").
  std::optional<std::string> string(const YAML::Node& n, const std::string& path);
  /// true / false (YAML 1.2 core schema spellings: also True, TRUE, False, FALSE).
  std::optional<bool> boolean(const YAML::Node& n, const std::string& path);
  /// A decimal integer in [min, max]: "\"x\" is not an integer", "must be between ...".
  template <class Int>
  std::optional<Int> integer(const YAML::Node& n, const std::string& path, Int min, Int max);
  /// One of the names given: "\"x\" is not one of a | b".
  template <class T>
  std::optional<T> one_of(const YAML::Node& n, const std::string& path,
                          std::initializer_list<std::pair<std::string_view, T>> choices);
  /// A sequence's items (a scalar alone too when `allow_scalar`).
  std::optional<std::vector<YAML::Node>> list(const YAML::Node& n, const std::string& path,
                                              bool allow_scalar);

  std::size_t error_count() const noexcept { return out_.size(); }

 private:
  std::string file_;
  std::vector<base::Diagnostic>& out_;
};

/// The keys of one mapping, checked against the allowed set: unknown keys (with the closest
/// allowed one as "did you mean") and duplicate keys are reported where they are written.
class Map {
 public:
  /// `what` names the mapping in messages ("a listener", "Rule"). Reports "expected a mapping"
  /// when `n` is not one (then ok() is false and every find() is empty).
  Map(Reader& r, const YAML::Node& n, std::string path, std::string_view what,
      std::initializer_list<std::string_view> allowed);

  bool ok() const noexcept { return ok_; }
  /// The value of `key`, or nullopt when absent.
  std::optional<YAML::Node> find(std::string_view key) const;
  /// Like find(), reporting "missing required key" at the mapping when absent.
  std::optional<YAML::Node> require(std::string_view key);
  /// "path.key" (or "key" at the top).
  std::string path(std::string_view key) const;
  const YAML::Node& node() const noexcept { return node_; }
  std::size_t size() const noexcept { return entries_.size(); }

 private:
  Reader& reader_;
  YAML::Node node_;
  std::string path_;
  std::string what_;
  bool ok_ = false;
  std::vector<std::pair<std::string, YAML::Node>> entries_;
};

/// "path[i]"
std::string index_path(const std::string& path, std::size_t i);

/// The allowed name closest to `word` (edit distance at most a third of its length, at least
/// 1), or "" when none is close: "did you mean" material.
std::string closest(std::string_view word, std::initializer_list<std::string_view> allowed);

template <class Int>
std::optional<Int> Reader::integer(const YAML::Node& n, const std::string& path, Int min, Int max) {
  auto s = scalar(n, path, "an integer");
  if (!s) return std::nullopt;
  Int out{};
  const char* end = s->data() + s->size();
  const auto [p, ec] = std::from_chars(s->data(), end, out);
  if (s->empty() || ec != std::errc{} || p != end) {
    error(n, path, "\"" + *s + "\" is not an integer");
    return std::nullopt;
  }
  if (out < min || out > max) {
    error(n, path,
          "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " + *s);
    return std::nullopt;
  }
  return out;
}

template <class T>
std::optional<T> Reader::one_of(const YAML::Node& n, const std::string& path,
                                std::initializer_list<std::pair<std::string_view, T>> choices) {
  std::string names;
  for (const auto& c : choices) names += (names.empty() ? "" : " | ") + std::string(c.first);
  auto s = scalar(n, path, "one of " + names);
  if (!s) return std::nullopt;
  for (const auto& [name, value] : choices) {
    if (name == *s) return value;
  }
  error(n, path, "\"" + *s + "\" is not one of " + names);
  return std::nullopt;
}

}  // namespace egress::yaml
