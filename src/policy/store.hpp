#pragma once

// The running policy and how a new one is installed. The policy library reads no file: the
// caller injects the loader (policy_source reads a directory).

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

/// The result of loading a policy: a compiled policy, or every error found.
struct LoadResult {
  std::shared_ptr<const Policy> policy;  ///< null when errors is non-empty
  std::vector<base::Diagnostic> errors;
  std::vector<base::Diagnostic> warnings;
};

/// Produces a policy from wherever its bytes live: the loader layer reads them
/// (policy_source::directory_loader: a directory's *.yaml and its git revision) and hands them to
/// load_policy_sources. Called by PolicyStore::reload; may throw (reported as an error).
using PolicyLoader = std::function<LoadResult()>;

/// Holds the running policy. Readers take a snapshot lock-free; a policy is installed only when
/// it was built completely, without errors.
class PolicyStore {
 public:
  /// `dir` names the policy's source in logs and in the admin endpoint; `load` is what reload()
  /// runs (empty: reload() reports an error and installs nothing).
  PolicyStore(std::filesystem::path dir, PolicyLoader load);

  /// Runs the loader and installs its policy when it has no errors. On failure the running one
  /// (if any) stays.
  LoadResult reload();

  /// Installs `r.policy` when `r` has no errors (and a policy); true when it did.
  bool install(const LoadResult& r);

  /// The running policy (null before the first successful reload). Lock-free.
  std::shared_ptr<const Policy> current() const noexcept;

  const std::filesystem::path& dir() const noexcept { return dir_; }

 private:
  std::filesystem::path dir_;
  PolicyLoader load_;
  std::atomic<std::shared_ptr<const Policy>> current_;
};

}  // namespace egress::policy
