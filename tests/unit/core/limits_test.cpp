#include "core/limits.hpp"

#include <gtest/gtest.h>

namespace egress::core {
namespace {

TEST(ConnectionLimits, GlobalLimit) {
  ConnectionLimits l(2, {0, 0});
  EXPECT_TRUE(l.try_acquire(0));
  EXPECT_TRUE(l.try_acquire(1));
  EXPECT_FALSE(l.try_acquire(0));
  EXPECT_FALSE(l.try_acquire(1));
  EXPECT_EQ(l.active(), 2u);
  l.release(1);
  EXPECT_EQ(l.active(), 1u);
  EXPECT_EQ(l.active(1), 0u);
  EXPECT_TRUE(l.try_acquire(1));
}

TEST(ConnectionLimits, PerListenerLimitLeavesOthersAlone) {
  ConnectionLimits l(10, {1, 0});
  EXPECT_TRUE(l.try_acquire(0));
  EXPECT_FALSE(l.try_acquire(0));
  // A refused acquire takes nothing, globally or on the listener.
  EXPECT_EQ(l.active(), 1u);
  EXPECT_EQ(l.active(0), 1u);
  for (int i = 0; i < 9; ++i) EXPECT_TRUE(l.try_acquire(1));
  EXPECT_FALSE(l.try_acquire(1));  // global limit reached
  EXPECT_EQ(l.active(1), 9u);
}

TEST(ConnectionLimits, ZeroMeansUnlimited) {
  ConnectionLimits l(0, {0});
  for (int i = 0; i < 100000; ++i) ASSERT_TRUE(l.try_acquire(0));
  EXPECT_EQ(l.active(), 100000u);
}

}  // namespace
}  // namespace egress::core
