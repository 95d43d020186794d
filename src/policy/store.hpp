#pragma once

// CONTRACT for the data path (src/core, src/filters). The policy library implements it; the
// signatures below are what the rest of the program calls. Details of Policy's internals are the
// policy library's own.

#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/diagnostic.hpp"
#include "policy/facts.hpp"
#include "policy/policy.hpp"

namespace egress::policy {

class Policy;  // immutable compiled policy (policy/policy.hpp)

/// The result of loading a directory: a compiled policy, or every error found.
struct LoadResult {
  std::shared_ptr<const Policy> policy;  ///< null when errors is non-empty
  std::vector<base::Diagnostic> errors;
  std::vector<base::Diagnostic> warnings;
};

/// Says which revision of its source the policy directory `dir` holds (the git commit and whether
/// the files differ from it; `sha256` is the loader's), appending a warning when it cannot tell.
/// The loader layer supplies one (policy_source/git_revision.hpp); the policy library never asks
/// git itself. An empty reader: the version has no git part.
using RevisionReader = std::function<VersionInfo(const std::filesystem::path& dir,
                                                 std::vector<base::Diagnostic>& warnings)>;

/// Loads, validates and compiles every *.yaml of `dir` (name order). The version has no git part.
LoadResult load_policy_dir(const std::filesystem::path& dir);

/// Holds the running policy. Readers take a snapshot lock-free; reload() builds a new Policy
/// completely and swaps it only when it has no errors.
class PolicyStore {
 public:
  /// `revision` (may be empty) is asked on every reload; its warnings join the load's.
  explicit PolicyStore(std::filesystem::path dir, RevisionReader revision = {});

  /// Loads and, on success, installs the policy. On failure the running one (if any) stays.
  LoadResult reload();

  /// The running policy (null before the first successful reload). Lock-free.
  std::shared_ptr<const Policy> current() const noexcept;

  const std::filesystem::path& dir() const noexcept { return dir_; }

 private:
  std::filesystem::path dir_;
  RevisionReader revision_;
  std::atomic<std::shared_ptr<const Policy>> current_;
};

}  // namespace egress::policy
