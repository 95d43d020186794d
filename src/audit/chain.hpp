#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace egress::audit {

/// `prev` of the very first record of a chain: 64 zeros.
inline constexpr std::string_view kGenesisHash =
    "0000000000000000000000000000000000000000000000000000000000000000";

/// SHA-256 over one record's line (without its trailing newline), reusable without allocation.
/// Not thread-safe: one per thread.
class LineHasher {
 public:
  LineHasher();
  ~LineHasher();
  LineHasher(const LineHasher&) = delete;
  LineHasher& operator=(const LineHasher&) = delete;

  /// Lowercase hex SHA-256 of `line`.
  std::string hex(std::string_view line);
  /// Same, into a caller buffer of 64 chars.
  void hex(std::string_view line, std::array<char, 64>& out);

 private:
  struct Impl;
  Impl* impl_;
};

/// Lowercase hex SHA-256 of `data` (convenience; allocates a hasher).
std::string sha256_hex(std::string_view data);

/// Where the chain stands: the seq and the hash of the last record written (seq 0 and the genesis
/// hash before the first record).
struct ChainState {
  std::uint64_t seq = 0;
  std::string prev{kGenesisHash};
};

/// What resume_chain() found in an existing file.
struct ResumeResult {
  ChainState state;
  bool empty = true;             ///< no complete record in the file: the chain starts afresh
  std::uint64_t torn_bytes = 0;  ///< a final line without newline was cut off (never acknowledged)
};

/// Reads the last line of the audit file open on `fd` (opened for reading and writing) so a new
/// writer continues its chain. A torn last line (no trailing newline: the process died inside
/// write(2), so nobody was told it was written) is truncated away. Throws std::runtime_error
/// naming `path` when the last line is not an audit record, rather than appending a chain that
/// cannot be verified.
ResumeResult resume_chain(int fd, const std::string& path);

}  // namespace egress::audit
