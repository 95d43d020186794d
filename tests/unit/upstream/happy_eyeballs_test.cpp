#include "upstream/happy_eyeballs.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <memory>
#include <vector>

#include "base/asio_endpoint.hpp"

// Dialling a name's allowed addresses in order (RFC 8305 style) on loopback: a refusing port, a
// listener whose full accept queue drops SYNs (a destination that never answers), a listening
// port.

namespace egress::upstream {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using base::from_asio;
using base::Reason;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

/// A loopback port with nothing listening: bind, read the port, close.
base::Endpoint refusing() {
  asio::io_context io;
  tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
  const auto ep = from_asio(a.local_endpoint());
  a.close();
  return ep;
}

/// A listener whose accept queue is full: it drops further SYNs, so a connect to it never
/// completes (as to an address that does not answer).
class Blackhole {
 public:
  Blackhole() : a_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
    a_.listen(0);
    sockaddr_storage ss{};
    const unsigned len = endpoint().to_sockaddr(ss);
    for (int i = 0; i < 4; ++i) {
      const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      ::connect(fd, reinterpret_cast<const sockaddr*>(&ss), len);  // EINPROGRESS
      fill_.push_back(fd);
    }
  }
  ~Blackhole() {
    for (int fd : fill_) ::close(fd);
  }
  base::Endpoint endpoint() const { return from_asio(a_.local_endpoint()); }

 private:
  asio::io_context io_;
  tcp::acceptor a_;
  std::vector<int> fill_;
};

struct Dialled {
  DialResult r;
  Clock::duration took;
  bool socket_open = false;
  std::optional<base::Endpoint> socket_peer;
};

Dialled dial(const std::vector<base::Endpoint>& dsts, std::chrono::milliseconds timeout,
             std::chrono::milliseconds delay = kAttemptDelay) {
  asio::io_context io;
  tcp::socket socket(io);
  const ConnectOptions options{timeout, 0};
  const auto start = Clock::now();
  auto f = asio::co_spawn(io, dial_in_order(socket, dsts, options, delay), asio::use_future);
  io.run();  // also runs the cancelled attempts to their end
  Dialled out;
  out.r = f.get();
  out.took = Clock::now() - start;
  out.socket_open = socket.is_open();
  boost::system::error_code ec;
  const auto peer = socket.remote_endpoint(ec);
  if (!ec) out.socket_peer = from_asio(peer);
  return out;
}

TEST(HappyEyeballs, ARefusedAddressGivesWayToTheNextAtOnce) {
  asio::io_context io;
  tcp::acceptor listening(io, {asio::ip::make_address("127.0.0.1"), 0});
  const auto up = from_asio(listening.local_endpoint());
  // A long attempt delay: only the refusal can start the second attempt this soon.
  const auto d = dial({refusing(), up}, 5s, 3s);
  ASSERT_TRUE(d.r.result.ok()) << d.r.result.detail;
  ASSERT_TRUE(d.r.connected);
  EXPECT_EQ(d.r.connected->to_string(), up.to_string());
  EXPECT_EQ(d.socket_peer ? d.socket_peer->to_string() : "", up.to_string());
  EXPECT_LT(d.took, 2s);
}

TEST(HappyEyeballs, AnAddressThatDoesNotAnswerGetsACompanionAfterTheDelay) {
  Blackhole silent;
  asio::io_context io;
  tcp::acceptor listening(io, {asio::ip::make_address("127.0.0.1"), 0});
  const auto up = from_asio(listening.local_endpoint());
  const auto d = dial({silent.endpoint(), up}, 5s, 300ms);
  ASSERT_TRUE(d.r.result.ok()) << d.r.result.detail;
  EXPECT_EQ(d.r.connected->to_string(), up.to_string());
  EXPECT_EQ(d.socket_peer ? d.socket_peer->to_string() : "", up.to_string());
  EXPECT_GE(d.took, 250ms) << "the second attempt waits for the delay";
  EXPECT_LT(d.took, 3s);
}

TEST(HappyEyeballs, TheFirstAddressWinsWhenItAnswers) {
  asio::io_context io;
  tcp::acceptor first(io, {asio::ip::make_address("127.0.0.1"), 0});
  tcp::acceptor second(io, {asio::ip::make_address("127.0.0.1"), 0});
  const auto d = dial({from_asio(first.local_endpoint()), from_asio(second.local_endpoint())}, 5s);
  ASSERT_TRUE(d.r.result.ok()) << d.r.result.detail;
  EXPECT_EQ(d.r.connected->to_string(), from_asio(first.local_endpoint()).to_string());
  // The second was never tried: nothing waits in its accept queue.
  second.non_blocking(true);
  boost::system::error_code ec;
  tcp::socket s(io);
  second.accept(s, ec);
  EXPECT_EQ(ec, asio::error::would_block);
}

TEST(HappyEyeballs, EveryAddressRefusedIsRefusedNamingEach) {
  const auto a = refusing();
  const auto b = refusing();
  const auto d = dial({a, b}, 5s);
  EXPECT_EQ(d.r.result.error, Reason::upstream_refused);
  EXPECT_EQ(d.r.result.detail,
            a.to_string() + ": Connection refused; " + b.to_string() + ": Connection refused");
  EXPECT_FALSE(d.r.connected);
  EXPECT_FALSE(d.socket_open);
  EXPECT_LT(d.took, 2s) << "a refusal starts the next attempt at once";
}

TEST(HappyEyeballs, NoAnswerWithinTheTimeoutIsATimeoutAndTheAttemptsAreClosed) {
  Blackhole one, two;
  const auto d = dial({one.endpoint(), refusing(), two.endpoint()}, 400ms, 100ms);
  EXPECT_EQ(d.r.result.error, Reason::upstream_timeout);
  EXPECT_NE(
      d.r.result.detail.find(one.endpoint().to_string() + ": no answer within connect_timeout"),
      std::string::npos)
      << d.r.result.detail;
  EXPECT_NE(d.r.result.detail.find("Connection refused"), std::string::npos) << d.r.result.detail;
  EXPECT_GE(d.took, 350ms);
  EXPECT_LT(d.took, 3s);
  EXPECT_FALSE(d.socket_open);
}

TEST(HappyEyeballs, OneAddressIsOneConnectWithItsOwnDetail) {
  const auto d = dial({refusing()}, 5s);
  EXPECT_EQ(d.r.result.error, Reason::upstream_refused);
  EXPECT_EQ(d.r.result.detail, "Connection refused");
  Blackhole silent;
  const auto t = dial({silent.endpoint()}, 200ms);
  EXPECT_EQ(t.r.result.error, Reason::upstream_timeout);
}

TEST(HappyEyeballs, NoAddressIsAnError) {
  const auto d = dial({}, 1s);
  EXPECT_EQ(d.r.result.error, Reason::upstream_error);
}

TEST(HappyEyeballs, TheMarkIsSetOnTheWinner) {
  if (::geteuid() != 0) GTEST_SKIP() << "SO_MARK needs CAP_NET_ADMIN";
  asio::io_context io;
  tcp::acceptor listening(io, {asio::ip::make_address("127.0.0.1"), 0});
  tcp::socket socket(io);
  const std::vector<base::Endpoint> dsts{refusing(), from_asio(listening.local_endpoint())};
  const ConnectOptions options{5s, 0x2a};
  auto f = asio::co_spawn(io, dial_in_order(socket, dsts, options), asio::use_future);
  io.run();
  ASSERT_TRUE(f.get().result.ok());
  int mark = 0;
  socklen_t len = sizeof mark;
  ASSERT_EQ(::getsockopt(socket.native_handle(), SOL_SOCKET, SO_MARK, &mark, &len), 0);
  EXPECT_EQ(mark, 0x2a);
}

}  // namespace
}  // namespace egress::upstream
