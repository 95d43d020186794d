#include "core/relay.hpp"

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <functional>
#include <future>
#include <memory>
#include <string>

#include "net/tcp_queue_hint.hpp"
#include "tcp_segments.hpp"

namespace egress::core {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using asio::use_awaitable;

/// client ⇄ [gateway_down | relay | gateway_up] ⇄ server, all on loopback.
struct Pairs {
  asio::io_context io;
  tcp::socket client{io}, gateway_down{io}, gateway_up{io}, server{io};
  asio::steady_timer timer{io};
  BufferPool pool;

  /// The gateway's sockets report what is behind each read (TCP_INQ), as in egressd: the
  /// accepted one inherits it from the listening socket, the upstream one sets it.
  /// `before_connect` may set options on the client's socket that must precede its connect.
  explicit Pairs(const std::function<void(tcp::socket&)>& before_connect = {}) {
    tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
    EXPECT_TRUE(net::enable_queue_hint(a.native_handle()));
    client.open(tcp::v4());
    if (before_connect) before_connect(client);
    client.connect(a.local_endpoint());
    gateway_down = a.accept();
    tcp::acceptor b(io, {asio::ip::make_address("127.0.0.1"), 0});
    gateway_up.open(tcp::v4());
    EXPECT_TRUE(net::enable_queue_hint(gateway_up.native_handle()));
    gateway_up.connect(b.local_endpoint());
    server = b.accept();
  }

  /// Like the gateway: once the relay reports, both of its sockets are closed.
  std::future<RelayResult> start(RelayOptions options) {
    auto done = std::make_shared<std::promise<RelayResult>>();
    async_relay(gateway_down, gateway_up, timer, pool, options, [this, done](RelayResult r) {
      gateway_down.close();
      gateway_up.close();
      done->set_value(std::move(r));
    });
    return done->get_future();
  }
};

asio::awaitable<std::string> read_to_eof(tcp::socket& s) {
  std::string out;
  auto [ec, n] =
      co_await asio::async_read(s, asio::dynamic_buffer(out), asio::as_tuple(use_awaitable));
  EXPECT_EQ(ec, asio::error::eof);
  co_return out;
}

asio::awaitable<void> yield_a_few(asio::io_context& io) {
  for (int i = 0; i < 10; ++i) co_await asio::post(io, use_awaitable);
}

TEST(Relay, HalfCloseEachWayAndByteCounts) {
  Pairs p;
  auto result = p.start({std::chrono::hours(1), std::chrono::milliseconds(0)});
  std::string server_got, client_got;
  auto script = asio::co_spawn(
      p.io,
      [&]() -> asio::awaitable<void> {
        co_await asio::async_write(p.client, asio::buffer(std::string("hello")), use_awaitable);
        p.client.shutdown(tcp::socket::shutdown_send);
        // The server sees the client's EOF while its own direction is still open...
        server_got = co_await read_to_eof(p.server);
        // ...and can still answer: the client, which closed its write side, receives it.
        co_await asio::async_write(p.server, asio::buffer(std::string("world!")), use_awaitable);
        p.server.shutdown(tcp::socket::shutdown_send);
        client_got = co_await read_to_eof(p.client);
      },
      asio::use_future);
  p.io.run();
  script.get();
  EXPECT_EQ(server_got, "hello");
  EXPECT_EQ(client_got, "world!");
  const RelayResult r = result.get();
  EXPECT_EQ(r.bytes_up, 5u);
  EXPECT_EQ(r.bytes_down, 6u);
  EXPECT_EQ(r.reason, base::Reason::eof);
  EXPECT_EQ(r.closed_by, base::Side::client);
}

/// The upstream sends `last` and its FIN at once (no co_await between them, so the relay runs
/// only after both arrived); the client gets both and then ends its side too.
asio::awaitable<void> upstream_ends_first(Pairs& p, std::string last) {
  asio::write(p.server, asio::buffer(last));
  p.server.shutdown(tcp::socket::shutdown_send);
  EXPECT_EQ(co_await read_to_eof(p.client), last);
  p.client.shutdown(tcp::socket::shutdown_send);
  EXPECT_EQ(co_await read_to_eof(p.server), "");
}

TEST(Relay, UpstreamFinishingFirstIsBlamedOnUpstream) {
  Pairs p;
  auto result = p.start({std::chrono::hours(1), std::chrono::milliseconds(0)});
  auto script = asio::co_spawn(p.io, upstream_ends_first(p, "bye"), asio::use_future);
  p.io.run();
  script.get();
  const RelayResult r = result.get();
  EXPECT_EQ(r.reason, base::Reason::eof);
  EXPECT_EQ(r.closed_by, base::Side::upstream);
  EXPECT_EQ(r.bytes_down, 3u);
  EXPECT_EQ(r.bytes_up, 0u);
}

// An upstream that answers and closes at once (an HTTP response with Connection: close): the
// relay finds the EOF behind the data and the FIN reaches the client in the data's segment, not
// in a segment (and a client ACK) of its own.
TEST(Relay, AnAnswerAndItsFinReachTheClientInOneSegment) {
  Pairs p;
  asio::write(p.server, asio::buffer(std::string("HTTP/1.1 200 OK\r\n\r\n")));
  p.server.shutdown(tcp::socket::shutdown_send);
  auto result = p.start({std::chrono::hours(1), std::chrono::milliseconds(0)});
  std::uint32_t segments = 0;
  auto script = asio::co_spawn(
      p.io,
      [&]() -> asio::awaitable<void> {
        EXPECT_EQ(co_await read_to_eof(p.client), "HTTP/1.1 200 OK\r\n\r\n");
        segments = test::tcp_segments_in(p.client.native_handle());
        p.client.shutdown(tcp::socket::shutdown_send);
        EXPECT_EQ(co_await read_to_eof(p.server), "");
      },
      asio::use_future);
  p.io.run();
  script.get();
  EXPECT_EQ(segments, 2u) << "SYN-ACK, then the answer with its FIN";
  const RelayResult r = result.get();
  EXPECT_EQ(r.reason, base::Reason::eof);
  EXPECT_EQ(r.closed_by, base::Side::upstream);
  EXPECT_EQ(r.bytes_down, 19u);
}

// The relay's short-read shortcut needs TCP_INQ on the accepted socket too; egressd sets it
// once, on the listening socket (core/listener.cpp), and relies on the kernel to copy it.
TEST(Relay, AnAcceptedSocketInheritsTheQueueHintOfItsListener) {
  Pairs p;
  int on = 0;
  socklen_t len = sizeof on;
  ASSERT_EQ(::getsockopt(p.gateway_down.native_handle(), IPPROTO_TCP, TCP_INQ, &on, &len), 0);
  EXPECT_EQ(on, 1);
}

/// One request and its answer through the relay, so that it then waits on an upstream it last
/// found empty, as it does between the requests of a keep-alive connection.
asio::awaitable<void> ping_pong(Pairs& p) {
  co_await asio::async_write(p.client, asio::buffer(std::string("ping")), use_awaitable);
  std::string got(4, '\0');
  co_await asio::async_read(p.server, asio::buffer(got), use_awaitable);
  EXPECT_EQ(got, "ping");
  co_await asio::async_write(p.server, asio::buffer(std::string("pong")), use_awaitable);
  co_await asio::async_read(p.client, asio::buffer(got), use_awaitable);
  EXPECT_EQ(got, "pong");
}

// Bytes and the FIN right behind them reach the relay in one wake-up, in the middle of a
// connection. The read that returns the bytes does not return the FIN; the relay must still see
// it (TCP_INQ), not wait for a wake-up that will not come (the relay would sit until its idle
// timeout).
TEST(Relay, AFinRightBehindDataLaterInTheConnectionEndsItAtOnce) {
  Pairs p;
  auto result = p.start({std::chrono::seconds(5), std::chrono::milliseconds(0)});
  auto script = asio::co_spawn(
      p.io,
      [&]() -> asio::awaitable<void> {
        co_await ping_pong(p);
        co_await upstream_ends_first(p, "bye");
      },
      asio::use_future);
  p.io.run();
  script.get();
  const RelayResult r = result.get();
  EXPECT_EQ(r.reason, base::Reason::eof);
  EXPECT_EQ(r.closed_by, base::Side::upstream);
  EXPECT_EQ(r.bytes_down, 7u);
  EXPECT_EQ(r.bytes_up, 4u);
}

// The same with a reset (an upstream that aborts, SO_LINGER 0): TCP_INQ does not count a
// reset; epoll's report of the bytes carries it (EPOLLERR/EPOLLHUP). The bytes before it still
// reach the client, and the relay ends at once with the upstream's reset.
TEST(Relay, AResetRightBehindDataLaterInTheConnectionEndsItAtOnce) {
  Pairs p;
  auto result = p.start({std::chrono::seconds(5), std::chrono::milliseconds(0)});
  std::string client_got;
  auto script = asio::co_spawn(
      p.io,
      [&]() -> asio::awaitable<void> {
        co_await ping_pong(p);
        // No Nagle: "last" must leave before the reset, which discards what is still queued.
        p.server.set_option(tcp::no_delay(true));
        asio::write(p.server, asio::buffer(std::string("last")));
        p.server.set_option(asio::socket_base::linger(true, 0));
        p.server.close();  // RST, in the same report by epoll as "last"
        auto [ec, n] = co_await asio::async_read(p.client, asio::dynamic_buffer(client_got),
                                                 asio::as_tuple(use_awaitable));
        EXPECT_TRUE(ec) << "the client's connection ends";
      },
      asio::use_future);
  p.io.run();
  script.get();
  EXPECT_EQ(client_got, "last");
  const RelayResult r = result.get();
  EXPECT_EQ(r.reason, base::Reason::reset);
  EXPECT_EQ(r.closed_by, base::Side::upstream);
  EXPECT_EQ(r.bytes_down, 8u);
}

TEST(Relay, LargeTransferBothWaysArrivesIntactAndIdleHoldsNoBuffer) {
  Pairs p;
  auto result = p.start({std::chrono::hours(1), std::chrono::milliseconds(0)});
  std::string up(3 * 1024 * 1024 + 17, '\0');
  std::string down(2 * 1024 * 1024 + 5, '\0');
  for (std::size_t i = 0; i < up.size(); ++i) up[i] = static_cast<char>(i * 7 + 1);
  for (std::size_t i = 0; i < down.size(); ++i) down[i] = static_cast<char>(i * 13 + 3);
  std::string at_server, at_client;
  std::size_t cached_when_idle = 0, allocated_when_idle = 0;
  auto writer = [&](tcp::socket& s, const std::string& data) -> asio::awaitable<void> {
    co_await asio::async_write(s, asio::buffer(data), use_awaitable);
  };
  auto script = asio::co_spawn(
      p.io,
      [&]() -> asio::awaitable<void> {
        asio::co_spawn(p.io, writer(p.client, up), asio::detached);
        asio::co_spawn(p.io, writer(p.server, down), asio::detached);
        at_server.resize(up.size());
        at_client.resize(down.size());
        co_await asio::async_read(p.server, asio::buffer(at_server), use_awaitable);
        co_await asio::async_read(p.client, asio::buffer(at_client), use_awaitable);
        // Everything delivered, both directions idle: every relay buffer is back in the pool.
        co_await yield_a_few(p.io);
        cached_when_idle = p.pool.cached();
        allocated_when_idle = p.pool.allocated();
        p.client.shutdown(tcp::socket::shutdown_send);
        p.server.shutdown(tcp::socket::shutdown_send);
      },
      asio::use_future);
  p.io.run();
  script.get();
  EXPECT_TRUE(at_server == up);
  EXPECT_TRUE(at_client == down);
  EXPECT_GE(allocated_when_idle, 1u);
  EXPECT_EQ(cached_when_idle, allocated_when_idle);
  const RelayResult r = result.get();
  EXPECT_EQ(r.bytes_up, up.size());
  EXPECT_EQ(r.bytes_down, down.size());
  EXPECT_EQ(r.reason, base::Reason::eof);
}

TEST(Relay, UpstreamResetIsReportedAndStopsBothDirections) {
  Pairs p;
  auto result = p.start({std::chrono::hours(1), std::chrono::milliseconds(0)});
  auto script = asio::co_spawn(
      p.io,
      [&]() -> asio::awaitable<void> {
        co_await asio::async_write(p.client, asio::buffer(std::string("x")), use_awaitable);
        char c;
        co_await asio::async_read(p.server, asio::buffer(&c, 1), use_awaitable);
        p.server.set_option(asio::socket_base::linger(true, 0));
        p.server.close();  // RST
      },
      asio::use_future);
  p.io.run();
  script.get();
  const RelayResult r = result.get();
  EXPECT_EQ(r.reason, base::Reason::reset);
  EXPECT_EQ(r.closed_by, base::Side::upstream);
  EXPECT_EQ(r.bytes_up, 1u);
  EXPECT_FALSE(r.detail.empty());
}

TEST(Relay, IdleTimeoutClosesAQuietConnection) {
  Pairs p;
  auto result = p.start({std::chrono::milliseconds(50), std::chrono::milliseconds(0)});
  p.io.run();
  const RelayResult r = result.get();
  EXPECT_EQ(r.reason, base::Reason::idle_timeout);
  EXPECT_EQ(r.closed_by, base::Side::gateway);
}

/// A small receive buffer and MSS: loopback's 64 KiB MSS and segments would otherwise open the
/// client's window only in 64 KiB steps; this way it acknowledges a few KiB at every read.
void small_window_client(tcp::socket& client) {
  client.set_option(asio::socket_base::receive_buffer_size(16 * 1024));
  const int mss = 1400;
  ASSERT_EQ(::setsockopt(client.native_handle(), IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof mss), 0);
}

/// Waits for the relay's result, then closes the client and the server, which ends what the
/// test still has pending on them.
asio::awaitable<void> close_once_done(Pairs& p, std::future<RelayResult>& result) {
  asio::steady_timer t(p.io);
  while (result.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    t.expires_after(std::chrono::milliseconds(5));
    co_await t.async_wait(use_awaitable);
  }
  p.client.close();
  p.server.close();
}

// A client that reads slowly but steadily: the relay's bytes wait in the kernel for longer than
// the idle timeout between two reads from the upstream. The peer acknowledging bytes is activity,
// so the download completes.
TEST(Relay, ASlowButSteadyReaderIsNotIdle) {
  Pairs p(small_window_client);
  p.gateway_down.set_option(asio::socket_base::send_buffer_size(64 * 1024));
  // A 64 KiB relay buffer takes at least 160 ms to reach a client reading 4 KiB every 10 ms:
  // longer than the idle timeout, with fourteen reads within it (a margin for a loaded machine).
  auto result = p.start({std::chrono::milliseconds(140), std::chrono::milliseconds(0)});
  const std::string down(512 * 1024, 'd');
  std::string at_client;
  auto script = asio::co_spawn(
      p.io,
      [&]() -> asio::awaitable<void> {
        asio::co_spawn(
            p.io,
            [&]() -> asio::awaitable<void> {
              co_await asio::async_write(p.server, asio::buffer(down), use_awaitable);
              p.server.shutdown(tcp::socket::shutdown_send);
            },
            asio::detached);
        asio::steady_timer t(p.io);
        char buf[4096];
        for (;;) {
          auto [ec, n] =
              co_await p.client.async_read_some(asio::buffer(buf), asio::as_tuple(use_awaitable));
          if (ec) break;
          at_client.append(buf, n);
          t.expires_after(std::chrono::milliseconds(10));
          co_await t.async_wait(use_awaitable);
        }
        p.client.shutdown(tcp::socket::shutdown_send);
      },
      asio::use_future);
  p.io.run();
  script.get();
  EXPECT_EQ(at_client.size(), down.size());
  const RelayResult r = result.get();
  EXPECT_EQ(r.reason, base::Reason::eof);
  EXPECT_EQ(r.bytes_down, down.size());
}

// The same client stops reading with bytes waiting: nothing moves, and the relay ends as idle
// (at the second deadline at the latest, see RelayOp::peers_took_bytes), not at max_duration.
TEST(Relay, AReaderThatStoppedWithBytesWaitingIsIdle) {
  Pairs p(small_window_client);
  p.gateway_down.set_option(asio::socket_base::send_buffer_size(64 * 1024));
  auto result = p.start({std::chrono::milliseconds(100), std::chrono::seconds(5)});
  const std::string down(512 * 1024, 'd');
  asio::co_spawn(
      p.io,
      [&]() -> asio::awaitable<void> {
        co_await asio::async_write(p.server, asio::buffer(down), asio::as_tuple(use_awaitable));
      },
      asio::detached);
  auto watcher = asio::co_spawn(p.io, close_once_done(p, result), asio::use_future);
  p.io.run();
  watcher.get();
  const RelayResult r = result.get();
  EXPECT_EQ(r.reason, base::Reason::idle_timeout);
  EXPECT_EQ(r.closed_by, base::Side::gateway);
  EXPECT_GT(r.bytes_down, 0u);
  EXPECT_LT(r.bytes_down, down.size());
}

TEST(Relay, MaxDurationEndsEvenABusyConnection) {
  Pairs p;
  auto result = p.start({std::chrono::hours(1), std::chrono::milliseconds(100)});
  bool stop = false;
  // The client keeps talking; the relay must still end at max_duration.
  auto chatter = asio::co_spawn(
      p.io,
      [&]() -> asio::awaitable<void> {
        asio::steady_timer t(p.io);
        char buf[64];
        while (!stop) {
          auto [ec, n] = co_await asio::async_write(p.client, asio::buffer("tick", 4),
                                                    asio::as_tuple(use_awaitable));
          if (ec) break;
          auto [rec, rn] =
              co_await p.server.async_read_some(asio::buffer(buf), asio::as_tuple(use_awaitable));
          if (rec) break;
          t.expires_after(std::chrono::milliseconds(10));
          co_await t.async_wait(use_awaitable);
        }
      },
      asio::use_future);
  auto watcher = asio::co_spawn(
      p.io,
      [&]() -> asio::awaitable<void> {
        co_await close_once_done(p, result);
        stop = true;
      },
      asio::use_future);
  p.io.run();
  const RelayResult r = result.get();
  EXPECT_EQ(r.reason, base::Reason::max_duration);
  EXPECT_EQ(r.closed_by, base::Side::gateway);
  EXPECT_GT(r.bytes_up, 0u);
}

}  // namespace
}  // namespace egress::core
