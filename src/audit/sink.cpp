#include "audit/sink.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace egress::audit {
namespace {

std::error_code last_error() {
  return {errno, std::generic_category()};
}

// write(2) until everything is written or an error; returns the error, `done` = bytes written.
std::error_code write_all(int fd, std::string_view data, std::size_t& done) {
  done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return last_error();
    }
    if (n == 0) return std::make_error_code(std::errc::io_error);
    done += static_cast<std::size_t>(n);
  }
  return {};
}

// The length of the complete lines at the start of `data` (up to and including its last '\n').
std::size_t whole_lines(std::string_view data) {
  const auto nl = data.rfind('\n');
  return nl == std::string_view::npos ? 0 : nl + 1;
}

int open_append(const std::string& path) {
  return ::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

class FileSink final : public Sink {
 public:
  FileSink(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~FileSink() override {
    if (fd_ >= 0) ::close(fd_);
  }

  std::error_code write(std::string_view data, std::size_t& kept) override {
    kept = 0;
    if (fd_ < 0) {
      fd_ = open_append(path_);
      if (fd_ < 0) return last_error();
    }
    std::size_t limit = data.size();
    if (recovering_) {
      // After a failed write, room is reserved before writing (fallocate, the size unchanged), so
      // a recovering disk takes whole records only and a reader tailing the file never sees a
      // line that is cut off again: the whole batch, else its first record, else nothing.
      const std::size_t first = data.find('\n') + 1;
      if (const std::error_code ec = reserve(data.size()); ec) {
        if (ec.value() != ENOSPC && ec.value() != EDQUOT) return ec;
        if (first == 0 || first == data.size()) return ec;
        if (const std::error_code ec1 = reserve(first); ec1) return ec1;
        limit = first;
      }
    }
    std::size_t done = 0;
    std::error_code ec = write_all(fd_, data.substr(0, limit), done);
    if (!ec && limit < data.size()) {
      // Only the reserved first record went: the rest waits for more room.
      kept = done;
      return std::make_error_code(std::errc::no_space_on_device);
    }
    recovering_ = static_cast<bool>(ec);
    if (!ec) return ec;
    // Issue 17 item 11: what was written stays written, so a disk with room for some records
    // takes them (retrying the whole batch never fits a nearly full disk). Only a torn last line
    // is cut off, so the file stays valid JSON Lines and every line's hash is the chain's. O_APPEND
    // put our `done` bytes at the end of the file: the torn part is its last `done - whole` bytes
    // (no stat before every write: the failure path pays for it).
    const std::size_t whole = whole_lines(data.substr(0, done));
    kept = done;
    struct stat st {};
    if (done > whole && ::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode) &&
        st.st_size >= static_cast<off_t>(done - whole) &&
        ::ftruncate(fd_, st.st_size - static_cast<off_t>(done - whole)) == 0) {
      kept = whole;
    }
    // If the cut failed (not a regular file), `kept` ends inside a line: the writer writes the
    // rest of that line first when it retries, which completes it.
    return ec;
  }

  std::error_code reopen() override {
    const int fd = open_append(path_);
    if (fd < 0) return last_error();
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
    return {};
  }

  std::error_code sync() override {
    if (fd_ >= 0 && ::fdatasync(fd_) != 0 && errno != EINVAL) return last_error();
    return {};
  }

  const std::string& name() const noexcept override { return path_; }

 private:
  // Reserves `len` bytes past the end of a regular file. A file system without fallocate (or a
  // pipe, a device) reserves nothing and says yes: the write then finds out, as before.
  std::error_code reserve(std::size_t len) {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) return last_error();
    if (!S_ISREG(st.st_mode)) return {};
    if (::fallocate(fd_, FALLOC_FL_KEEP_SIZE, st.st_size, static_cast<off_t>(len)) == 0) return {};
    if (errno == EOPNOTSUPP || errno == ENOSYS) return {};
    return last_error();
  }

  std::string path_;
  int fd_;
  bool recovering_ = false;  ///< the last write failed: reserve room before the next
};

class StdoutSink final : public Sink {
 public:
  std::error_code write(std::string_view data, std::size_t& kept) override {
    return write_all(STDOUT_FILENO, data, kept);
  }
  std::error_code reopen() override { return {}; }
  std::error_code sync() override {
    // Pipes and terminals cannot be synced; that is not an error.
    if (::fdatasync(STDOUT_FILENO) != 0 && errno != EINVAL && errno != EROFS) return last_error();
    return {};
  }
  const std::string& name() const noexcept override { return name_; }

 private:
  std::string name_ = "stdout";
};

}  // namespace

std::unique_ptr<Sink> open_file_sink(const std::string& path, ResumeResult& resume) {
  const int fd = open_append(path);
  if (fd < 0) {
    throw std::runtime_error("audit file " + path + ": cannot open: " + std::strerror(errno));
  }
  try {
    resume = resume_chain(fd, path);
  } catch (...) {
    ::close(fd);
    throw;
  }
  return std::make_unique<FileSink>(path, fd);
}

std::unique_ptr<Sink> open_stdout_sink() {
  return std::make_unique<StdoutSink>();
}

}  // namespace egress::audit
