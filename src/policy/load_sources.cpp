// load_policy_sources: bytes → validated model → lint → compiled Policy. No I/O.
#include <chrono>
#include <exception>

#include "policy/lint.hpp"
#include "policy/loader.hpp"
#include "policy/policy.hpp"
#include "policy/version.hpp"

namespace egress::policy {

namespace {

LoadResult load(const std::vector<SourceFile>& files, const LoadOptions& options,
                const std::string& label) {
  LoadResult result;
  ParseOutput parsed = parse_sources(files, SourceKind::policy, label);
  if (!parsed.errors.empty()) {
    result.errors = std::move(parsed.errors);
    return result;
  }
  const auto wall = std::chrono::system_clock::now();
  const auto now = options.now == std::chrono::system_clock::time_point{} ? wall : options.now;
  result.warnings = lint(parsed.model, now);
  VersionInfo version = options.git;
  version.sha256 = content_sha256(files);
  try {
    result.policy = Policy::compile(std::move(parsed.model), std::move(version), wall);
  } catch (const std::exception& e) {
    result.errors.push_back(
        base::Diagnostic::about(label, std::string("cannot compile the policy: ") + e.what()));
  }
  return result;
}

}  // namespace

LoadResult load_policy_sources(const std::vector<SourceFile>& files, const LoadOptions& options,
                               const std::string& dir_label) {
  try {
    return load(files, options, dir_label);
  } catch (const std::exception& e) {
    LoadResult r;
    r.errors.push_back(
        base::Diagnostic::about(dir_label, std::string("cannot load the policy: ") + e.what()));
    return r;
  }
}

}  // namespace egress::policy
