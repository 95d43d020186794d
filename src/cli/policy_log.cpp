#include "policy_log.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <string>

#include "policy_source/git_revision.hpp"

namespace egress::cli {
namespace {

// The policy directory's files as the loader will read them (*.yaml, name order), for the log.
std::string policy_files(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() == ".yaml") names.push_back(it->path().filename().string());
  }
  if (ec) return "(cannot list: " + ec.message() + ")";
  std::sort(names.begin(), names.end());
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "(no *.yaml)" : out;
}

}  // namespace

policy::VersionInfo read_revision_logged(const std::filesystem::path& dir,
                                         std::vector<base::Diagnostic>& warnings) {
  spdlog::debug("policy: reading {}: {}", dir.string(), policy_files(dir));
  auto info = policy_source::read_git_revision(dir, warnings);
  spdlog::debug("policy: {}: git commit {}{}", dir.string(),
                info.git_commit.empty() ? "(none)" : info.git_commit,
                info.git_dirty ? " (files differ from it)" : "");
  return info;
}

}  // namespace egress::cli
