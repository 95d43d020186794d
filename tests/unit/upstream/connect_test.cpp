#include "upstream/connect.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <vector>

#include "base/asio_endpoint.hpp"

namespace egress::upstream {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using base::from_asio;
using base::Reason;
using base::to_asio;

ConnectResult run_connect(const base::Endpoint& dst, ConnectOptions options) {
  asio::io_context io;
  tcp::socket socket(io);
  asio::steady_timer timer(io);
  auto f = asio::co_spawn(io, connect(socket, dst, options, timer), asio::use_future);
  io.run();
  return f.get();
}

/// A loopback port with nothing listening: bind, read the port, close.
std::uint16_t closed_port() {
  asio::io_context io;
  tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
  const auto port = a.local_endpoint().port();
  a.close();
  return port;
}

TEST(Connect, SucceedsToAListeningLoopbackPort) {
  asio::io_context io;
  tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
  const base::Endpoint dst = from_asio(a.local_endpoint());
  const auto r = run_connect(dst, {std::chrono::seconds(5), 0});
  EXPECT_TRUE(r.ok()) << r.detail;
}

/// Connects to `a` with `options` and returns the connected socket.
tcp::socket connected(asio::io_context& io, tcp::acceptor& a, ConnectOptions options) {
  tcp::socket socket(io);
  asio::steady_timer timer(io);
  const base::Endpoint dst = from_asio(a.local_endpoint());  // connect() keeps a reference
  auto f = asio::co_spawn(io, connect(socket, dst, options, timer), asio::use_future);
  io.run();
  const auto r = f.get();
  EXPECT_TRUE(r.ok()) << r.detail;
  return socket;
}

// The upstream socket is created non-blocking and close-on-exec, and asio's own operations on it
// still work (asio does not know it is non-blocking; a blocking-style write must not fail).
TEST(Connect, TheSocketIsNonBlockingAndCloseOnExecAndUsableByAsio) {
  asio::io_context io;
  tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
  tcp::socket socket = connected(io, a, {std::chrono::seconds(5), 0});
  const int fd = socket.native_handle();
  EXPECT_NE(::fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
  EXPECT_NE(::fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
  tcp::socket server = a.accept();
  EXPECT_EQ(asio::write(socket, asio::buffer(std::string("abc"))), 3u);
  std::string got(3, '\0');
  asio::read(server, asio::buffer(got));
  EXPECT_EQ(got, "abc");
}

// A connect acknowledges the server's SYN-ACK at once: the server can accept the connection
// before the client sent anything (a server that speaks first is not kept waiting).
TEST(Connect, ServerCanAcceptBeforeTheClientSendsAByte) {
  asio::io_context io;
  tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
  const timeval wait{0, 100'000};  // well under the 200 ms a held-back ACK waits
  ASSERT_EQ(::setsockopt(a.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait), 0);
  tcp::socket socket = connected(io, a, {});
  boost::system::error_code ec;
  tcp::socket peer = a.accept(ec);
  EXPECT_FALSE(ec) << ec.message();
}

// With the client's bytes waiting, the ACK that completes the handshake travels with them: the
// server has no connection to accept until the first bytes arrive, then it has both at once.
TEST(Connect, ClientBytesWaitingSendsTheHandshakeAckWithTheData) {
  asio::io_context io;
  tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
  a.non_blocking(true);
  ConnectOptions options;
  options.client_bytes_waiting = true;
  tcp::socket socket = connected(io, a, options);
  boost::system::error_code ec;
  tcp::socket early = a.accept(ec);
  EXPECT_EQ(ec, asio::error::would_block) << "the handshake's ACK went out on its own";

  ASSERT_EQ(::send(socket.native_handle(), "GET /", 5, 0), 5);
  a.non_blocking(false);
  const timeval wait{2, 0};  // a bound, not a measurement: the bytes are already on their way
  ASSERT_EQ(::setsockopt(a.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait), 0);
  tcp::socket peer = a.accept(ec);
  ASSERT_FALSE(ec) << ec.message();
  char buf[5];
  EXPECT_EQ(::recv(peer.native_handle(), buf, sizeof buf, MSG_WAITALL | MSG_DONTWAIT), 5);
}

TEST(Connect, RefusedPort) {
  const base::Endpoint dst{*base::IpAddress::parse("127.0.0.1"), closed_port()};
  const auto r = run_connect(dst, {std::chrono::seconds(5), 0});
  EXPECT_EQ(r.error, base::Reason::upstream_refused);
  EXPECT_EQ(r.detail, "Connection refused");
}

TEST(Connect, FullAcceptQueueTimesOut) {
  // A listener with a full accept queue drops further SYNs: the connect never completes, so
  // connect_timeout decides.
  asio::io_context io;
  tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
  a.listen(0);
  // Raw non-blocking connects (asio's synchronous connect would wait for completion).
  sockaddr_storage ss{};
  const unsigned len = from_asio(a.local_endpoint()).to_sockaddr(ss);
  std::vector<int> fill;
  for (int i = 0; i < 4; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ASSERT_GE(fd, 0);
    ::connect(fd, reinterpret_cast<const sockaddr*>(&ss), len);  // EINPROGRESS
    fill.push_back(fd);
  }
  const auto r = run_connect(from_asio(a.local_endpoint()), {std::chrono::milliseconds(200), 0});
  EXPECT_EQ(r.error, base::Reason::upstream_timeout);
  for (int fd : fill) ::close(fd);
}

TEST(Connect, ClassifiesErrors) {
  using boost::system::error_code;
  namespace e = asio::error;
  EXPECT_EQ(classify_connect_error(e::connection_refused), base::Reason::upstream_refused);
  EXPECT_EQ(classify_connect_error(e::timed_out), base::Reason::upstream_timeout);
  EXPECT_EQ(classify_connect_error(e::host_unreachable), base::Reason::upstream_unreachable);
  EXPECT_EQ(classify_connect_error(e::network_unreachable), base::Reason::upstream_unreachable);
  EXPECT_EQ(classify_connect_error(e::access_denied), base::Reason::upstream_error);
  EXPECT_EQ(classify_connect_error(e::connection_reset), base::Reason::upstream_error);
}

TEST(Endpoints, RoundTripAndNormaliseV4Mapped) {
  const auto v6 = *base::Endpoint::parse("[2001:db8::1]:443");
  EXPECT_EQ(from_asio(to_asio(v6)), v6);
  const auto v4 = *base::Endpoint::parse("192.0.2.1:80");
  EXPECT_EQ(from_asio(to_asio(v4)), v4);
  EXPECT_EQ(from_asio({asio::ip::make_address("::ffff:192.0.2.1"), 80}), v4);
}

}  // namespace
}  // namespace egress::upstream
