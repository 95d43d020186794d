#include "check_audit_dir.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace egress::cli {

std::optional<std::string> check_audit_path(const std::string& path) {
  if (path == "-") return std::nullopt;
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) dir = ".";
  const std::string where = "audit.path " + path + ": directory " + dir.string();
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return where + ": " + std::strerror(errno);
  if (!S_ISDIR(st.st_mode)) return where + ": " + std::strerror(ENOTDIR);
  // AT_EACCESS: the effective ids, those open(2) will use at start-up.
  if (::faccessat(AT_FDCWD, dir.c_str(), W_OK | X_OK, AT_EACCESS) != 0) {
    return where + ": cannot create files in it: " + std::strerror(errno);
  }
  if (::stat(path.c_str(), &st) == 0 &&
      ::faccessat(AT_FDCWD, path.c_str(), R_OK | W_OK, AT_EACCESS) != 0) {
    return "audit.path " + path + ": cannot read and append to it: " + std::strerror(errno);
  }
  return std::nullopt;
}

}  // namespace egress::cli
