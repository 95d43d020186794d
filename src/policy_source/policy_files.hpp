#pragma once

#include <filesystem>
#include <vector>

#include "base/diagnostic.hpp"
#include "policy/loader.hpp"

namespace egress::policy_source {

/// Reads every `*.yaml` entry of `dir` (not recursive, symlinks followed), sorted by name. Every
/// entry that is not a readable regular file (a dangling symlink, a symlink loop, a directory, a
/// FIFO, a socket, ...) is an error naming it and the system's reason, never skipped; so is any
/// error listing the directory (then nothing is returned). A FIFO or device is never opened.
std::vector<policy::SourceFile> read_policy_files(const std::filesystem::path& dir,
                                                  std::vector<base::Diagnostic>& errors);

}  // namespace egress::policy_source
