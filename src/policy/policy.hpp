#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/facts.hpp"
#include "policy/model.hpp"

namespace egress::policy {

namespace detail {
struct Compiled;
}

/// Where a policy came from, for its version string.
struct VersionInfo {
  std::string sha256;      ///< lowercase hex SHA-256 over the files (see version.hpp)
  std::string git_commit;  ///< HEAD of the enclosing git work tree, or empty
  bool git_dirty = false;  ///< the directory has uncommitted (or untracked) changes
};

/// An immutable compiled policy: safe to share between threads (hold it by shared_ptr; a
/// Decision's string views point into it). Built by load_policy_sources.
class Policy {
 public:
  /// What egressctl and the audit log need to know about one rule.
  struct RuleInfo {
    std::string id;
    std::string file;  ///< relative to the policy directory
    int line = 0;
    Action action = Action::deny;
    bool report = false;  ///< mode: report
    std::optional<std::chrono::system_clock::time_point> expires;
    std::string description;
  };

  /// Compiles a validated model (the loader's output with no errors).
  static std::shared_ptr<const Policy> compile(model::Model model, VersionInfo version,
                                               std::chrono::system_clock::time_point loaded_at);
  ~Policy();
  Policy(const Policy&) = delete;
  Policy& operator=(const Policy&) = delete;

  /// The decision for one connection: deny_destinations, then enforce-mode deny rules, then
  /// enforce-mode allow rules, then Settings.default; the shadow treats report-mode rules as
  /// enforced. Among several matching rules of one kind the first in file order decides.
  /// Allocates nothing in the steady state (thread-local scratch is reused); never throws; a
  /// failure inside (out of memory) yields deny.
  ///
  /// Names (`hosts`, Settings.host_verification): facts.host is compared with the `hosts` of
  /// every entry (exact, or a wildcard's suffix). A deny rule's hosts match on the name alone in
  /// every mode. An allow rule's hosts match under `strict` only when facts.name_verification is
  /// match; under `report` and `off` on the name alone, and under `report` the shadow is the
  /// decision a verified name requirement would give. The Decision says whether the name decided
  /// (name_used) and whether verification changed the outcome; under strict, a deny by default
  /// that an allow rule's hosts would have turned into an allow has the reason name_mismatch or
  /// name_unresolved (facts.name_verification's).
  Decision evaluate(const ConnectionFacts& facts) const noexcept;

  /// Whether the decision for a connection could depend on the name the client sends: true when
  /// some rule (any mode, not expired at facts.now) with `hosts` matches facts.src, identity,
  /// dst and dst_port when its names are left out. False when no hostname rule can match (the
  /// data path decides at once, without waiting for bytes) or the destination is in
  /// deny_destinations. Reads the facts except host and name_verification; as cheap as
  /// evaluate; never throws (true on an internal failure: waiting is the safe side).
  bool may_depend_on_name(const ConnectionFacts& facts) const noexcept;

  /// "<sha256 hex>", or "<sha256 hex>+git:<commit>" / "...+git:<commit>+dirty" in a git work tree.
  const std::string& version() const noexcept { return version_; }
  const std::string& content_sha256() const noexcept { return info_.sha256; }
  /// The git commit of the directory, empty when it is not in a git work tree.
  const std::string& git_commit() const noexcept { return info_.git_commit; }
  bool git_dirty() const noexcept { return info_.git_dirty; }

  std::size_t rule_count() const noexcept { return rules_.size(); }
  /// Internal matching units (from-entry x to-entry per rule, plus role members).
  std::size_t clause_count() const noexcept;
  std::chrono::system_clock::time_point loaded_at() const noexcept { return loaded_at_; }
  const std::vector<RuleInfo>& rules() const noexcept { return rules_; }
  /// The rule with this id, or nullptr.
  const RuleInfo* find_rule(std::string_view id) const noexcept;
  Action default_action() const noexcept;
  bool report_mode() const noexcept;
  HostVerification host_verification() const noexcept;
  /// True when some rule has `hosts`.
  bool has_host_rules() const noexcept;
  /// The validated model the policy was compiled from (with its PolicyTest cases).
  const model::Model& model() const noexcept { return model_; }

 private:
  Policy() = default;

  model::Model model_;
  VersionInfo info_;
  std::string version_;
  std::chrono::system_clock::time_point loaded_at_;
  std::vector<RuleInfo> rules_;
  std::unique_ptr<detail::Compiled> compiled_;
};

}  // namespace egress::policy
