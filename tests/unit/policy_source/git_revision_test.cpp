// The policy version's git part read with libgit2: a repository, a subdirectory of one, a linked
// worktree (through a symlink, as git-sync lays it out), a checkout owned by another user (git's
// "dubious ownership"), and a broken repository (no git part, one warning naming why).
#include "policy_source/git_revision.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "policy/loader.hpp"
#include "policy/policy.hpp"
#include "policy/store.hpp"
#include "policy_source/directory.hpp"

namespace egress::policy_source {
namespace {

namespace fs = std::filesystem;

constexpr const char* kSettings = "kind: Settings\n";

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "egress-gitrev-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

std::string quote(const fs::path& p) {
  return "'" + p.string() + "'";
}

// Runs git with no user or system config (a developer's safe.directory must not hide anything).
int git(const fs::path& dir, const std::string& args) {
  const std::string cmd = "env GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 git -C " +
                          quote(dir) + " -c user.email=t@example.com -c user.name=t " + args +
                          " >/dev/null 2>&1";
  return std::system(cmd.c_str());
}

std::string rev_parse_head(const fs::path& dir) {
  const std::string cmd = "env GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 git -C " +
                          quote(dir) + " rev-parse --verify -q HEAD 2>/dev/null";
  std::string out;
  if (FILE* f = popen(cmd.c_str(), "r")) {
    char buf[128];
    while (fgets(buf, sizeof buf, f) != nullptr) out += buf;
    pclose(f);
  }
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

void init_and_commit(const fs::path& repo) {
  ASSERT_EQ(git(repo, "init -q -b main"), 0);
  ASSERT_EQ(git(repo, "add ."), 0);
  ASSERT_EQ(git(repo, "commit -q -m init"), 0);
}

// What egressd does: a PolicyStore whose reader is libgit2's.
policy::LoadResult load(const fs::path& dir) {
  policy::PolicyStore store(dir, directory_loader(dir, read_git_revision));
  return store.reload();
}

std::string warnings_of(const policy::LoadResult& r) {
  std::string s;
  for (const auto& w : r.warnings) s += w.to_string() + "\n";
  return s;
}

TEST(GitRevision, CommitAndDirty) {
  TempDir d;
  write(d.path() / "00-settings.yaml", kSettings);
  init_and_commit(d.path());
  const std::string head = rev_parse_head(d.path());
  ASSERT_EQ(head.size(), 40u);

  auto clean = load(d.path());
  ASSERT_TRUE(clean.policy);
  EXPECT_TRUE(clean.warnings.empty()) << warnings_of(clean);
  EXPECT_EQ(clean.policy->git_commit(), head);
  EXPECT_FALSE(clean.policy->git_dirty());
  EXPECT_EQ(clean.policy->version(), clean.policy->content_sha256() + "+git:" + head);

  write(d.path() / "10-more.yaml", "");  // untracked: the running policy is not the commit
  auto dirty = load(d.path());
  ASSERT_TRUE(dirty.policy);
  EXPECT_EQ(dirty.policy->version(), dirty.policy->content_sha256() + "+git:" + head + "+dirty");

  fs::remove(d.path() / "10-more.yaml");
  write(d.path() / "00-settings.yaml", std::string(kSettings) + "# changed\n");  // modified
  auto modified = load(d.path());
  ASSERT_TRUE(modified.policy);
  EXPECT_TRUE(modified.policy->git_dirty());
}

TEST(GitRevision, NotARepositoryIsSilent) {
  TempDir d;
  write(d.path() / "00-settings.yaml", kSettings);
  auto r = load(d.path());
  ASSERT_TRUE(r.policy);
  EXPECT_TRUE(r.warnings.empty()) << warnings_of(r);
  EXPECT_EQ(r.policy->version(), r.policy->content_sha256());
}

TEST(GitRevision, PolicyInASubdirectoryOnlyItsChangesCount) {
  TempDir d;
  write(d.path() / "README", "checkout\n");
  write(d.path() / "policy" / "00-settings.yaml", kSettings);
  init_and_commit(d.path());
  const std::string head = rev_parse_head(d.path());

  auto r = load(d.path() / "policy");
  ASSERT_TRUE(r.policy);
  EXPECT_TRUE(r.warnings.empty()) << warnings_of(r);
  EXPECT_EQ(r.policy->version(), r.policy->content_sha256() + "+git:" + head);

  write(d.path() / "README", "edited outside the policy directory\n");
  write(d.path() / "notes.txt", "untracked outside\n");
  auto outside = load(d.path() / "policy");
  ASSERT_TRUE(outside.policy);
  EXPECT_FALSE(outside.policy->git_dirty());

  write(d.path() / "policy" / "sub" / "x.txt", "untracked inside\n");
  auto inside = load(d.path() / "policy");
  ASSERT_TRUE(inside.policy);
  EXPECT_TRUE(inside.policy->git_dirty());
}

// git-sync: the checkout is a linked worktree (its `.git` is a file) reached through a symlink
// that is swapped on every sync.
TEST(GitRevision, LinkedWorktreeThroughASymlink) {
  TempDir d;
  const fs::path main = d.path() / "repo";
  write(main / "policy" / "00-settings.yaml", kSettings);
  init_and_commit(main);
  write(main / "policy" / "10-next.yaml", "");
  ASSERT_EQ(git(main, "add ."), 0);
  ASSERT_EQ(git(main, "commit -q -m next"), 0);
  const fs::path wt = d.path() / "worktrees" / "abc";
  ASSERT_EQ(git(main, "worktree add -q --detach " + quote(wt) + " HEAD~1"), 0);
  ASSERT_TRUE(fs::is_regular_file(wt / ".git"));
  fs::create_directory_symlink(wt, d.path() / "current");
  const std::string head = rev_parse_head(wt);
  ASSERT_EQ(head.size(), 40u);
  ASSERT_NE(head, rev_parse_head(main));  // the worktree's HEAD, not the main checkout's

  auto r = load(d.path() / "current" / "policy");
  ASSERT_TRUE(r.policy);
  EXPECT_TRUE(r.warnings.empty()) << warnings_of(r);
  EXPECT_EQ(r.policy->version(), r.policy->content_sha256() + "+git:" + head);
}

// The documented host setup: a deploy user owns the checkout, the service user reads it. git
// refuses such a repository ("dubious ownership"), which the old `git rev-parse` lost silently.
TEST(GitRevision, CheckoutOwnedByAnotherUser) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to chown the checkout to another uid";
  TempDir d;
  write(d.path() / "policy" / "00-settings.yaml", kSettings);
  init_and_commit(d.path());
  const std::string head = rev_parse_head(d.path());
  ASSERT_EQ(head.size(), 40u);
  ASSERT_EQ(std::system(("chown -R 12345:12345 " + quote(d.path())).c_str()), 0);
  // The precondition: git itself now refuses, so a git subprocess would find no commit.
  ASSERT_EQ(rev_parse_head(d.path() / "policy"), "");

  auto r = load(d.path() / "policy");
  ASSERT_TRUE(r.policy);
  EXPECT_TRUE(r.warnings.empty()) << warnings_of(r);
  EXPECT_EQ(r.policy->version(), r.policy->content_sha256() + "+git:" + head);
  EXPECT_FALSE(r.policy->git_dirty());
}

TEST(GitRevision, CorruptHeadGivesNoGitPartAndOneWarning) {
  TempDir d;
  write(d.path() / "00-settings.yaml", kSettings);
  init_and_commit(d.path());
  write(d.path() / ".git" / "HEAD", "ref: refs/heads/main\n");
  write(d.path() / ".git" / "refs" / "heads" / "main", "not a commit id\n");
  fs::remove(d.path() / ".git" / "packed-refs");

  auto r = load(d.path());
  ASSERT_TRUE(r.policy);
  EXPECT_EQ(r.policy->version(), r.policy->content_sha256());
  EXPECT_TRUE(r.policy->git_commit().empty());
  ASSERT_EQ(r.warnings.size(), 1u) << warnings_of(r);
  const std::string w = r.warnings[0].to_string();
  EXPECT_EQ(w.rfind(d.path().string() + ": warning: no git commit in the policy version: ", 0), 0u)
      << w;
  EXPECT_NE(w.find("refs/heads/main"), std::string::npos) << w;  // libgit2's reason
}

TEST(GitRevision, HeadNamingAMissingCommitIsAWarning) {
  TempDir d;
  write(d.path() / "00-settings.yaml", kSettings);
  init_and_commit(d.path());
  write(d.path() / ".git" / "refs" / "heads" / "main",
        "0123456789012345678901234567890123456789\n");

  std::vector<base::Diagnostic> warnings;
  const auto v = read_git_revision(d.path(), warnings);
  EXPECT_TRUE(v.git_commit.empty());
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].message.find("cannot read HEAD"), std::string::npos) << warnings[0].message;
}

TEST(GitRevision, GarbageHeadFileIsAWarning) {
  TempDir d;
  write(d.path() / "00-settings.yaml", kSettings);
  init_and_commit(d.path());
  write(d.path() / ".git" / "HEAD", "garbage\n");

  std::vector<base::Diagnostic> warnings;
  const auto v = read_git_revision(d.path(), warnings);
  EXPECT_TRUE(v.git_commit.empty());
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0].file, d.path().string());
}

}  // namespace
}  // namespace egress::policy_source
