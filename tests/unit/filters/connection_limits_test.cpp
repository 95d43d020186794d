#include "filters/connection_limits.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace egress::filters {
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

base::IpAddress ip(const char* text) {
  return *base::IpAddress::parse(text);
}

ConnectionLimits::Options options(std::uint64_t max_connections, std::uint64_t max_pending,
                                  std::uint64_t per_source, unsigned ipv6_prefix = 128) {
  ConnectionLimits::Options o;
  o.max_connections = max_connections;
  o.per_listener = {0, 0};
  o.max_pending = max_pending;
  o.per_source = per_source;
  o.per_source_ipv6_prefix = ipv6_prefix;
  return o;
}

TEST(ConnectionLimits, PendingBudgetRefusesUndecidedConnectionsBeyondIt) {
  ConnectionLimits l(options(100, 2, 0));
  base::Reason why{};
  auto a = l.admit(0, ip("192.0.2.2"), why);
  auto b = l.admit(1, ip("192.0.2.3"), why);
  ASSERT_TRUE(a.admitted() && b.admitted());
  EXPECT_EQ(l.pending(), 2u);
  EXPECT_EQ(l.pending(0), 1u);
  auto c = l.admit(0, ip("192.0.2.4"), why);
  EXPECT_FALSE(c.admitted());
  EXPECT_EQ(why, base::Reason::over_pending_limit);
  // A refused admission takes nothing: no connection slot, no pending slot.
  EXPECT_EQ(l.active(), 2u);
  EXPECT_EQ(l.pending(), 2u);
}

TEST(ConnectionLimits, DecidedGivesThePendingSlotBackButKeepsTheConnectionSlot) {
  ConnectionLimits l(options(100, 1, 0));
  base::Reason why{};
  auto relayed = l.admit(0, ip("192.0.2.2"), why);
  ASSERT_TRUE(relayed.admitted());
  EXPECT_FALSE(l.admit(0, ip("192.0.2.3"), why).admitted());
  relayed.decided();
  relayed.decided();  // idempotent
  EXPECT_EQ(l.pending(), 0u);
  EXPECT_EQ(l.active(), 1u);  // a long-lived relayed connection holds max_connections only
  auto next = l.admit(0, ip("192.0.2.3"), why);
  EXPECT_TRUE(next.admitted());
  EXPECT_EQ(l.active(), 2u);
}

TEST(ConnectionLimits, TicketGivesEverythingBackWhenDestroyed) {
  ConnectionLimits l(options(100, 10, 1));
  base::Reason why{};
  {
    auto t = l.admit(1, ip("192.0.2.2"), why);
    ASSERT_TRUE(t.admitted());
    auto moved = std::move(t);
    EXPECT_FALSE(t.admitted());  // NOLINT(bugprone-use-after-move): moved-from is empty
    EXPECT_EQ(l.active(1), 1u);
    EXPECT_EQ(l.sources().count(ip("192.0.2.2")), 1u);
  }
  EXPECT_EQ(l.active(), 0u);
  EXPECT_EQ(l.pending(), 0u);
  EXPECT_EQ(l.sources().count(ip("192.0.2.2")), 0u);
  EXPECT_EQ(l.sources().sources(), 0u);  // no entry kept for a source without connections
}

TEST(ConnectionLimits, PerSourceCountsPendingAndDecidedConnectionsOfOneAddress) {
  ConnectionLimits l(options(100, 100, 2));
  base::Reason why{};
  auto a = l.admit(0, ip("192.0.2.2"), why);
  auto b = l.admit(1, ip("192.0.2.2"), why);  // per_source spans listeners
  ASSERT_TRUE(a.admitted() && b.admitted());
  a.decided();  // relayed connections still count against per_source
  auto c = l.admit(0, ip("192.0.2.2"), why);
  EXPECT_FALSE(c.admitted());
  EXPECT_EQ(why, base::Reason::over_source_limit);
  // Another source is not affected.
  auto d = l.admit(0, ip("192.0.2.3"), why);
  EXPECT_TRUE(d.admitted());
  EXPECT_EQ(l.active(), 3u);
  EXPECT_EQ(l.sources().sources(), 2u);
  b.reset();
  EXPECT_TRUE(l.admit(0, ip("192.0.2.2"), why).admitted());
}

TEST(ConnectionLimits, IPv4MappedSourcesCountAsTheirIPv4Address) {
  ConnectionLimits l(options(100, 100, 1));
  base::Reason why{};
  auto a = l.admit(0, ip("::ffff:192.0.2.2"), why);
  ASSERT_TRUE(a.admitted());
  EXPECT_FALSE(l.admit(0, ip("192.0.2.2"), why).admitted());
  EXPECT_EQ(why, base::Reason::over_source_limit);
  // An IPv6 address whose low 32 bits spell the same IPv4 address is another source.
  EXPECT_TRUE(l.admit(0, ip("2001:db8::c000:202"), why).admitted());
}

TEST(ConnectionLimits, IPv6SourcesArePerAddressByDefaultAndPerPrefixWhenConfigured) {
  base::Reason why{};
  {
    ConnectionLimits l(options(100, 100, 1));
    auto a = l.admit(0, ip("2001:db8:1::2"), why);
    EXPECT_TRUE(l.admit(0, ip("2001:db8:1::3"), why).admitted());
  }
  {
    ConnectionLimits l(options(100, 100, 1, 64));
    auto a = l.admit(0, ip("2001:db8:1::2"), why);
    EXPECT_FALSE(l.admit(0, ip("2001:db8:1:0:ffff::3"), why).admitted());
    EXPECT_EQ(why, base::Reason::over_source_limit);
    EXPECT_TRUE(l.admit(0, ip("2001:db8:1:1::2"), why).admitted());  // the next /64
  }
  {
    ConnectionLimits l(options(100, 100, 1, 60));  // a prefix that ends inside a byte
    auto a = l.admit(0, ip("2001:db8:1:0::2"), why);
    EXPECT_FALSE(l.admit(0, ip("2001:db8:1:f::2"), why).admitted());
    EXPECT_TRUE(l.admit(0, ip("2001:db8:1:10::2"), why).admitted());
  }
}

TEST(ConnectionLimits, TheMostSpecificLimitNamesTheRefusal) {
  ConnectionLimits l(options(1, 1, 1));
  base::Reason why{};
  auto a = l.admit(0, ip("192.0.2.2"), why);
  ASSERT_TRUE(a.admitted());
  EXPECT_FALSE(l.admit(0, ip("192.0.2.2"), why).admitted());
  EXPECT_EQ(why, base::Reason::over_source_limit);
  EXPECT_FALSE(l.admit(0, ip("192.0.2.3"), why).admitted());
  EXPECT_EQ(why, base::Reason::over_limit);
  // A refusal at a later check gives back what the earlier ones took.
  EXPECT_EQ(l.sources().count(ip("192.0.2.3")), 0u);
  EXPECT_EQ(l.active(), 1u);
}

TEST(ConnectionLimits, ZeroPendingAndPerSourceMeanUnlimitedAndCountNoSources) {
  ConnectionLimits l(options(0, 0, 0));
  base::Reason why{};
  std::vector<ConnectionLimits::Ticket> held;
  for (int i = 0; i < 10000; ++i) held.push_back(l.admit(0, ip("192.0.2.2"), why));
  for (const auto& t : held) ASSERT_TRUE(t.admitted());
  EXPECT_EQ(l.pending(), 10000u);
  EXPECT_FALSE(l.sources().enabled());
  EXPECT_EQ(l.sources().count(ip("192.0.2.2")), 0u);
}

TEST(ConnectionLimits, WorkersSharingTheLimitsNeverExceedThemAndLeaveNothingBehind) {
  // Workers are threads: admit and release from several at once, on the same sources.
  constexpr unsigned kThreads = 4;
  constexpr std::uint64_t kPerSource = 3;
  ConnectionLimits l(options(0, 0, kPerSource));
  std::atomic<std::uint64_t> over{0};
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < kThreads; ++t) {
    threads.emplace_back([&l, &over, t] {
      base::Reason why{};
      for (int i = 0; i < 20000; ++i) {
        const auto src = base::IpAddress::v4(0xC0000200u + static_cast<std::uint32_t>(i % 5));
        auto a = l.admit(t % 2, src, why);
        auto b = l.admit(t % 2, src, why);
        if (l.sources().count(src) > kPerSource) over.fetch_add(1);
        a.decided();
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(over.load(), 0u);
  EXPECT_EQ(l.active(), 0u);
  EXPECT_EQ(l.pending(), 0u);
  EXPECT_EQ(l.sources().sources(), 0u);
}

}  // namespace
}  // namespace egress::filters
