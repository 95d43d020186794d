#include "yaml/reader.hpp"

#include <algorithm>

#include "yaml/guard.hpp"

namespace egress::yaml {

std::string type_name(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

Position Reader::position(const YAML::Node& n) const {
  const YAML::Mark m = n.IsDefined() ? n.Mark() : YAML::Mark::null_mark();
  return {file_, m.line >= 0 ? m.line + 1 : 1, m.column >= 0 ? m.column + 1 : 1};
}

void Reader::error(const YAML::Node& at, const std::string& path, std::string message) {
  error(position(at), path, std::move(message));
}

void Reader::error(const Position& at, const std::string& path, std::string message) {
  base::Diagnostic d;
  d.severity = base::Diagnostic::Severity::error;
  d.file = at.file.empty() ? file_ : at.file;
  d.line = at.line;
  d.column = at.column;
  d.key_path = path;
  d.message = std::move(message);
  out_.push_back(std::move(d));
}

std::optional<std::vector<YAML::Node>> Reader::load_all(const std::string& bytes) {
  if (auto problem = check(bytes)) {
    error(Position{file_, problem->line, problem->column}, "", "invalid YAML: " + problem->message);
    return std::nullopt;
  }
  try {
    return YAML::LoadAll(bytes);
  } catch (const YAML::Exception& e) {
    error(Position{file_, e.mark.line >= 0 ? e.mark.line + 1 : 1,
                   e.mark.column >= 0 ? e.mark.column + 1 : 1},
          "", "invalid YAML: " + e.msg);
  } catch (const std::exception& e) {
    error(Position{file_, 1, 1}, "", std::string("invalid YAML: ") + e.what());
  }
  return std::nullopt;
}

std::optional<std::string> Reader::scalar(const YAML::Node& n, const std::string& path,
                                          std::string_view expected) {
  if (!n.IsScalar()) {
    error(n, path, "expected " + std::string(expected) + ", found " + type_name(n));
    return std::nullopt;
  }
  return n.Scalar();
}

std::optional<std::string> Reader::string(const YAML::Node& n, const std::string& path) {
  return scalar(n, path, "a string");
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

namespace {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  // Optimal string alignment: a swap of two neighbours ("adress", "defualt") counts as one.
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

}  // namespace

std::string closest(std::string_view word, std::initializer_list<std::string_view> allowed) {
  // Keys are short; a long unknown key is not worth comparing character by character.
  if (word.size() > 64) return {};
  const std::size_t limit = std::max<std::size_t>(1, word.size() / 3);
  std::string_view best;
  std::size_t best_distance = limit + 1;
  for (auto a : allowed) {
    const std::size_t dist = edit_distance(word, a);
    if (dist < best_distance) {
      best = a;
      best_distance = dist;
    }
  }
  return std::string(best);
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
      std::string msg = "unknown key \"" + k + "\" in " + std::string(what);
      if (const auto near = closest(k, allowed); !near.empty()) {
        msg += ", did you mean \"" + near + "\"?";
      }
      msg += " (allowed: ";
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

}  // namespace egress::yaml
