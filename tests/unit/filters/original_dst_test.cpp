#include "filters/original_dst.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <netinet/in.h>

#include <boost/asio/ip/address.hpp>
#include <cstring>

#include "base/asio_endpoint.hpp"
#include "fake_context.hpp"

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

TEST(QueryOriginalDst, V4MappedClientOfADualStackListenerUsesTheIpv4Option) {
  // A "[::]" listener sees IPv4 clients as ::ffff:a.b.c.d; only SO_ORIGINAL_DST knows them.
  answer_v4("203.0.113.10", 80);
  const auto client = base::from_asio({asio::ip::make_address("::ffff:192.0.2.2"), 40000});
  EXPECT_TRUE(client.address.is_v4());
  const auto r = query_original_dst(7, client.address, &fake_getsockopt);
  EXPECT_EQ(fake.level, SOL_IP);
  EXPECT_EQ(fake.optname, SO_ORIGINAL_DST);
  ASSERT_TRUE(r.destination);
  EXPECT_EQ(r.destination->to_string(), "203.0.113.10:80");
}

TEST(QueryOriginalDst, V4MappedAnswerIsNormalised) {
  answer_v6("::ffff:203.0.113.20", 8443);
  const auto r = query_original_dst(7, ip("2001:db8:1::2"), &fake_getsockopt);
  ASSERT_TRUE(r.destination);
  EXPECT_EQ(r.destination->to_string(), "203.0.113.20:8443");
}

class OriginalDstFilterTest : public ::testing::Test {
 protected:
  ListenerInfo listener{0, {}};
  Facts facts{1, listener};
  testing::FakeContext context;

  void SetUp() override {
    facts.src = *base::Endpoint::parse("192.0.2.2:40000");
    facts.local = *base::Endpoint::parse("192.0.2.1:15001");
  }
  std::optional<base::Outcome> run(config::DestinationMode mode) {
    OriginalDstFilter filter(mode);
    return testing::run(filter.on_connection(facts, context));
  }
};

TEST_F(OriginalDstFilterTest, TheKernelsAnswerBecomesTheDestination) {
  context.dst_answer.destination = *base::Endpoint::parse("203.0.113.10:80");
  EXPECT_FALSE(run(config::DestinationMode::original_dst)) << "passes on";
  EXPECT_EQ(context.original_dst_calls, 1);
  ASSERT_TRUE(facts.dst);
  EXPECT_EQ(facts.dst->to_string(), "203.0.113.10:80");
}

TEST_F(OriginalDstFilterTest, EnoentDeniesNoOriginalDstWithAReset) {
  context.dst_answer.error = ENOENT;
  const auto out = run(config::DestinationMode::original_dst);
  ASSERT_TRUE(out);
  EXPECT_FALSE(out->allow);
  EXPECT_EQ(out->reason, base::Reason::no_original_dst);
  EXPECT_EQ(out->detail, std::strerror(ENOENT));
  EXPECT_EQ(out->ending, base::Ending::reset);
  EXPECT_FALSE(facts.dst);
}

TEST_F(OriginalDstFilterTest, TproxyTakesTheLocalAddressWithoutAskingTheKernel) {
  facts.local = *base::Endpoint::parse("203.0.113.99:80");
  EXPECT_FALSE(run(config::DestinationMode::tproxy));
  EXPECT_EQ(context.original_dst_calls, 0);
  EXPECT_EQ(facts.dst->to_string(), "203.0.113.99:80");
}

}  // namespace
}  // namespace egress::filters
