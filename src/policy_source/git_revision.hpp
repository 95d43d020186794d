#pragma once

#include <filesystem>
#include <vector>

#include "base/diagnostic.hpp"
#include "policy/policy.hpp"
#include "policy/store.hpp"

namespace egress::policy_source {

/// The git revision of the policy directory `dir`, read with libgit2 (no `git` subprocess, so it
/// works in an image without git): `git_commit` is HEAD's commit id (40 hex) of the work tree that
/// contains `dir` (`dir` may be a subdirectory of it, a linked worktree whose `.git` is a file, or
/// reached through a symlink), and `git_dirty` says whether anything under `dir` differs from
/// HEAD (modified, staged, deleted or untracked files; ignored files do not count).
///
/// Works whoever owns the checkout (libgit2's owner validation is off: see the .cpp). When `dir`
/// is not inside a git work tree, or HEAD has no commit yet, both fields are empty/false and
/// nothing is said. When it is inside a repository that cannot be read, both fields are
/// empty/false and one warning is appended naming `dir` and libgit2's reason; when HEAD is read
/// but the files cannot be compared with it, the commit is kept, `git_dirty` is true and a warning
/// says why. `sha256` is left empty (the loader computes it from the bytes it read).
policy::VersionInfo read_git_revision(const std::filesystem::path& dir,
                                      std::vector<base::Diagnostic>& warnings);

}  // namespace egress::policy_source
