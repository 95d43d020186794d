#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "base/diagnostic.hpp"
#include "policy/model.hpp"
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
  /// Reads the directory's git revision (load_policy_dir only); empty: no git part.
  RevisionReader revision;
};

/// Reads every `*.yaml` entry of `dir` (not recursive, symlinks followed), sorted by name. Every
/// entry that is not a readable regular file (a dangling symlink, a symlink loop, a directory, a
/// FIFO, ...) is an error naming it and the system's reason, never skipped; so is any error
/// listing the directory. A FIFO or device is never opened.
std::vector<SourceFile> read_policy_files(const std::filesystem::path& dir,
                                          std::vector<base::Diagnostic>& errors);

/// Loads, validates and compiles a policy held in memory (no I/O; never throws on any bytes; the
/// version has no git part). The fuzz target's entry point.
LoadResult load_policy_sources(const std::vector<SourceFile>& files,
                               const LoadOptions& options = {}, const std::string& dir_label = ".");

/// load_policy_dir with options.
LoadResult load_policy_dir(const std::filesystem::path& dir, const LoadOptions& options);

/// Reads the PolicyTest documents of a test directory (nothing else is allowed there).
ParseOutput load_test_dir(const std::filesystem::path& dir);

}  // namespace egress::policy
