#include "policy/store.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "policy/lint.hpp"
#include "policy/loader.hpp"
#include "policy/policy.hpp"
#include "policy/version.hpp"

namespace egress::policy {

namespace {

Diagnostic dir_error(const std::string& label, std::string message) {
  Diagnostic d;
  d.file = label;
  d.message = std::move(message);
  return d;
}

std::string label_of(const std::filesystem::path& dir) {
  return dir.string();
}

LoadResult load(const std::vector<SourceFile>& files, const LoadOptions& options,
                const std::string& label, VersionInfo version) {
  LoadResult result;
  ParseOutput parsed = parse_sources(files, SourceKind::policy, label);
  if (!parsed.errors.empty()) {
    result.errors = std::move(parsed.errors);
    return result;
  }
  const auto wall = std::chrono::system_clock::now();
  const auto now = options.now == std::chrono::system_clock::time_point{} ? wall : options.now;
  result.warnings = lint(parsed.model, now);
  version.sha256 = content_sha256(files);
  try {
    result.policy = Policy::compile(std::move(parsed.model), std::move(version), wall);
  } catch (const std::exception& e) {
    result.errors.push_back(
        dir_error(label, std::string("cannot compile the policy: ") + e.what()));
  }
  return result;
}

}  // namespace

std::vector<SourceFile> read_policy_files(const std::filesystem::path& dir,
                                          std::vector<Diagnostic>& errors) {
  std::vector<SourceFile> files;
  std::error_code ec;
  std::vector<std::filesystem::path> paths;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) {
    errors.push_back(dir_error(label_of(dir), "cannot read the directory: " + ec.message()));
    return files;
  }
  for (const auto& entry : it) {
    const auto& p = entry.path();
    if (p.extension() != ".yaml" || !entry.is_regular_file(ec)) continue;
    paths.push_back(p);
  }
  std::sort(paths.begin(), paths.end(), [](const auto& a, const auto& b) {
    return a.filename().string() < b.filename().string();
  });
  for (const auto& p : paths) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream buf;
    buf << in.rdbuf();
    if (!in.good() && !in.eof()) {
      errors.push_back(dir_error(p.filename().string(), "cannot read the file"));
      continue;
    }
    files.push_back({p.filename().string(), buf.str()});
  }
  return files;
}

LoadResult load_policy_sources(const std::vector<SourceFile>& files, const LoadOptions& options,
                               const std::string& dir_label) {
  try {
    return load(files, options, dir_label, {});
  } catch (const std::exception& e) {
    LoadResult r;
    r.errors.push_back(dir_error(dir_label, std::string("cannot load the policy: ") + e.what()));
    return r;
  }
}

LoadResult load_policy_dir(const std::filesystem::path& dir, const LoadOptions& options) {
  LoadResult result;
  auto files = read_policy_files(dir, result.errors);
  if (!result.errors.empty()) return result;
  if (files.empty()) {
    result.errors.push_back(dir_error(label_of(dir), "no *.yaml files in the policy directory"));
    return result;
  }
  VersionInfo version;
  if (options.git) version = git_state(dir);
  try {
    return load(files, options, label_of(dir), std::move(version));
  } catch (const std::exception& e) {
    result.errors.push_back(
        dir_error(label_of(dir), std::string("cannot load the policy: ") + e.what()));
    return result;
  }
}

LoadResult load_policy_dir(const std::filesystem::path& dir) {
  return load_policy_dir(dir, {});
}

ParseOutput load_test_dir(const std::filesystem::path& dir) {
  ParseOutput out;
  auto files = read_policy_files(dir, out.errors);
  if (!out.errors.empty()) return out;
  return parse_sources(files, SourceKind::tests_only, label_of(dir));
}

PolicyStore::PolicyStore(std::filesystem::path dir) : dir_(std::move(dir)) {}

LoadResult PolicyStore::reload() {
  LoadResult r = load_policy_dir(dir_);
  if (r.errors.empty() && r.policy) current_.store(r.policy);
  return r;
}

std::shared_ptr<const Policy> PolicyStore::current() const noexcept {
  return current_.load();
}

}  // namespace egress::policy
