#include "filters/original_dst.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <netinet/in.h>

#include <boost/asio/io_context.hpp>
#include <cstring>

#include "base/asio_endpoint.hpp"
#include "upstream/connect.hpp"

namespace egress::filters {
namespace {

namespace asio = boost::asio;

/// The fake kernel: remembers what was asked and answers with `answer` or fails with `error`.
struct FakeKernel {
  int level = -1;
  int optname = -1;
  int calls = 0;
  sockaddr_storage answer{};
  socklen_t answer_len = 0;
  int error = 0;
} fake;

int fake_getsockopt(int, int level, int optname, void* optval, socklen_t* optlen) {
  ++fake.calls;
  fake.level = level;
  fake.optname = optname;
  if (fake.error != 0) {
    errno = fake.error;
    return -1;
  }
  std::memcpy(optval, &fake.answer, fake.answer_len);
  *optlen = fake.answer_len;
  return 0;
}

void answer_v4(const char* ip, std::uint16_t port) {
  fake = {};
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  ::inet_pton(AF_INET, ip, &sin.sin_addr);
  std::memcpy(&fake.answer, &sin, sizeof(sin));
  fake.answer_len = sizeof(sin);
}

void answer_v6(const char* ip, std::uint16_t port) {
  fake = {};
  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  sin6.sin6_port = htons(port);
  ::inet_pton(AF_INET6, ip, &sin6.sin6_addr);
  std::memcpy(&fake.answer, &sin6, sizeof(sin6));
  fake.answer_len = sizeof(sin6);
}

base::IpAddress ip(const char* text) {
  return *base::IpAddress::parse(text);
}

TEST(QueryOriginalDst, Ipv4ClientAsksSolIpSoOriginalDst) {
  answer_v4("203.0.113.10", 80);
  const auto r = query_original_dst(7, ip("192.0.2.2"), &fake_getsockopt);
  ASSERT_TRUE(r.destination);
  EXPECT_EQ(r.destination->to_string(), "203.0.113.10:80");
  EXPECT_EQ(fake.level, SOL_IP);
  EXPECT_EQ(fake.optname, SO_ORIGINAL_DST);
}

TEST(QueryOriginalDst, Ipv6ClientAsksIp6tSoOriginalDst) {
  answer_v6("2001:db8:2::10", 443);
  const auto r = query_original_dst(7, ip("2001:db8:1::2"), &fake_getsockopt);
  ASSERT_TRUE(r.destination);
  EXPECT_EQ(r.destination->to_string(), "[2001:db8:2::10]:443");
  EXPECT_EQ(fake.level, SOL_IPV6);
  EXPECT_EQ(fake.optname, IP6T_SO_ORIGINAL_DST);
}

TEST(QueryOriginalDst, NoConntrackEntryIsAnError) {
  fake = {};
  fake.error = ENOENT;
  const auto r = query_original_dst(7, ip("192.0.2.2"), &fake_getsockopt);
  EXPECT_FALSE(r.destination);
  EXPECT_EQ(r.error, ENOENT);
}

class OriginalDstFilterTest : public ::testing::Test {
 protected:
  asio::io_context io;
  core::ListenerInfo listener{0, {}};
  core::WorkerMetrics metrics{1};

  std::unique_ptr<core::Connection> make(const char* client_ip) {
    auto c = std::make_unique<core::Connection>(asio::ip::tcp::socket(io), 1, listener, metrics);
    c->src = base::from_asio({asio::ip::make_address(client_ip), 40000});
    c->local = base::from_asio({asio::ip::make_address("192.0.2.1"), 15001});
    return c;
  }
};

TEST_F(OriginalDstFilterTest, V4MappedClientOfADualStackListenerUsesTheIpv4Option) {
  // A "[::]" listener sees IPv4 clients as ::ffff:a.b.c.d; only SO_ORIGINAL_DST knows them.
  answer_v4("203.0.113.10", 80);
  auto owned = make("::ffff:192.0.2.2");
  core::Connection& c = *owned;
  EXPECT_TRUE(c.src.address.is_v4());
  EXPECT_EQ(OriginalDstFilter(config::DestinationMode::original_dst, &fake_getsockopt).apply(c),
            Verdict::Continue);
  EXPECT_EQ(fake.level, SOL_IP);
  EXPECT_EQ(fake.optname, SO_ORIGINAL_DST);
  ASSERT_TRUE(c.dst);
  EXPECT_EQ(c.dst->to_string(), "203.0.113.10:80");
}

TEST_F(OriginalDstFilterTest, V4MappedAnswerIsNormalised) {
  answer_v6("::ffff:203.0.113.20", 8443);
  auto owned = make("2001:db8:1::2");
  core::Connection& c = *owned;
  ASSERT_EQ(OriginalDstFilter(config::DestinationMode::original_dst, &fake_getsockopt).apply(c),
            Verdict::Continue);
  EXPECT_EQ(c.dst->to_string(), "203.0.113.20:8443");
}

TEST_F(OriginalDstFilterTest, EnoentDeniesNoOriginalDst) {
  fake = {};
  fake.error = ENOENT;
  auto owned = make("2001:db8:1::2");
  core::Connection& c = *owned;
  EXPECT_EQ(OriginalDstFilter(config::DestinationMode::original_dst, &fake_getsockopt).apply(c),
            Verdict::Deny);
  EXPECT_EQ(c.denied(), base::Reason::no_original_dst);
  EXPECT_EQ(c.deny_detail(), std::strerror(ENOENT));
  EXPECT_FALSE(c.dst);
}

TEST_F(OriginalDstFilterTest, TproxyTakesTheLocalAddressWithoutAskingTheKernel) {
  fake = {};
  auto owned = make("192.0.2.2");
  core::Connection& c = *owned;
  c.local = base::from_asio({asio::ip::make_address("203.0.113.99"), 80});
  EXPECT_EQ(OriginalDstFilter(config::DestinationMode::tproxy, &fake_getsockopt).apply(c),
            Verdict::Continue);
  EXPECT_EQ(fake.calls, 0);
  EXPECT_EQ(c.dst->to_string(), "203.0.113.99:80");
}

}  // namespace
}  // namespace egress::filters
