// load_policy_dir, the version hash, git state, PolicyStore::reload keeping the running policy.
#include "policy/store.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "policy/version.hpp"
#include "test_util.hpp"

namespace egress::policy {
namespace {

namespace fs = std::filesystem;

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

TEST(VersionHash, StableAndSensitiveToEveryByte) {
  const std::vector<SourceFile> files{{"a.yaml", "kind: Settings\n"}, {"b.yaml", kRule}};
  const std::string h = content_sha256(files);
  EXPECT_EQ(h.size(), 64u);
  EXPECT_EQ(h, content_sha256(files));  // stable
  // Any byte of any file, and any name, changes it.
  for (std::size_t f = 0; f < files.size(); ++f) {
    for (std::size_t i = 0; i < files[f].bytes.size(); ++i) {
      auto changed = files;
      changed[f].bytes[i] ^= 1;
      EXPECT_NE(content_sha256(changed), h) << f << ":" << i;
    }
  }
  auto renamed = files;
  renamed[1].name = "c.yaml";
  EXPECT_NE(content_sha256(renamed), h);
  // Moving bytes between a name and a body, or between files, is not the same input.
  EXPECT_NE(content_sha256({{"ab", "c"}}), content_sha256({{"a", "bc"}}));
  EXPECT_NE(content_sha256({{"a", "xy"}, {"b", ""}}), content_sha256({{"a", "x"}, {"b", "y"}}));
  // Known value: one empty file "a": 8-byte lengths, big-endian.
  EXPECT_EQ(content_sha256({}), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(LoadPolicyDir, ReadsYamlInNameOrderAndIgnoresOthers) {
  TempDir d;
  d.write("20-rules.yaml", kRule);
  d.write("10-settings.yaml", "kind: Settings\n");
  d.write("README.md", "not: [yaml");
  d.write("30-old.yaml.bak", "garbage: [");
  d.write("notes.yml", "garbage: [");
  fs::create_directory(d.path() / "sub.yaml");  // a directory named *.yaml is not a file
  auto r = load_policy_dir(d.path(), LoadOptions{{}, false});
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

bool have_git() {
  return std::system("git --version >/dev/null 2>&1") == 0;
}

TEST(LoadPolicyDir, GitCommitAndDirty) {
  if (!have_git()) GTEST_SKIP() << "git not installed";
  TempDir d;
  d.write("00-settings.yaml", "kind: Settings\n");
  const std::string git = "git -C '" + d.path().string() + "' ";
  ASSERT_EQ(std::system((git + "init -q && " + git + "add . && " + git +
                         "-c user.email=t@example.com -c user.name=t commit -q -m init")
                            .c_str()),
            0);
  auto clean = load_policy_dir(d.path());
  ASSERT_TRUE(clean.policy) << testing::errors_of(clean);
  ASSERT_EQ(clean.policy->git_commit().size(), 40u);
  EXPECT_FALSE(clean.policy->git_dirty());
  EXPECT_EQ(clean.policy->version(),
            clean.policy->content_sha256() + "+git:" + clean.policy->git_commit());
  d.write("10-rules.yaml", kRule);  // untracked: the running policy is not the commit
  auto dirty = load_policy_dir(d.path());
  ASSERT_TRUE(dirty.policy);
  EXPECT_TRUE(dirty.policy->git_dirty());
  EXPECT_EQ(dirty.policy->version(),
            dirty.policy->content_sha256() + "+git:" + clean.policy->git_commit() + "+dirty");
  EXPECT_NE(dirty.policy->content_sha256(), clean.policy->content_sha256());
}

TEST(PolicyStore, ReloadKeepsTheRunningPolicyOnError) {
  TempDir d;
  PolicyStore store(d.path());
  EXPECT_EQ(store.current(), nullptr);
  auto first = store.reload();  // empty directory
  EXPECT_FALSE(first.errors.empty());
  EXPECT_EQ(store.current(), nullptr);

  d.write("00-settings.yaml", "kind: Settings\n");
  d.write("10-rules.yaml", kRule);
  auto ok = store.reload();
  ASSERT_TRUE(ok.errors.empty()) << testing::errors_of(ok);
  auto running = store.current();
  ASSERT_TRUE(running);
  EXPECT_EQ(running, ok.policy);
  const std::string version = running->version();

  d.write("10-rules.yaml", "kind: Rule\nid: web\naction: allow\nfrom: []\nto: [{any: true}]\n");
  auto bad = store.reload();
  ASSERT_EQ(bad.errors.size(), 1u);
  EXPECT_EQ(bad.errors[0].to_string(),
            "10-rules.yaml:4:7: error: from: empty from (write [{any: true}] for everyone)");
  EXPECT_FALSE(bad.policy);
  EXPECT_EQ(store.current(), running);  // unchanged
  EXPECT_EQ(store.current()->version(), version);
  // The old snapshot still decides.
  testing::Conn c("192.0.2.2", "203.0.113.1:443");
  EXPECT_EQ(store.current()->evaluate(c.facts()).rule_id, "web");

  d.write("10-rules.yaml", std::string(kRule) + "description: changed\n");
  auto again = store.reload();
  ASSERT_TRUE(again.errors.empty());
  EXPECT_NE(store.current(), running);
  EXPECT_NE(store.current()->version(), version);
  // A Decision taken from the old snapshot stays valid while that snapshot is held.
  const Decision old = running->evaluate(c.facts());
  EXPECT_EQ(old.policy_version, version);
}

}  // namespace
}  // namespace egress::policy
