#include "policy/yaml_reader.hpp"

namespace egress::policy::yaml {

model::Position Reader::position(const YAML::Node& n) const {
  const YAML::Mark m = n.Mark();
  return {file_, m.line >= 0 ? m.line + 1 : 1, m.column >= 0 ? m.column + 1 : 1};
}

void Reader::error(const YAML::Node& at, const std::string& path, std::string message) {
  error(position(at), path, std::move(message));
}

void Reader::error(const model::Position& at, const std::string& path, std::string message) {
  base::Diagnostic d;
  d.severity = base::Diagnostic::Severity::error;
  d.file = at.file.empty() ? file_ : at.file;
  d.line = at.line;
  d.column = at.column;
  d.key_path = path;
  d.message = std::move(message);
  out_.push_back(std::move(d));
}

namespace {

std::string type_name(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
      return "nothing";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

}  // namespace

std::optional<std::string> Reader::string(const YAML::Node& n, const std::string& path) {
  if (!n.IsScalar()) {
    error(n, path, "expected a string, found " + type_name(n));
    return std::nullopt;
  }
  return n.Scalar();
}

std::optional<bool> Reader::boolean(const YAML::Node& n, const std::string& path) {
  if (n.IsScalar()) {
    const std::string& s = n.Scalar();
    if (s == "true" || s == "True" || s == "TRUE") return true;
    if (s == "false" || s == "False" || s == "FALSE") return false;
  }
  error(
      n, path,
      "expected true or false, found " + (n.IsScalar() ? "\"" + n.Scalar() + "\"" : type_name(n)));
  return std::nullopt;
}

std::optional<std::vector<YAML::Node>> Reader::list(const YAML::Node& n, const std::string& path,
                                                    bool allow_scalar) {
  if (n.IsSequence()) {
    std::vector<YAML::Node> out;
    for (const auto& item : n) out.push_back(item);
    return out;
  }
  if (allow_scalar && n.IsScalar()) return std::vector<YAML::Node>{n};
  error(n, path, "expected a list, found " + type_name(n));
  return std::nullopt;
}

Map::Map(Reader& r, const YAML::Node& n, std::string path, std::string_view what,
         std::initializer_list<std::string_view> allowed)
    : reader_(r), node_(n), path_(std::move(path)), what_(what) {
  if (!n.IsMap()) {
    r.error(n, path_.empty() ? std::string(what) : path_,
            "expected a mapping, found " + type_name(n));
    return;
  }
  ok_ = true;
  for (auto it = n.begin(); it != n.end(); ++it) {
    const YAML::Node key = it->first;
    if (!key.IsScalar()) {
      r.error(key, path_, "keys must be strings");
      continue;
    }
    const std::string& k = key.Scalar();
    bool known = false;
    for (auto a : allowed) known = known || a == k;
    if (!known) {
      std::string msg = "unknown key \"" + k + "\" in " + std::string(what) + " (allowed: ";
      bool first = true;
      for (auto a : allowed) {
        msg += first ? "" : ", ";
        msg += a;
        first = false;
      }
      r.error(key, this->path(k), msg + ")");
      continue;
    }
    bool dup = false;
    for (const auto& e : entries_) dup = dup || e.first == k;
    if (dup) {
      r.error(key, this->path(k), "duplicate key \"" + k + "\"");
      continue;
    }
    entries_.emplace_back(k, it->second);
  }
}

std::optional<YAML::Node> Map::find(std::string_view key) const {
  for (const auto& e : entries_) {
    if (e.first == key) return e.second;
  }
  return std::nullopt;
}

std::optional<YAML::Node> Map::require(std::string_view key) {
  auto v = find(key);
  if (!v && ok_) {
    reader_.error(node_, path(key),
                  "missing required key \"" + std::string(key) + "\" in " + what_);
  }
  return v;
}

std::string Map::path(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

std::string index_path(const std::string& path, std::size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

}  // namespace egress::policy::yaml
