#pragma once

// A policy directory as egressd and egressctl load it: the files (policy_files.hpp), the git
// revision (git_revision.hpp, or any reader a test injects), then the policy library's pure
// load_policy_sources.

#include <filesystem>
#include <functional>
#include <vector>

#include "base/diagnostic.hpp"
#include "policy/loader.hpp"
#include "policy/policy.hpp"
#include "policy/store.hpp"

namespace egress::policy_source {

/// Says which revision of its source the policy directory `dir` holds (the git commit and whether
/// the files differ from it), appending a warning when it cannot tell. read_git_revision is the
/// one egressd uses. An empty reader: the version has no git part.
using RevisionReader = std::function<policy::VersionInfo(const std::filesystem::path& dir,
                                                         std::vector<base::Diagnostic>& warnings)>;

/// Loads, validates and compiles every *.yaml of `dir` (name order): every unreadable entry is
/// an error, and so is a directory without *.yaml files. The reader's warnings come first among
/// the result's warnings. `options.git` is replaced by what `revision` says.
policy::LoadResult load_policy_dir(const std::filesystem::path& dir,
                                   const RevisionReader& revision = {},
                                   policy::LoadOptions options = {});

/// Reads the PolicyTest documents of a test directory (nothing else is allowed there); its
/// entries are read like a policy directory's.
policy::ParseOutput load_test_dir(const std::filesystem::path& dir);

/// The loader a PolicyStore runs on every reload: load_policy_dir(dir, revision).
policy::PolicyLoader directory_loader(std::filesystem::path dir, RevisionReader revision = {});

}  // namespace egress::policy_source
