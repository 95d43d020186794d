#pragma once

#include <filesystem>
#include <vector>

#include "base/diagnostic.hpp"
#include "policy/policy.hpp"

namespace egress::cli {

/// egressd's policy revision reader: policy_source::read_git_revision, and at debug level what
/// is read from where (the directory and its *.yaml files, in load order) and the commit found.
/// The store asks it on every load (start-up and each SIGHUP), which makes it the place to say so.
policy::VersionInfo read_revision_logged(const std::filesystem::path& dir,
                                         std::vector<base::Diagnostic>& warnings);

}  // namespace egress::cli
