#pragma once

#include <string>
#include <utility>

namespace egress::base {

/// One validation problem: "file:line:col: error: key.path: message".
struct Diagnostic {
  enum class Severity { error, warning };
  Severity severity = Severity::error;
  std::string file;  ///< relative to the policy directory
  int line = 0;      ///< 1-based; 0 when not tied to a position
  int column = 0;    ///< 1-based
  std::string key_path;
  std::string message;
  /// The one-line form above.
  std::string to_string() const;

  /// An error about a whole file or directory (no position, no key): "label: error: message".
  static Diagnostic about(std::string file, std::string message) {
    Diagnostic d;
    d.file = std::move(file);
    d.message = std::move(message);
    return d;
  }
};

}  // namespace egress::base
