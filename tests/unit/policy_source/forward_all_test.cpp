#include "policy_source/forward_all.hpp"

#include <gtest/gtest.h>

#include "policy/test_util.hpp"

namespace egress::policy_source {
namespace {

using policy::testing::Conn;

TEST(ForwardAll, AllowsEveryConnectionByTheDefault) {
  const auto r = forward_all_loader()();
  ASSERT_TRUE(r.errors.empty()) << policy::testing::errors_of(r);
  ASSERT_TRUE(r.policy);
  EXPECT_EQ(r.policy->rule_count(), 0u);
  // Addresses a gateway's policy usually denies: the agent leaves every decision to its gateway.
  for (const char* dst : {"203.0.113.5:443", "10.0.0.5:22", "169.254.169.254:80", "[::1]:8080"}) {
    const auto d = r.policy->evaluate(Conn("10.244.1.7", dst).facts());
    EXPECT_EQ(d.action, policy::Action::allow) << dst;
    EXPECT_EQ(d.reason, policy::Reason::default_action) << dst;
    EXPECT_EQ(d.policy_version, r.policy->version());
  }
  EXPECT_EQ(forward_all_loader()().policy->version(), r.policy->version())
      << "the same version on every reload";
}

}  // namespace
}  // namespace egress::policy_source
