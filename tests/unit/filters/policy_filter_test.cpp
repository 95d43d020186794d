#include "filters/policy_filter.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <fstream>

#include "core/audit_records.hpp"
#include "filters/loop_guard_filter.hpp"
#include "policy/policy.hpp"
#include "policy_source/directory.hpp"

namespace egress::filters {
namespace {

namespace asio = boost::asio;

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

  std::unique_ptr<core::Connection> connection(const char* src, const char* dst) {
    auto c =
        std::make_unique<core::Connection>(asio::ip::tcp::socket(io_), 42, listener_, metrics_);
    c->src = *base::Endpoint::parse(src);
    c->dst = *base::Endpoint::parse(dst);
    return c;
  }

  std::filesystem::path dir_;
  std::unique_ptr<policy::PolicyStore> store_;
  asio::io_context io_;
  core::ListenerInfo listener_ = [] {
    core::ListenerInfo l;
    l.config.name = "egress";
    return l;
  }();
  core::WorkerMetrics metrics_{1};
};

TEST_F(PolicyFilterTest, AllowByRuleCarriesTheRuleIntoTheAuditRecord) {
  auto c = connection("192.0.2.2:40000", "203.0.113.10:80");
  EXPECT_EQ(PolicyFilter(*store_).apply(*c), Verdict::Continue);
  ASSERT_TRUE(c->decision);
  EXPECT_EQ(reason_of(*c->decision), base::Reason::rule);
  const auto rec = core::decision_record(*c, true, reason_of(*c->decision), "");
  EXPECT_EQ(rec.conn_id, 42u);
  EXPECT_EQ(rec.listener, "egress");
  EXPECT_EQ(rec.decision, "allow");
  EXPECT_EQ(rec.reason, "rule");
  EXPECT_EQ(rec.rule, "allow-web");
  EXPECT_EQ(rec.rule_file, "policy.yaml:5");
  EXPECT_EQ(rec.src.to_string(), "192.0.2.2:40000");
  EXPECT_EQ(rec.dst->to_string(), "203.0.113.10:80");
  EXPECT_EQ(rec.policy_version, store_->current()->version());
}

TEST_F(PolicyFilterTest, DenyReasonsFromThePolicy) {
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
    EXPECT_EQ(PolicyFilter(*store_).apply(*c), Verdict::Deny) << k.dst;
    ASSERT_TRUE(c->decision);
    EXPECT_EQ(reason_of(*c->decision), k.reason) << k.dst;
    EXPECT_EQ(c->decision->rule_id, k.rule) << k.dst;
  }
}

TEST_F(PolicyFilterTest, NoPolicyLoadedDenies) {
  policy::PolicyStore empty(dir_ / "nothing-here",
                            policy_source::directory_loader(dir_ / "nothing-here"));
  auto c = connection("192.0.2.2:1", "203.0.113.10:80");
  EXPECT_EQ(PolicyFilter(empty).apply(*c), Verdict::Deny);
  EXPECT_EQ(c->denied(), base::Reason::no_policy);
}

// Issue 17 item 8: the snapshot used to be taken at accept, before the TLS handshake, and the
// filter kept it: a client that connected under v1 and finished its handshake after a reload to
// v2 was decided by v1. The filter takes the snapshot itself, when it evaluates.
TEST_F(PolicyFilterTest, AReloadBeforeThePolicyStepDecidesTheConnection) {
  auto c = connection("192.0.2.2:40000", "203.0.113.10:80");
  c->policy = store_->current();  // what the session used to take at accept (v1: allows)
  c->policy_store = store_.get();
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

  EXPECT_EQ(PolicyFilter(*store_).apply(*c), Verdict::Deny) << "decided by v2";
  ASSERT_TRUE(c->decision);
  EXPECT_EQ(c->decision->rule_id, "block-10");
  EXPECT_EQ(c->policy, store_->current()) << "the snapshot that decided is kept";
  const auto rec = core::decision_record(*c, false, reason_of(*c->decision), "");
  EXPECT_EQ(rec.policy_version, v2) << "the record names the policy that decided";
}

TEST_F(PolicyFilterTest, ARecordBeforeThePolicyStepNamesThePolicyRunningThen) {
  // Denied before the policy step (over a limit, loop, TLS): no snapshot was taken.
  auto c = connection("192.0.2.2:40000", "203.0.113.10:80");
  c->policy_store = store_.get();
  const auto rec = core::decision_record(*c, false, base::Reason::loop, "");
  EXPECT_EQ(rec.policy_version, store_->current()->version());
  EXPECT_FALSE(c->policy) << "no snapshot kept for it";
}

TEST_F(PolicyFilterTest, LoopGuardFilterDeniesTheGatewayItself) {
  upstream::LoopGuard guard({*base::Endpoint::parse("0.0.0.0:15001")});
  guard.set_local_addresses({*base::IpAddress::parse("192.0.2.1")});
  auto loop = connection("192.0.2.2:1", "192.0.2.1:15001");
  EXPECT_EQ(LoopGuardFilter(guard).apply(*loop), Verdict::Deny);
  EXPECT_EQ(loop->denied(), base::Reason::loop);
  const auto rec = core::decision_record(*loop, false, base::Reason::loop, loop->deny_detail());
  EXPECT_EQ(rec.reason, "loop");
  EXPECT_EQ(rec.detail, "destination 192.0.2.1:15001 is the gateway");
  auto fine = connection("192.0.2.2:1", "203.0.113.10:15001");
  EXPECT_EQ(LoopGuardFilter(guard).apply(*fine), Verdict::Continue);
}

}  // namespace
}  // namespace egress::filters
