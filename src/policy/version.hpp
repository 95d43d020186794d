#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "policy/loader.hpp"
#include "policy/policy.hpp"

namespace egress::policy {

/// Lowercase hex SHA-256 over the files in order. Each file contributes its relative name and
/// its bytes, each preceded by its length as 8 bytes big-endian, so no two different file sets
/// hash alike by shifting bytes between a name and a body.
std::string content_sha256(const std::vector<SourceFile>& files);

/// The git state of `dir`: `git -C dir rev-parse HEAD` and, for +dirty, whether
/// `git -C dir status --porcelain -- .` lists anything (untracked files count). Both fields are
/// empty/false when git is missing or `dir` is not in a work tree.
VersionInfo git_state(const std::filesystem::path& dir);

}  // namespace egress::policy
