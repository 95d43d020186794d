// The version hash, the git part handed in by the caller, PolicyStore installing only complete
// policies. No file is read here: files are the loader layer's (tests/unit/policy_source).
#include "policy/store.hpp"

#include <gtest/gtest.h>

#include <functional>

#include "policy/version.hpp"
#include "test_util.hpp"

namespace egress::policy {
namespace {

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

TEST(LoadPolicySources, TheCallersGitPartJoinsTheVersion) {
  LoadOptions options;
  options.git.git_commit = std::string(40, 'a');
  options.git.git_dirty = true;
  options.git.sha256 = "ignored";
  const std::vector<SourceFile> files{{"00-settings.yaml", "kind: Settings\n"}};
  auto r = load_policy_sources(files, options);
  ASSERT_TRUE(r.policy) << testing::errors_of(r);
  EXPECT_EQ(r.policy->content_sha256(), content_sha256(files));
  EXPECT_EQ(r.policy->version(),
            r.policy->content_sha256() + "+git:" + std::string(40, 'a') + "+dirty");
  // Without one (the default): no git part.
  auto plain = load_policy_sources(files);
  ASSERT_TRUE(plain.policy);
  EXPECT_EQ(plain.policy->version(), plain.policy->content_sha256());
}

TEST(PolicyStore, InstallTakesOnlyAPolicyWithoutErrors) {
  PolicyStore store("mem", {});
  auto ok = load_policy_sources({{"00-settings.yaml", "kind: Settings\n"}});
  ASSERT_TRUE(ok.policy);
  auto bad = ok;
  bad.errors.push_back(base::Diagnostic{});
  EXPECT_FALSE(store.install(bad));
  EXPECT_EQ(store.current(), nullptr);
  EXPECT_TRUE(store.install(ok));
  EXPECT_EQ(store.current(), ok.policy);
}

TEST(PolicyStore, ALoaderThatThrowsOrIsMissingIsAnError) {
  PolicyStore none("policy", {});
  auto r = none.reload();
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].to_string(), "policy: error: cannot load the policy: no policy loader");
  PolicyStore throws("policy", []() -> LoadResult { throw std::runtime_error("disk on fire"); });
  r = throws.reload();
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].to_string(), "policy: error: cannot load the policy: disk on fire");
  EXPECT_EQ(throws.current(), nullptr);
}

TEST(PolicyStore, ReloadKeepsTheRunningPolicyOnError) {
  // The loader is injected: here it serves bytes the test changes between reloads.
  std::vector<SourceFile> files;
  PolicyStore store("mem", [&] { return load_policy_sources(files, {}, "mem"); });
  EXPECT_EQ(store.current(), nullptr);
  auto first = store.reload();  // no files
  EXPECT_FALSE(first.errors.empty());
  EXPECT_EQ(store.current(), nullptr);

  files = {{"00-settings.yaml", "kind: Settings\n"}, {"10-rules.yaml", kRule}};
  auto ok = store.reload();
  ASSERT_TRUE(ok.errors.empty()) << testing::errors_of(ok);
  auto running = store.current();
  ASSERT_TRUE(running);
  EXPECT_EQ(running, ok.policy);
  const std::string version = running->version();

  files[1].bytes = "kind: Rule\nid: web\naction: allow\nfrom: []\nto: [{any: true}]\n";
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

  files[1].bytes = std::string(kRule) + "description: changed\n";
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
