#include "resolve/resolver.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <fstream>
#include <optional>
#include <thread>

#include "dnsmasq.hpp"
#include "resolve/name_verifier.hpp"
#include "run_awaitable.hpp"

// The resolver and the verifier against a real DNS server (dnsmasq) in the test's own network
// namespace. Root only (unshare); skipped with the reason otherwise. CI runs them as root.

namespace egress::resolve {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using test::Dnsmasq;
using test::run_awaitable;

constexpr std::uint16_t dns_port = 5300;

base::IpAddress ip(std::string_view text) {
  return *base::IpAddress::parse(text);
}

std::vector<base::IpAddress> addresses(const Answer& a) {
  std::vector<base::IpAddress> out;
  for (auto& r : a.records) out.push_back(r.address);
  return out;
}

class DnsmasqTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = test::enter_private_network(); !why.empty()) GTEST_SKIP() << why;
    dns_.emplace(dns_port, std::vector<std::string>{
                               "--host-record=a.test,192.0.2.10,300",
                               "--host-record=six.test,2001:db8::6,300",
                               "--host-record=both.test,192.0.2.30,2001:db8::30,120",
                               "--host-record=mapped.test,::ffff:192.0.2.20,300",
                           });
    dns_->start();
  }

  Resolver& resolver(ResolverOptions options = {}) {
    if (options.servers.empty()) options.servers = {dns_->server()};
    resolver_.emplace(io_.get_executor(), options);
    return *resolver_;
  }
  NameVerifier& verifier(VerifierOptions options = {}) {
    if (!resolver_) resolver();
    verifier_.emplace(*resolver_, options);
    return *verifier_;
  }
  Answer resolve(std::string name) { return run_awaitable(io_, resolver_->resolve(name)); }
  Verification verify(std::string name, std::string_view destination) {
    return run_awaitable(io_, verifier_->verify(std::move(name), ip(destination)));
  }

  asio::io_context io_;
  std::optional<Dnsmasq> dns_;
  std::optional<Resolver> resolver_;
  std::optional<NameVerifier> verifier_;
};

TEST_F(DnsmasqTest, ResolvesAWithItsTtl) {
  resolver();
  Answer a = resolve("a.test");
  EXPECT_EQ(a.status, Answer::Status::ok) << a.detail;
  ASSERT_EQ(a.records.size(), 1u);
  EXPECT_EQ(a.records[0].address, ip("192.0.2.10"));
  EXPECT_EQ(a.records[0].ttl, 300s);
  EXPECT_EQ(dns_->queries("A", "a.test"), 1);
  EXPECT_EQ(dns_->queries("AAAA", "a.test"), 1);
}

TEST_F(DnsmasqTest, ResolvesAaaa) {
  resolver();
  Answer a = resolve("six.test");
  EXPECT_EQ(a.status, Answer::Status::ok) << a.detail;
  EXPECT_EQ(addresses(a), std::vector{ip("2001:db8::6")});
  a = resolve("both.test");
  EXPECT_EQ(addresses(a), (std::vector{ip("192.0.2.30"), ip("2001:db8::30")}));
  EXPECT_EQ(a.records[1].ttl, 120s);
}

TEST_F(DnsmasqTest, AnIpv4MappedAaaaAnswerBecomesIpv4) {
  resolver();
  Answer a = resolve("mapped.test");
  EXPECT_EQ(a.status, Answer::Status::ok) << a.detail;
  ASSERT_EQ(addresses(a), std::vector{ip("192.0.2.20")});
  EXPECT_TRUE(a.records[0].address.is_v4());
}

TEST_F(DnsmasqTest, AnUnknownNameIsNxdomain) {
  resolver();
  Answer a = resolve("nope.test");
  EXPECT_EQ(a.status, Answer::Status::nxdomain);
  EXPECT_EQ(a.detail, "NXDOMAIN");
  EXPECT_TRUE(a.records.empty());
}

TEST_F(DnsmasqTest, AServerThatIsDownFailsWithinTheTimeout) {
  resolver({.servers = {"127.0.0.1:5399"}, .timeout = 1000ms});
  auto start = std::chrono::steady_clock::now();
  Answer a = resolve("a.test");
  auto took = std::chrono::steady_clock::now() - start;
  // Nothing listens: the ICMP port unreachable ends it long before the timeout.
  EXPECT_EQ(a.status, Answer::Status::unreachable) << to_string(a.status) << ": " << a.detail;
  EXPECT_EQ(a.detail, "DNS server unreachable");
  EXPECT_LE(took, 500ms);
}

TEST_F(DnsmasqTest, AServerThatNeverAnswersTimesOutAtTheTimeout) {
  // Bound and silent: the questions arrive and nothing comes back.
  int silent = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(5398);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(silent, reinterpret_cast<sockaddr*>(&sin), sizeof sin), 0);

  resolver({.servers = {"127.0.0.1:5398"}, .timeout = 600ms, .tries = 2});
  auto start = std::chrono::steady_clock::now();
  Answer a = resolve("a.test");
  auto took = std::chrono::steady_clock::now() - start;
  close(silent);
  EXPECT_EQ(a.status, Answer::Status::timeout);
  EXPECT_EQ(a.detail, "timeout after 600 ms");
  EXPECT_GE(took, 500ms);
  EXPECT_LE(took, 1000ms);
}

TEST_F(DnsmasqTest, APendingLookupEndsWhenTheResolverGoesAway) {
  int silent = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(5398);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(silent, reinterpret_cast<sockaddr*>(&sin), sizeof sin), 0);
  resolver({.servers = {"127.0.0.1:5398"}, .timeout = 5000ms});
  std::optional<Answer> answer;
  resolver_->lookup("a.test", [&](Answer a) { answer = std::move(a); });
  io_.poll();
  EXPECT_FALSE(answer.has_value());
  resolver_.reset();
  auto start = std::chrono::steady_clock::now();
  io_.restart();
  io_.run();
  close(silent);
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->status, Answer::Status::error);
  EXPECT_EQ(answer->detail, "resolver stopped");
  EXPECT_LE(std::chrono::steady_clock::now() - start, 1000ms) << "nothing is left to wait for";
}

TEST_F(DnsmasqTest, AnAnswerTooLargeForUdpIsFetchedOverTcp) {
  // 50 A records do not fit a 512-byte UDP reply: dnsmasq truncates, c-ares asks again over TCP
  // (a connect: the socket is watched for writing, then reading).
  std::string hosts;
  for (int i = 1; i <= 50; ++i) hosts += "198.51.100." + std::to_string(i) + " many.test\n";
  dns_->set_hosts(hosts);
  resolver();
  Answer a = resolve("many.test");
  EXPECT_EQ(a.status, Answer::Status::ok) << a.detail;
  EXPECT_EQ(a.records.size(), 50u);
  EXPECT_EQ(dns_->queries("A", "many.test"), 2) << "once over UDP (truncated), once over TCP";
}

TEST_F(DnsmasqTest, ALookupNeitherBlocksTheLoopNorStartsAThread) {
  int silent = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(5398);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(silent, reinterpret_cast<sockaddr*>(&sin), sizeof sin), 0);
  resolver({.servers = {"127.0.0.1:5398"}, .timeout = 600ms});
  auto threads = [] {
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);) {
      if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
    }
    return -1;
  };
  const int before = threads();

  std::optional<Answer> answer;
  std::optional<std::chrono::steady_clock::duration> tick_at;
  auto start = std::chrono::steady_clock::now();
  resolver_->lookup("a.test", [&](Answer a) { answer = std::move(a); });
  asio::steady_timer tick(io_, 50ms);
  int threads_during = 0;
  tick.async_wait([&](boost::system::error_code) {
    tick_at = std::chrono::steady_clock::now() - start;
    threads_during = threads();
  });
  io_.run();
  close(silent);
  ASSERT_TRUE(tick_at.has_value());
  EXPECT_LE(*tick_at, 250ms) << "the loop ran other work while the lookup waited";
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->status, Answer::Status::timeout);
  EXPECT_EQ(threads_during, before);
}

TEST_F(DnsmasqTest, AnIdleResolverLeavesNoWorkOnTheEventLoop) {
  resolver();
  EXPECT_EQ(resolve("a.test").status, Answer::Status::ok);
  // Nothing pending: no socket wait, and no retransmission timer (c-ares would next look in
  // 2000 ms / 3 = 666 ms), keeps the loop running.
  io_.restart();
  auto start = std::chrono::steady_clock::now();
  io_.run();
  EXPECT_LE(std::chrono::steady_clock::now() - start, 300ms);
}

TEST_F(DnsmasqTest, VerifiesAMatch) {
  verifier();
  auto v = verify("a.test", "192.0.2.10");
  EXPECT_EQ(v.verdict, Verdict::match) << v.detail;
  EXPECT_EQ(v.answers, std::vector{ip("192.0.2.10")});
  v = verify("A.TEST.", "192.0.2.10");
  EXPECT_EQ(v.verdict, Verdict::match) << v.detail;
  EXPECT_EQ(resolver_->lookups_started(), 1u);
  EXPECT_EQ(dns_->queries("A", "a.test"), 1);
}

TEST_F(DnsmasqTest, VerifiesAaaaAndMappedAddresses) {
  verifier();
  EXPECT_EQ(verify("six.test", "2001:db8::6").verdict, Verdict::match);
  EXPECT_EQ(verify("both.test", "2001:db8::30").verdict, Verdict::match);
  EXPECT_EQ(verify("both.test", "192.0.2.30").verdict, Verdict::match);
  EXPECT_EQ(verify("mapped.test", "192.0.2.20").verdict, Verdict::match);
  EXPECT_EQ(verify("mapped.test", "::ffff:192.0.2.20").verdict, Verdict::match);
}

TEST_F(DnsmasqTest, ADestinationTheNameDoesNotResolveToIsAMismatch) {
  verifier();
  auto v = verify("a.test", "198.51.100.7");
  EXPECT_EQ(v.verdict, Verdict::mismatch);
  EXPECT_EQ(v.answers, std::vector{ip("192.0.2.10")});
  EXPECT_EQ(verify("six.test", "2001:db8::7").verdict, Verdict::mismatch);
}

TEST_F(DnsmasqTest, NxdomainIsUnresolved) {
  verifier();
  auto v = verify("nope.test", "192.0.2.10");
  EXPECT_EQ(v.verdict, Verdict::unresolved);
  EXPECT_EQ(v.detail, "NXDOMAIN");
  EXPECT_TRUE(v.answers.empty());
  // Held as negative: the next connection asks the server nothing.
  EXPECT_EQ(verify("nope.test", "192.0.2.10").verdict, Verdict::unresolved);
  EXPECT_EQ(dns_->queries("A", "nope.test"), 1);
}

TEST_F(DnsmasqTest, ATimeoutIsUnresolvedWithinTheTimeout) {
  dns_->stop();
  int silent = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(dns_port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(silent, reinterpret_cast<sockaddr*>(&sin), sizeof sin), 0);
  resolver({.servers = {}, .timeout = 500ms});
  verifier();
  auto start = std::chrono::steady_clock::now();
  auto v = verify("a.test", "192.0.2.10");
  auto took = std::chrono::steady_clock::now() - start;
  close(silent);
  EXPECT_EQ(v.verdict, Verdict::unresolved);
  EXPECT_EQ(v.detail, "timeout after 500 ms");
  EXPECT_LE(took, 900ms);
}

TEST_F(DnsmasqTest, ChangedAnswersOldStillMatchesNewMatchesAfterTheRefresh) {
  dns_->set_hosts("192.0.2.40 rr.test\n");
  verifier();
  EXPECT_EQ(verify("rr.test", "192.0.2.40").verdict, Verdict::match);
  EXPECT_EQ(resolver_->lookups_started(), 1u);

  dns_->set_hosts("192.0.2.41 rr.test\n");
  // The client may already hold the new answer, but the name was asked about less than a second
  // ago: the held answers decide, the server is not asked.
  auto v = verify("rr.test", "192.0.2.41");
  EXPECT_EQ(v.verdict, Verdict::mismatch);
  EXPECT_EQ(resolver_->lookups_started(), 1u);

  std::this_thread::sleep_for(1050ms);
  v = verify("rr.test", "192.0.2.41");
  EXPECT_EQ(v.verdict, Verdict::match) << "one fresh lookup on the miss";
  EXPECT_EQ(v.answers, (std::vector{ip("192.0.2.40"), ip("192.0.2.41")}));
  EXPECT_EQ(resolver_->lookups_started(), 2u);

  // The old address, answered TTL 1s, is still held (min_ttl 60s): no lookup for it.
  v = verify("rr.test", "192.0.2.40");
  EXPECT_EQ(v.verdict, Verdict::match);
  EXPECT_EQ(resolver_->lookups_started(), 2u);
  EXPECT_EQ(dns_->queries("A", "rr.test"), 2);
}

TEST_F(DnsmasqTest, ConcurrentVerifiesOfOneNameSendOneQuery) {
  verifier();
  std::vector<std::optional<Verification>> results(8);
  for (std::size_t i = 0; i < results.size(); ++i) {
    asio::co_spawn(io_, verifier_->verify("a.test", ip("192.0.2.10")),
                   [&results, i](std::exception_ptr, Verification v) { results[i] = v; });
  }
  io_.run();
  for (auto& r : results) {
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->verdict, Verdict::match) << r->detail;
  }
  EXPECT_EQ(resolver_->lookups_started(), 1u);
  EXPECT_EQ(dns_->queries("A", "a.test"), 1);
  EXPECT_EQ(dns_->queries("AAAA", "a.test"), 1);
}

TEST_F(DnsmasqTest, TheCacheStaysWithinItsBound) {
  verifier({.max_names = 2});
  EXPECT_EQ(verify("a.test", "192.0.2.10").verdict, Verdict::match);
  EXPECT_EQ(verify("six.test", "2001:db8::6").verdict, Verdict::match);
  EXPECT_EQ(verify("both.test", "192.0.2.30").verdict, Verdict::match);
  EXPECT_EQ(verifier_->size(), 2u);
  for (int i = 0; i < 20; ++i) verify("random" + std::to_string(i) + ".test", "192.0.2.10");
  EXPECT_EQ(verifier_->size(), 2u);
  EXPECT_EQ(verify("a.test", "192.0.2.10").verdict, Verdict::match);  // evicted: asked again
  EXPECT_EQ(dns_->queries("A", "a.test"), 2);
}

TEST_F(DnsmasqTest, ABadServerIsRejectedNamingItsEntry) {
  try {
    Resolver r(io_.get_executor(), {.servers = {"127.0.0.1:53", "dns.example:53"}});
    FAIL() << "accepted a name as a server";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "servers[1]: \"dns.example:53\" is not an address or address:port");
  }
}

}  // namespace
}  // namespace egress::resolve
