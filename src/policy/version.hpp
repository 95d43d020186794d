#pragma once

#include <string>
#include <vector>

#include "policy/loader.hpp"
#include "policy/policy.hpp"

namespace egress::policy {

/// Lowercase hex SHA-256 over the files in order. Each file contributes its relative name and
/// its bytes, each preceded by its length as 8 bytes big-endian, so no two different file sets
/// hash alike by shifting bytes between a name and a body.
std::string content_sha256(const std::vector<SourceFile>& files);

// The git part of the version is read by the loader layer (policy_source/git_revision.hpp) and
// handed in as VersionInfo: the policy library runs no subprocess and reads no repository.

}  // namespace egress::policy
