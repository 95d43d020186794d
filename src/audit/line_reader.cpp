#include "audit/line_reader.hpp"

#include <zlib.h>

#include <cerrno>
#include <cstring>

namespace egress::audit {
namespace {

constexpr std::size_t kChunk = 1 << 18;

}  // namespace

LineReader::LineReader(std::vector<std::string> files, std::size_t first_file,
                       std::size_t first_line)
    : files_(std::move(files)), index_(first_file), skip_until_(first_line) {}

LineReader::~LineReader() {
  if (gz_ != nullptr) gzclose(static_cast<gzFile>(gz_));
}

bool LineReader::open_next() {
  if (gz_ != nullptr) {
    gzclose(static_cast<gzFile>(gz_));
    gz_ = nullptr;
    ++index_;
    skip_until_ = 1;
  }
  if (index_ >= files_.size()) return false;
  // zlib reads a file that is not gzip as it is (gzread's "transparent" mode), so plain and
  // rotated .gz files share one path.
  errno = 0;
  gz_ = gzopen(files_[index_].c_str(), "rb");
  if (gz_ == nullptr) {
    error_ = "cannot open " + files_[index_] + ": " +
             (errno != 0 ? std::strerror(errno) : "out of memory");
    return false;
  }
  gzbuffer(static_cast<gzFile>(gz_), kChunk);
  line_ = 0;
  begin_ = end_ = 0;
  eof_ = false;
  return true;
}

// Moves the unread tail to the front and reads more after it.
bool LineReader::fill() {
  if (eof_) return false;
  if (begin_ > 0) {
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (buffer_.size() - end_ < kChunk) buffer_.resize(end_ + kChunk);
  const int n = gzread(static_cast<gzFile>(gz_), buffer_.data() + end_,
                       static_cast<unsigned>(buffer_.size() - end_));
  if (n < 0) {
    int code = 0;
    const char* msg = gzerror(static_cast<gzFile>(gz_), &code);
    error_ = files_[index_] + ": " + (code == Z_ERRNO ? std::strerror(errno) : msg);
    return false;
  }
  if (n == 0) {
    // A gzip stream cut short ends like a file, with Z_BUF_ERROR: the tail of a record may be
    // gone, so say so rather than end quietly.
    int code = Z_OK;
    const char* msg = gzerror(static_cast<gzFile>(gz_), &code);
    if (code != Z_OK) {
      error_ = files_[index_] + ": " + (code == Z_BUF_ERROR ? "the gzip data ends early" : msg);
      return false;
    }
    eof_ = true;
    return false;
  }
  end_ += static_cast<std::size_t>(n);
  return true;
}

bool LineReader::next(std::string_view& line) {
  if (!error_.empty()) return false;
  if (!started_) {
    started_ = true;
    if (!open_next()) return false;
  }
  for (;;) {
    if (gz_ == nullptr) return false;
    std::size_t scanned = begin_;
    for (;;) {
      const void* nl = std::memchr(buffer_.data() + scanned, '\n', end_ - scanned);
      if (nl != nullptr) {
        const auto at = static_cast<std::size_t>(static_cast<const char*>(nl) - buffer_.data());
        line = std::string_view(buffer_.data() + begin_, at - begin_);
        begin_ = at + 1;
        ++line_;
        break;
      }
      scanned = end_ - begin_;  // offsets shift to 0 in fill()
      if (!fill()) {
        if (!error_.empty()) return false;
        if (end_ > begin_) {  // a last line without newline
          line = std::string_view(buffer_.data() + begin_, end_ - begin_);
          begin_ = end_;
          ++line_;
          break;
        }
        if (!open_next()) return false;
        scanned = begin_;
        continue;
      }
    }
    if (index_ < files_.size() && line_ < skip_until_) continue;
    return true;
  }
}

}  // namespace egress::audit
