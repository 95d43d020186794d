// The policy directory as bytes: listing, the fail-closed checks on each entry, reading.
#include "policy_source/policy_files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <system_error>

namespace egress::policy_source {

namespace {

std::string label_of(const std::filesystem::path& dir) {
  return dir.string();
}

std::string errno_text(int err) {
  return std::error_code(err, std::generic_category()).message();
}

// What a stat() or open() failure on a directory entry means, in the operator's terms: ENOENT or
// ENOTDIR on an entry that was just listed is a symlink whose target is gone.
std::string stat_error(const std::filesystem::path& p, int err) {
  std::string msg = errno_text(err);
  std::error_code ec;
  if ((err == ENOENT || err == ENOTDIR) &&
      std::filesystem::is_symlink(std::filesystem::symlink_status(p, ec))) {
    const auto target = std::filesystem::read_symlink(p, ec);
    msg += ec ? " (dangling symlink)" : " (dangling symlink to \"" + target.string() + "\")";
  } else if (err == ELOOP) {
    msg += " (symlink loop)";
  }
  return msg;
}

const char* type_name(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "an unknown type";
}

std::string not_regular(mode_t mode) {
  return std::string("not a regular file (") + type_name(mode) + ")";
}

// Reads `p` (symlinks followed) into `bytes`; returns why it cannot, or "" on success. Only a
// regular file is read: the type is checked before opening, so a FIFO or a device is never opened
// (opening a FIFO for reading blocks until a writer appears), and again on the open descriptor in
// case the entry was replaced in between; O_NONBLOCK keeps even that race from blocking.
std::string read_regular_file(const std::filesystem::path& p, std::string& bytes) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return stat_error(p, errno);
  if (!S_ISREG(st.st_mode)) return not_regular(st.st_mode);
  const int fd = ::open(p.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return stat_error(p, errno);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  if (::fstat(fd, &st) != 0) return errno_text(errno);
  if (!S_ISREG(st.st_mode)) return not_regular(st.st_mode);
  bytes.reserve(static_cast<std::size_t>(st.st_size));
  char buf[16384];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n == 0) return {};
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_text(errno);
    }
    bytes.append(buf, static_cast<std::size_t>(n));
  }
}

}  // namespace

std::vector<policy::SourceFile> read_policy_files(const std::filesystem::path& dir,
                                                  std::vector<base::Diagnostic>& errors) {
  std::vector<policy::SourceFile> files;
  std::error_code ec;
  std::vector<std::filesystem::path> paths;
  std::filesystem::directory_iterator it(dir, ec);
  const std::filesystem::directory_iterator end;
  for (; !ec && it != end; it.increment(ec)) {
    const auto& p = it->path();
    // Every *.yaml entry, whatever its type: one that cannot be read is an error below, never
    // skipped, or its rules would vanish from the policy without a word (issue 17 item 1).
    if (p.extension() == ".yaml") paths.push_back(p);
  }
  if (ec) {
    // Opening the directory or reading any entry of it failed: a partial listing is no policy.
    errors.push_back(
        base::Diagnostic::about(label_of(dir), "cannot read the directory: " + ec.message()));
    return {};
  }
  std::sort(paths.begin(), paths.end(), [](const auto& a, const auto& b) {
    return a.filename().string() < b.filename().string();
  });
  for (const auto& p : paths) {
    const std::string name = p.filename().string();
    std::string bytes;
    const std::string why = read_regular_file(p, bytes);
    if (!why.empty()) {
      errors.push_back(base::Diagnostic::about(name, "cannot read: " + why));
      continue;
    }
    files.push_back({name, std::move(bytes)});
  }
  return files;
}

}  // namespace egress::policy_source
