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
    std::size_t done = 0;
    const std::error_code ec = write_all(fd_, data, done);
    if (!ec) return ec;
    kept = done;
    // A disk that filled up in the middle of a batch leaves a torn line; cut it off so the file
    // stays valid JSON Lines, and write the whole batch again once there is room. O_APPEND put
    // our `done` bytes at the end of the file, so the end minus `done` is where the batch began
    // (no stat before every write: the failure path pays for it).
    struct stat st {};
    if (done > 0 && ::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode) &&
        st.st_size >= static_cast<off_t>(done) &&
        ::ftruncate(fd_, st.st_size - static_cast<off_t>(done)) == 0) {
      kept = 0;
    }
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
  std::string path_;
  int fd_;
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
