#pragma once

// Checks run on a file's bytes before yaml-cpp sees them. yaml-cpp 0.7 can loop forever on some
// invalid input (found by tests/unit/policy/loader_fuzz_test.cpp: 21 random bytes made
// YAML::LoadAll emit empty documents until memory ran out), so the loader only hands it text that
// passed both checks.

#include <optional>
#include <string>
#include <string_view>

#include "policy/model.hpp"

namespace egress::policy::yaml {

/// A problem with a file's bytes, with the position of the first offending one.
struct TextProblem {
  int line = 1;
  int column = 1;
  std::string message;
};

/// The text must be UTF-8 made of YAML's printable characters (tab, LF, CR and no other control
/// characters, no surrogates, no U+FFFE/U+FFFF).
std::optional<TextProblem> check_text(std::string_view bytes);

/// Parses the stream into events only, stopping when the parser stops advancing (more documents
/// or events than the bytes can hold). nullopt when the stream is bounded (it may still be
/// invalid YAML: LoadAll reports that).
std::optional<TextProblem> check_progress(const std::string& bytes);

}  // namespace egress::policy::yaml
