#include "net/log_throttle.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace egress::net {
namespace {

using namespace std::chrono_literals;
using Clock = LogThrottle::Clock;

TEST(LogThrottle, OneLinePerIntervalWithTheCountOfTheLinesHeldBack) {
  LogThrottle t(10s);
  const Clock::time_point t0{1000s};
  EXPECT_EQ(t.admit(t0), 0u);  // the first line is written
  for (int i = 0; i < 5; ++i) EXPECT_EQ(t.admit(t0 + 1s * i), std::nullopt);
  EXPECT_EQ(t.admit(t0 + 9999ms), std::nullopt);
  EXPECT_EQ(t.held(), 6u);
  EXPECT_EQ(t.admit(t0 + 10s), 6u);  // the next line says how many were held back
  EXPECT_EQ(t.held(), 0u);
  EXPECT_EQ(t.admit(t0 + 30s), 0u);  // a quiet spell: nothing was held back
}

TEST(LogThrottle, SuppressedSaysNothingWhenNothingWasHeldBack) {
  EXPECT_EQ(suppressed(0), "");
  EXPECT_EQ(suppressed(460000), " (460000 similar lines suppressed)");
}

TEST(LogThrottle, ThreadsSharingACallSiteWriteOneLineAndLoseNoCount) {
  LogThrottle t(1h);
  std::atomic<std::uint64_t> written{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      for (int n = 0; n < 100000; ++n) {
        if (t.admit()) written.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(written.load(), 1u);
  EXPECT_EQ(t.held(), 400000u - 1);
}

}  // namespace
}  // namespace egress::net
