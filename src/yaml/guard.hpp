#pragma once

// Checks run on a file's bytes before yaml-cpp builds nodes from them. yaml-cpp 0.7 can loop
// forever on some invalid input (found by tests/unit/policy/loader_fuzz_test.cpp: 21 random bytes
// made YAML::LoadAll emit empty documents until memory ran out), recurses once per nesting level
// (its own limit answers "bad file"), and expands nothing itself but hands every alias to whoever
// walks the nodes (a "billion laughs" document is a few hundred bytes). The reader only hands it
// text that passed these checks.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace egress::yaml {

/// A problem with a file's bytes, with the position of the first offending one.
struct TextProblem {
  int line = 1;
  int column = 1;
  std::string message;
};

/// Collections nested deeper than this are refused (a config or a policy needs fewer than ten).
inline constexpr std::size_t kMaxDepth = 64;

/// The nodes a document may hold once every alias is expanded: this many, plus ten per byte
/// (plain YAML, without aliases, holds fewer than four nodes per byte).
inline constexpr std::size_t kMaxExpandedNodes = 1'000'000;

/// The text must be UTF-8 made of YAML's printable characters (tab, LF, CR and no other control
/// characters, no surrogates, no U+FFFE/U+FFFF).
std::optional<TextProblem> check_text(std::string_view bytes);

/// Parses the stream into events only, stopping at the first of: more documents or events than
/// the bytes can hold (the parser stopped advancing), collections nested deeper than kMaxDepth,
/// aliases that expand a document past kMaxExpandedNodes (+ 10 per byte). nullopt when the stream
/// is bounded (it may still be invalid YAML: the loader reports that with yaml-cpp's position).
std::optional<TextProblem> check_progress(const std::string& bytes);

/// check_text, then check_progress.
std::optional<TextProblem> check(const std::string& bytes);

}  // namespace egress::yaml
