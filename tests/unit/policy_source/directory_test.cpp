// The loader layer's view of a policy directory: which entries are read, in which order, the
// fail-closed errors for entries that are not readable regular files (issue 17), the revision
// reader hook, and a PolicyStore reloading through directory_loader.
#include "policy_source/directory.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>

#include "policy/test_util.hpp"
#include "policy/version.hpp"
#include "policy_source/policy_files.hpp"

namespace egress::policy_source {
namespace {

namespace fs = std::filesystem;
namespace testing = policy::testing;
using policy::content_sha256;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "egress-policy-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(path_ / name, std::ios::binary) << text;
  }

 private:
  fs::path path_;
};

constexpr const char* kRule = R"(kind: Rule
id: web
action: allow
from: [{any: true}]
to: [{cidrs: [203.0.113.0/24], ports: [443]}]
)";

TEST(LoadPolicyDir, ReadsYamlInNameOrderAndIgnoresOthers) {
  TempDir d;
  d.write("20-rules.yaml", kRule);
  d.write("10-settings.yaml", "kind: Settings\n");
  d.write("README.md", "not: [yaml");
  d.write("30-old.yaml.bak", "garbage: [");
  d.write("notes.yml", "garbage: [");
  fs::create_directory(d.path() / "sub.yml");  // not *.yaml: not looked at
  auto r = load_policy_dir(d.path(), {});
  ASSERT_TRUE(r.errors.empty()) << testing::errors_of(r);
  ASSERT_TRUE(r.policy);
  EXPECT_EQ(r.policy->rules()[0].file, "20-rules.yaml");
  EXPECT_EQ(r.policy->content_sha256(),
            content_sha256({{"10-settings.yaml", "kind: Settings\n"}, {"20-rules.yaml", kRule}}));
  EXPECT_EQ(r.policy->version(), r.policy->content_sha256());
  EXPECT_TRUE(r.policy->git_commit().empty());
}

TEST(LoadPolicyDir, EmptyOrMissingDirectoryIsAnError) {
  TempDir d;
  d.write("README.md", "hi");
  auto r = load_policy_dir(d.path());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].to_string(),
            d.path().string() + ": error: no *.yaml files in the policy directory");
  auto missing = load_policy_dir(d.path() / "nope");
  ASSERT_EQ(missing.errors.size(), 1u);
  EXPECT_NE(missing.errors[0].to_string().find("cannot read the directory"), std::string::npos);
  EXPECT_FALSE(missing.policy);
}

// Every *.yaml entry that is not a readable regular file is an error that names it and the
// system's reason; a policy with it is no policy (issue 17 item 1: they used to be skipped, and
// their rules vanished with `policy check` saying ok).
struct Unreadable {
  const char* what;
  std::function<void(const fs::path& dir)> make;  // creates 10-deny.yaml in dir
  std::string expected;                           // the whole diagnostic
};

std::vector<Unreadable> unreadable_cases() {
  return {
      {"dangling symlink",
       [](const fs::path& d) { fs::create_symlink("gone.yaml", d / "10-deny.yaml"); },
       "10-deny.yaml: error: cannot read: No such file or directory (dangling symlink to "
       "\"gone.yaml\")"},
      {"symlink through a file",
       [](const fs::path& d) {
         std::ofstream(d / "plain") << "x";
         fs::create_symlink("plain/x.yaml", d / "10-deny.yaml");
       },
       "10-deny.yaml: error: cannot read: Not a directory (dangling symlink to "
       "\"plain/x.yaml\")"},
      {"symlink loop",
       [](const fs::path& d) {
         fs::create_symlink("loop-b", d / "10-deny.yaml");
         fs::create_symlink("10-deny.yaml", d / "loop-b");
       },
       "10-deny.yaml: error: cannot read: Too many levels of symbolic links (symlink loop)"},
      {"FIFO", [](const fs::path& d) { ASSERT_EQ(mkfifo((d / "10-deny.yaml").c_str(), 0600), 0); },
       "10-deny.yaml: error: cannot read: not a regular file (a FIFO)"},
      {"symlink to a FIFO",
       [](const fs::path& d) {
         ASSERT_EQ(mkfifo((d / "fifo").c_str(), 0600), 0);
         fs::create_symlink("fifo", d / "10-deny.yaml");
       },
       "10-deny.yaml: error: cannot read: not a regular file (a FIFO)"},
      {"directory", [](const fs::path& d) { fs::create_directory(d / "10-deny.yaml"); },
       "10-deny.yaml: error: cannot read: not a regular file (a directory)"},
      {"symlink to a directory",
       [](const fs::path& d) { fs::create_directory_symlink(".", d / "10-deny.yaml"); },
       "10-deny.yaml: error: cannot read: not a regular file (a directory)"},
      {"unix socket",
       [](const fs::path& d) {
         const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
         ASSERT_GE(fd, 0);
         sockaddr_un sa{};
         sa.sun_family = AF_UNIX;
         const std::string p = (d / "10-deny.yaml").string();
         ASSERT_LT(p.size(), sizeof sa.sun_path);
         std::memcpy(sa.sun_path, p.c_str(), p.size() + 1);
         ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
         ::close(fd);
       },
       "10-deny.yaml: error: cannot read: not a regular file (a socket)"},
  };
}

TEST(LoadPolicyDir, UnreadableYamlEntryIsAnErrorNamingItAndWhy) {
  for (const auto& c : unreadable_cases()) {
    SCOPED_TRACE(c.what);
    TempDir d;
    d.write("00-settings.yaml", "kind: Settings\n");
    d.write("20-rules.yaml", kRule);
    c.make(d.path());
    // The FIFO must not block: a reader opening it would wait for a writer forever.
    auto r = load_policy_dir(d.path(), {});
    ASSERT_EQ(r.errors.size(), 1u) << testing::errors_of(r);
    EXPECT_EQ(r.errors[0].to_string(), c.expected);
    EXPECT_FALSE(r.policy);
    // `policy test` reads test directories the same way.
    auto t = load_test_dir(d.path());
    ASSERT_EQ(t.errors.size(), 1u);
    EXPECT_EQ(t.errors[0].to_string(), c.expected);
  }
}

TEST(LoadPolicyDir, EveryUnreadableEntryIsReportedInNameOrder) {
  TempDir d;
  d.write("00-settings.yaml", "kind: Settings\n");
  fs::create_symlink("nowhere.yaml", d.path() / "30-b.yaml");
  fs::create_directory(d.path() / "10-a.yaml");
  auto r = load_policy_dir(d.path(), {});
  ASSERT_EQ(r.errors.size(), 2u) << testing::errors_of(r);
  EXPECT_EQ(r.errors[0].file, "10-a.yaml");
  EXPECT_EQ(r.errors[1].file, "30-b.yaml");
}

TEST(LoadPolicyDir, SymlinkToARegularFileIsRead) {
  TempDir d;
  d.write("00-settings.yaml", "kind: Settings\n");
  d.write("rules.txt", kRule);
  fs::create_symlink("rules.txt", d.path() / "10-rules.yaml");
  auto r = load_policy_dir(d.path(), {});
  ASSERT_TRUE(r.errors.empty()) << testing::errors_of(r);
  ASSERT_TRUE(r.policy);
  EXPECT_EQ(r.policy->rules()[0].file, "10-rules.yaml");
}

TEST(LoadPolicyDir, NotADirectoryIsAnError) {
  TempDir d;
  d.write("file.yaml", "kind: Settings\n");
  auto r = load_policy_dir(d.path() / "file.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].to_string(), (d.path() / "file.yaml").string() +
                                         ": error: cannot read the directory: Not a directory");
}

// The directory loader puts what the revision reader says into the version and passes its
// warnings on (read_git_revision itself: git_revision_test.cpp).
TEST(LoadPolicyDir, RevisionReaderFillsTheGitPartAndWarnings) {
  TempDir d;
  d.write("00-settings.yaml", "kind: Settings\n");
  const std::string commit(40, 'a');
  RevisionReader reader = [&](const fs::path& dir, std::vector<base::Diagnostic>& warnings) {
    EXPECT_EQ(dir, d.path());
    base::Diagnostic w;
    w.severity = base::Diagnostic::Severity::warning;
    w.file = dir.string();
    w.message = "from the reader";
    warnings.push_back(w);
    policy::VersionInfo v;
    v.git_commit = commit;
    v.git_dirty = true;
    return v;
  };
  policy::PolicyStore store(d.path(), directory_loader(d.path(), reader));
  auto r = store.reload();
  ASSERT_TRUE(r.policy) << testing::errors_of(r);
  EXPECT_EQ(r.policy->version(), r.policy->content_sha256() + "+git:" + commit + "+dirty");
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0].message, "from the reader");
  // Without a reader (the default): no git part, whatever the directory is.
  auto plain = load_policy_dir(d.path());
  ASSERT_TRUE(plain.policy);
  EXPECT_EQ(plain.policy->version(), plain.policy->content_sha256());
}

// A reload that meets an unreadable rules file fails and keeps the running policy, which still
// denies what the missing file denied (the fail-open the issue reproduced with a 10-deny.yaml).
TEST(PolicyStore, ReloadWithADanglingSymlinkKeepsTheRunningPolicy) {
  TempDir d;
  d.write("00-settings.yaml", "kind: Settings\ndefault: allow\n");
  d.write("deny.txt",
          "kind: Rule\nid: deny-66\naction: deny\nfrom: [{any: true}]\n"
          "to: [{cidrs: [203.0.113.66/32]}]\n");
  fs::create_symlink("deny.txt", d.path() / "10-deny.yaml");
  policy::PolicyStore store(d.path(), directory_loader(d.path()));
  ASSERT_TRUE(store.reload().errors.empty());
  auto running = store.current();
  ASSERT_TRUE(running);
  testing::Conn c("192.0.2.2", "203.0.113.66:443");
  ASSERT_EQ(running->evaluate(c.facts()).rule_id, "deny-66");

  fs::remove(d.path() / "deny.txt");  // the target vanishes
  auto bad = store.reload();
  ASSERT_EQ(bad.errors.size(), 1u) << testing::errors_of(bad);
  EXPECT_EQ(bad.errors[0].to_string(),
            "10-deny.yaml: error: cannot read: No such file or directory (dangling symlink to "
            "\"deny.txt\")");
  EXPECT_FALSE(bad.policy);
  EXPECT_EQ(store.current(), running);
  EXPECT_EQ(store.current()->evaluate(c.facts()).action, policy::Action::deny);
}

}  // namespace
}  // namespace egress::policy_source
