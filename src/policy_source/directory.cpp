#include "policy_source/directory.hpp"

#include <utility>

#include "policy_source/policy_files.hpp"

namespace egress::policy_source {

policy::LoadResult load_policy_dir(const std::filesystem::path& dir, const RevisionReader& revision,
                                   policy::LoadOptions options) {
  policy::LoadResult result;
  const auto files = read_policy_files(dir, result.errors);
  if (!result.errors.empty()) return result;
  if (files.empty()) {
    result.errors.push_back(
        base::Diagnostic::about(dir.string(), "no *.yaml files in the policy directory"));
    return result;
  }
  std::vector<base::Diagnostic> revision_warnings;
  options.git = revision ? revision(dir, revision_warnings) : policy::VersionInfo{};
  policy::LoadResult loaded = policy::load_policy_sources(files, options, dir.string());
  loaded.warnings.insert(loaded.warnings.begin(), revision_warnings.begin(),
                         revision_warnings.end());
  return loaded;
}

policy::ParseOutput load_test_dir(const std::filesystem::path& dir) {
  policy::ParseOutput out;
  const auto files = read_policy_files(dir, out.errors);
  if (!out.errors.empty()) return out;
  return policy::parse_sources(files, policy::SourceKind::tests_only, dir.string());
}

policy::PolicyLoader directory_loader(std::filesystem::path dir, RevisionReader revision) {
  return [dir = std::move(dir), revision = std::move(revision)] {
    return load_policy_dir(dir, revision);
  };
}

}  // namespace egress::policy_source
