#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/record_fields.hpp"

namespace egress::audit {

/// Why the chain breaks.
enum class BreakKind {
  missing,    ///< one or more seqs are absent (a deleted line)
  edited,     ///< a line's content no longer matches the hash its successor recorded
  reordered,  ///< a seq appears out of order (swapped or moved lines, or a duplicate)
  malformed,  ///< a line is not an audit record at all
  restarted,  ///< a new chain (seq 1, genesis prev) begins in the middle of the input
};

/// "missing", "edited", "reordered", "malformed", "restarted".
const char* to_string(BreakKind kind) noexcept;

/// The first place where the chain does not hold.
struct ChainBreak {
  BreakKind kind = BreakKind::edited;
  std::uint64_t seq = 0;  ///< the first seq that cannot be trusted
  std::string file;
  std::size_t line = 0;  ///< 1-based line in `file`
  std::string message;   ///< one sentence: what is wrong and where
};

/// The outcome of verify_chain().
struct VerifyResult {
  std::uint64_t records = 0;  ///< records checked before the break (all when intact)
  std::uint64_t first_seq = 0;
  std::uint64_t last_seq = 0;
  std::string last_hash;  ///< SHA-256 of the last line: anchor it elsewhere to detect a cut tail
  bool continues_earlier = false;  ///< the first record continues a file that was not given
  std::optional<ChainBreak> broken;
  std::string error;  ///< a file could not be read (then the result is not ok either)

  bool ok() const noexcept { return !broken && error.empty(); }
};

/// The hash chain checked one line at a time, for readers that also use the records (`policy
/// replay`): verify_chain() is this over every line. Memory stays bounded.
class ChainChecker {
 public:
  /// `files` are the files the lines come from, oldest first: a break is classified (a moved
  /// line or a deleted one?) by reading ahead in them.
  explicit ChainChecker(std::vector<std::string> files);
  ~ChainChecker();
  ChainChecker(const ChainChecker&) = delete;
  ChainChecker& operator=(const ChainChecker&) = delete;

  /// Checks the line `text` (line `line` of files[file_index]), whose fields are `record`
  /// (nullptr: the line is not a JSON object). False when the chain breaks there: result().broken
  /// says where and why, and every later call returns false.
  bool check(std::string_view text, const RecordFields* record, std::size_t file_index,
             std::size_t line);

  /// What was checked so far (records, first and last seq, last hash, the break if any).
  const VerifyResult& result() const noexcept;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

/// Checks the hash chain across `files`, in the order given (oldest first): every record's
/// `prev` must be the SHA-256 of the line before it and its `seq` one more. Stops at the first
/// break and classifies it. Memory stays bounded whatever the size of the files. gzip files
/// (logrotate's `compress`) are read decompressed.
VerifyResult verify_chain(const std::vector<std::string>& files);

}  // namespace egress::audit
