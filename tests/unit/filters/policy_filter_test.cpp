#include "filters/policy_filter.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "fake_context.hpp"
#include "filters/loop_guard_filter.hpp"
#include "policy/policy.hpp"
#include "policy_source/directory.hpp"

namespace egress::filters {
namespace {

class PolicyFilterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("egress-policy-filter-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "policy.yaml") << R"(kind: Settings
default: deny
deny_destinations: [198.51.100.0/24]
---
kind: Rule
id: allow-web
action: allow
from: [{source: 192.0.2.0/24}]
to: [{cidrs: [203.0.113.0/24], ports: [80]}]
---
kind: Rule
id: block-66
action: deny
from: [{any: true}]
to: [{cidrs: [203.0.113.66/32]}]
)";
    store_ = std::make_unique<policy::PolicyStore>(dir_, policy_source::directory_loader(dir_));
    const auto r = store_->reload();
    ASSERT_TRUE(r.errors.empty()) << r.errors[0].to_string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<Facts> connection(const char* src, const char* dst) {
    auto f = std::make_unique<Facts>(42, listener_);
    f->src = *base::Endpoint::parse(src);
    f->dst = *base::Endpoint::parse(dst);
    return f;
  }

  std::filesystem::path dir_;
  std::unique_ptr<policy::PolicyStore> store_;
  ListenerInfo listener_ = [] {
    ListenerInfo l;
    l.config.name = "egress";
    return l;
  }();
};

TEST_F(PolicyFilterTest, AllowByRuleKeepsTheRuleAndTheSnapshotThatDecided) {
  auto c = connection("192.0.2.2:40000", "203.0.113.10:80");
  testing::FakeContext context;
  const auto out = testing::run(PolicyFilter(*store_).on_connection(*c, context));
  ASSERT_TRUE(out) << "the policy step always decides";
  EXPECT_TRUE(out->allow);
  EXPECT_EQ(out->reason, base::Reason::rule);
  ASSERT_TRUE(c->decision);
  EXPECT_EQ(c->decision->rule_id, "allow-web");
  EXPECT_EQ(c->decision->rule_file, "policy.yaml");
  EXPECT_EQ(c->decision->rule_line, 5);
  EXPECT_EQ(c->decision->policy_version, store_->current()->version());
  EXPECT_EQ(c->policy, store_->current());
}

TEST_F(PolicyFilterTest, DenyReasonsFromThePolicyEndWithAReset) {
  struct Case {
    const char* src;
    const char* dst;
    base::Reason reason;
    const char* rule;
  };
  for (const Case& k : {
           Case{"192.0.2.2:1", "203.0.113.66:80", base::Reason::rule, "block-66"},
           Case{"192.0.2.2:1", "203.0.113.10:443", base::Reason::default_action, ""},
           Case{"192.0.2.2:1", "198.51.100.1:80", base::Reason::deny_destination, ""},
       }) {
    auto c = connection(k.src, k.dst);
    const base::Outcome out = PolicyFilter(*store_).decide(*c);
    EXPECT_FALSE(out.allow) << k.dst;
    EXPECT_EQ(out.reason, k.reason) << k.dst;
    EXPECT_EQ(out.ending, base::Ending::reset) << k.dst;
    ASSERT_TRUE(c->decision);
    EXPECT_EQ(reason_of(*c->decision), k.reason) << k.dst;
    EXPECT_EQ(c->decision->rule_id, k.rule) << k.dst;
  }
}

TEST_F(PolicyFilterTest, NoPolicyLoadedDenies) {
  policy::PolicyStore empty(dir_ / "nothing-here",
                            policy_source::directory_loader(dir_ / "nothing-here"));
  auto c = connection("192.0.2.2:1", "203.0.113.10:80");
  const base::Outcome out = PolicyFilter(empty).decide(*c);
  EXPECT_FALSE(out.allow);
  EXPECT_EQ(out.reason, base::Reason::no_policy);
  EXPECT_EQ(out.detail, "no policy loaded");
}

// Issue 17 item 8: the snapshot used to be taken at accept, before the TLS handshake, and the
// filter kept it: a client that connected under v1 and finished its handshake after a reload to
// v2 was decided by v1. The filter takes the snapshot itself, when it evaluates.
TEST_F(PolicyFilterTest, AReloadBeforeThePolicyStepDecidesTheConnection) {
  auto c = connection("192.0.2.2:40000", "203.0.113.10:80");
  c->policy = store_->current();  // what the session used to take at accept (v1: allows)
  const std::string v1 = store_->current()->version();
  {
    // The client is still in its handshake: v2 denies 203.0.113.10.
    std::ofstream f(dir_ / "policy.yaml", std::ios::app);
    f << R"(---
kind: Rule
id: block-10
action: deny
from: [{any: true}]
to: [{cidrs: [203.0.113.10/32]}]
)";
  }
  const auto r = store_->reload();
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].to_string();
  const std::string v2 = store_->current()->version();
  ASSERT_NE(v1, v2);

  EXPECT_FALSE(PolicyFilter(*store_).decide(*c).allow) << "decided by v2";
  ASSERT_TRUE(c->decision);
  EXPECT_EQ(c->decision->rule_id, "block-10");
  EXPECT_EQ(c->policy, store_->current()) << "the snapshot that decided is kept";
  EXPECT_EQ(c->decision->policy_version, v2) << "the record names the policy that decided";
}

TEST_F(PolicyFilterTest, LoopGuardFilterDeniesTheGatewayItself) {
  upstream::LoopGuard guard({*base::Endpoint::parse("0.0.0.0:15001")});
  guard.set_local_addresses({*base::IpAddress::parse("192.0.2.1")});
  testing::FakeContext context;
  auto loop = connection("192.0.2.2:1", "192.0.2.1:15001");
  LoopGuardFilter filter(guard);
  const auto out = testing::run(filter.on_connection(*loop, context));
  ASSERT_TRUE(out);
  EXPECT_FALSE(out->allow);
  EXPECT_EQ(out->reason, base::Reason::loop);
  EXPECT_EQ(out->detail, "destination 192.0.2.1:15001 is the gateway");
  EXPECT_EQ(out->ending, base::Ending::reset);
  auto fine = connection("192.0.2.2:1", "203.0.113.10:15001");
  EXPECT_FALSE(testing::run(filter.on_connection(*fine, context))) << "passes on";
}

// Every policy reason has its own audit reason: a strict name denial is recorded as such, never
// as the default (issue 19).
TEST(PolicyFilter, EveryPolicyReasonMapsToItsAuditReason) {
  const std::pair<policy::Reason, base::Reason> cases[] = {
      {policy::Reason::rule, base::Reason::rule},
      {policy::Reason::default_action, base::Reason::default_action},
      {policy::Reason::deny_destination, base::Reason::deny_destination},
      {policy::Reason::name_mismatch, base::Reason::name_mismatch},
      {policy::Reason::name_unresolved, base::Reason::name_unresolved},
  };
  for (const auto& [from, to] : cases) {
    policy::Decision d;
    d.reason = from;
    EXPECT_EQ(reason_of(d), to) << policy::to_string(from);
  }
}

}  // namespace
}  // namespace egress::filters
