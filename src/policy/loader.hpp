#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "base/diagnostic.hpp"
#include "policy/model.hpp"
#include "policy/policy.hpp"
#include "policy/store.hpp"

namespace egress::policy {

/// One policy file held in memory: its name relative to the policy directory and its bytes.
struct SourceFile {
  std::string name;
  std::string bytes;
};

/// What the loader found: the model (meaningful only when `errors` is empty) and every error.
struct ParseOutput {
  model::Model model;
  std::vector<base::Diagnostic> errors;
};

/// What a set of files may contain.
enum class SourceKind {
  policy,      ///< a policy directory: exactly one Settings; PolicyTest documents allowed
  tests_only,  ///< a test directory: only PolicyTest documents
};

/// Parses and validates the documents of `files` in the order given. Pure: no I/O, never throws
/// on any input bytes (parser errors become diagnostics), so a fuzzer can drive it.
/// `dir_label` names the directory in messages not tied to a file ("no Settings document").
ParseOutput parse_sources(const std::vector<SourceFile>& files, SourceKind kind,
                          const std::string& dir_label = ".");

}  // namespace egress::policy

namespace egress::policy {

/// Options for loading a policy.
struct LoadOptions {
  /// "Now" for lint warnings (expired / expiring rules); the epoch means the system clock.
  std::chrono::system_clock::time_point now{};
  /// The git part of the version (git_commit, git_dirty), read by the caller: the loader layer
  /// (policy_source) asks git; the policy library never does. `sha256` is ignored: the loader
  /// hashes the bytes it was given.
  VersionInfo git;
};

/// Loads, validates and compiles a policy held in memory: files in the order given (the loader
/// layer reads a directory's *.yaml in name order). Pure: no I/O, never throws on any bytes. The
/// fuzz target's entry point. `dir_label` names the whole policy in messages not tied to a file.
LoadResult load_policy_sources(const std::vector<SourceFile>& files,
                               const LoadOptions& options = {}, const std::string& dir_label = ".");

}  // namespace egress::policy
