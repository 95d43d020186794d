#include "policy_source/git_revision.hpp"

#include <git2.h>

#include <memory>
#include <string>
#include <system_error>

namespace egress::policy_source {

namespace {

template <auto Free>
struct Deleter {
  template <class T>
  void operator()(T* p) const noexcept {
    Free(p);
  }
};
using Repository = std::unique_ptr<git_repository, Deleter<git_repository_free>>;
using StatusList = std::unique_ptr<git_status_list, Deleter<git_status_list_free>>;

void init_libgit2() {
  static const bool done = [] {
    git_libgit2_init();  // never shut down: the process may reload the policy until it exits
    // Owner validation (libgit2 >= 1.5, git's safe.directory, CVE-2022-24765) refuses a
    // repository owned by another user, because running git there would honour that user's
    // config and hooks. egressd only reads HEAD's commit id and compares the policy files with
    // it: libgit2 runs no hooks and no external filter drivers, and the policy it enforces is the
    // bytes it read itself (hashed into the version's first part), never what git says. The
    // documented host setup has the checkout owned by a deploy user, not by the service user, so
    // with validation on the commit would be lost there (issue 22).
    git_libgit2_opts(GIT_OPT_SET_OWNER_VALIDATION, 0);
    return true;
  }();
  (void)done;
}

std::string last_error(int rc) {
  const git_error* e = git_error_last();
  if (e != nullptr && e->message != nullptr && *e->message != '\0') return e->message;
  return "libgit2 error " + std::to_string(rc);
}

base::Diagnostic warning(const std::filesystem::path& dir, const std::string& message) {
  base::Diagnostic d;
  d.severity = base::Diagnostic::Severity::warning;
  d.file = dir.string();
  d.message = message;
  return d;
}

// `dir` relative to the work tree, as a libgit2 pathspec ("" for the whole tree). Both sides are
// canonical: libgit2 resolved symlinks (a git-sync worktree link) when it found the repository.
std::string pathspec_of(const std::filesystem::path& dir, const char* workdir) {
  std::error_code ec;
  const auto d = std::filesystem::canonical(dir, ec);
  if (ec) return {};
  const auto w = std::filesystem::canonical(workdir, ec);
  if (ec) return {};
  const auto rel = d.lexically_relative(w);
  if (rel.empty() || rel == "." || *rel.begin() == "..") return {};
  return rel.generic_string() + "/";
}

}  // namespace

policy::VersionInfo read_git_revision(const std::filesystem::path& dir,
                                      std::vector<base::Diagnostic>& warnings) {
  init_libgit2();
  policy::VersionInfo v;
  git_repository* raw = nullptr;
  int rc = git_repository_open_ext(&raw, dir.c_str(), 0, nullptr);
  Repository repo(raw);
  if (rc == GIT_ENOTFOUND) return v;  // not in a repository: a plain directory, say nothing
  if (rc < 0) {
    warnings.push_back(warning(dir,
                               "no git commit in the policy version: cannot open the git "
                               "repository: " +
                                   last_error(rc)));
    return v;
  }
  const char* workdir = git_repository_workdir(repo.get());
  if (workdir == nullptr) return v;  // a bare repository has no files to be the policy
  if (git_repository_head_unborn(repo.get()) == 1) return v;  // no commit yet
  // HEAD peeled to a commit that exists (like `git rev-parse --verify HEAD^{commit}`): a branch
  // naming a missing object is a broken repository, not a commit to report.
  git_object* head = nullptr;
  rc = git_revparse_single(&head, repo.get(), "HEAD^{commit}");
  if (rc < 0) {
    warnings.push_back(warning(dir, "no git commit in the policy version: cannot read HEAD of " +
                                        std::string(git_repository_path(repo.get())) + ": " +
                                        last_error(rc)));
    return v;
  }
  char hex[GIT_OID_HEXSZ + 1];
  git_oid_tostr(hex, sizeof hex, git_object_id(head));
  git_object_free(head);
  v.git_commit = hex;

  // Like `git status --porcelain -- DIR`: staged, unstaged and untracked changes under DIR.
  git_status_options opts;
  git_status_options_init(&opts, GIT_STATUS_OPTIONS_VERSION);
  opts.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR;
  opts.flags = GIT_STATUS_OPT_INCLUDE_UNTRACKED | GIT_STATUS_OPT_RECURSE_UNTRACKED_DIRS;
  std::string spec = pathspec_of(dir, workdir);
  char* specs[] = {spec.data()};
  if (!spec.empty()) opts.pathspec = {specs, 1};
  git_status_list* raw_status = nullptr;
  rc = git_status_list_new(&raw_status, repo.get(), &opts);
  StatusList status(raw_status);
  if (rc < 0) {
    // The old `git status` failure meant dirty too: say "+dirty" rather than claim the commit.
    v.git_dirty = true;
    warnings.push_back(warning(dir,
                               "policy version marked +dirty: cannot compare the files with "
                               "git commit " +
                                   v.git_commit + ": " + last_error(rc)));
    return v;
  }
  v.git_dirty = git_status_list_entrycount(status.get()) > 0;
  return v;
}

}  // namespace egress::policy_source
