#pragma once

// Audit records one at a time, their hash chain checked as they are read: what `policy replay`
// and `policy unused` read. One streaming parse per line (RecordFields), no JSON document.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "audit/record_fields.hpp"
#include "audit/verify.hpp"

namespace egress::audit {

/// Streams the records of `files` (oldest first, plain or gzip). With `verify`, every line goes
/// through a ChainChecker and reading stops at the first break; without, lines that are not
/// JSON objects are skipped and counted.
class RecordReader {
 public:
  RecordReader(std::vector<std::string> files, bool verify);
  ~RecordReader();
  RecordReader(const RecordReader&) = delete;
  RecordReader& operator=(const RecordReader&) = delete;

  /// The next record, valid until the next call. False at the end, at a break of the chain
  /// (chain().broken) or when a file cannot be read (error()).
  const RecordFields* next();

  /// Where the last record came from.
  const std::string& file() const noexcept;
  std::size_t line_number() const noexcept;

  /// The chain as checked so far (records, the break); empty without verify.
  const VerifyResult& chain() const noexcept;
  /// Why reading stopped early, other than a break: a file could not be read.
  const std::string& error() const noexcept;
  /// Lines that were not JSON objects (without verify; with it the first one is a break).
  std::uint64_t malformed() const noexcept;
  /// True when the input was read to its end with no break and no error.
  bool complete() const noexcept;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace egress::audit
