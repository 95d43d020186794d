#pragma once

// Helpers for reading YAML with positions: every problem becomes a Diagnostic with the file,
// line, column and key path, and reading goes on so that one run reports everything.

#include <yaml-cpp/yaml.h>

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/diagnostic.hpp"
#include "policy/model.hpp"
#include "policy/store.hpp"

namespace egress::policy::yaml {

/// Collects diagnostics for one file.
class Reader {
 public:
  Reader(std::string file, std::vector<base::Diagnostic>& out)
      : file_(std::move(file)), out_(out) {}

  const std::string& file() const noexcept { return file_; }
  model::Position position(const YAML::Node& n) const;
  void error(const YAML::Node& at, const std::string& path, std::string message);
  void error(const model::Position& at, const std::string& path, std::string message);

  /// A scalar's text; reports "expected a string" otherwise.
  std::optional<std::string> string(const YAML::Node& n, const std::string& path);
  /// "true"/"false" (YAML 1.2 core schema spellings); reports otherwise.
  std::optional<bool> boolean(const YAML::Node& n, const std::string& path);
  /// A scalar or a sequence of scalars as a list of strings (with their nodes).
  std::optional<std::vector<YAML::Node>> list(const YAML::Node& n, const std::string& path,
                                              bool allow_scalar);

  std::size_t error_count() const noexcept { return out_.size(); }

 private:
  std::string file_;
  std::vector<base::Diagnostic>& out_;
};

/// The keys of one mapping, checked against the allowed set: unknown and duplicate keys are
/// reported where they are written.
class Map {
 public:
  /// Reports "expected a mapping" when `n` is not one (then every find() is empty).
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

}  // namespace egress::policy::yaml
