#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <system_error>

#include "audit/chain.hpp"

namespace egress::audit {

/// Where encoded lines go. Used by the writer thread only.
class Sink {
 public:
  virtual ~Sink() = default;

  /// Writes all of `data` (whole lines, except that it may begin with the rest of a line that an
  /// earlier failed write left unfinished). On failure returns the error and sets `kept` to the
  /// number of leading bytes that reached the sink and must not be written again. A file sink
  /// keeps the whole lines a partial write got in and cuts off a torn last line (ftruncate), so
  /// `kept` ends at a line boundary; a sink that cannot cut (a pipe) keeps everything written and
  /// the caller writes the rest of the line next.
  virtual std::error_code write(std::string_view data, std::size_t& kept) = 0;

  /// Closes and opens the path again (logrotate's create mode). On failure the old descriptor
  /// stays in use.
  virtual std::error_code reopen() = 0;

  /// fdatasync(2).
  virtual std::error_code sync() = 0;

  /// The path, or "stdout".
  virtual const std::string& name() const noexcept = 0;
};

/// Opens (creating, mode 0640, appending) the audit file at `path` and reads where its chain
/// stands. Throws std::runtime_error naming the path when it cannot be opened or continued.
std::unique_ptr<Sink> open_file_sink(const std::string& path, ResumeResult& resume);

/// A sink over standard output (path "-"): no reopen, no chain to continue.
std::unique_ptr<Sink> open_stdout_sink();

}  // namespace egress::audit
