#pragma once

// Reads audit files line by line, in the order given, plain or gzip-compressed (logrotate's
// `compress` leaves audit.jsonl.2.gz beside audit.jsonl.1): one reader for `audit verify`,
// `audit summary`'s successors and `policy replay|unused`.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace egress::audit {

/// Streams the lines of `files` in order, without their newlines. Memory is one buffer plus the
/// longest line, whatever the size of the files. A file is decompressed when it starts with the
/// gzip magic (whatever its name), read as it is otherwise.
class LineReader {
 public:
  /// Starts at line `first_line` (1-based) of files[first_file]: the lines before it are read
  /// and skipped.
  explicit LineReader(std::vector<std::string> files, std::size_t first_file = 0,
                      std::size_t first_line = 1);
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  /// The next line, valid until the next call. False at the end of the last file or on an
  /// error (then error() says which file and why).
  bool next(std::string_view& line);

  /// The file of the last line returned, its index in `files` and the line's 1-based number.
  const std::string& file() const noexcept { return files_[index_ < files_.size() ? index_ : 0]; }
  std::size_t file_index() const noexcept { return index_; }
  std::size_t line_number() const noexcept { return line_; }

  /// Why reading stopped early: "cannot open PATH: reason", "PATH: corrupt gzip data ...".
  const std::string& error() const noexcept { return error_; }

 private:
  bool open_next();
  bool fill();

  std::vector<std::string> files_;
  std::size_t index_ = 0;
  std::size_t line_ = 0;
  std::size_t skip_until_ = 0;  ///< lines of the first file to skip
  void* gz_ = nullptr;          ///< gzFile
  std::string buffer_;
  std::size_t begin_ = 0;  ///< unread bytes are buffer_[begin_, end_)
  std::size_t end_ = 0;
  bool eof_ = false;
  bool started_ = false;
  std::string error_;
};

}  // namespace egress::audit
