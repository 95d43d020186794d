// core::Connection as the FilterContext of a real loopback connection: the TLS handshake the
// tls_identity step asks for, and peeks at the client's first bytes (plain TCP and TLS).
#include "core/connection.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "filters/tls_identity.hpp"
#include "test_certs.hpp"
#include "tls/context.hpp"
#include "tls/context_store.hpp"

namespace egress::core {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

struct ConnectionTest : ::testing::Test {
  asio::io_context io;
  tcp::acceptor acceptor{io, {asio::ip::address_v4::loopback(), 0}};
  tcp::socket client{io};
  filters::ListenerInfo listener{0, {}};
  std::unique_ptr<Connection> conn;

  /// Connects the client, writes `client_sends`, accepts the gateway's side.
  void connect(const std::string& client_sends = "") {
    client.connect(acceptor.local_endpoint());
    if (!client_sends.empty()) asio::write(client, asio::buffer(client_sends));
    conn = std::make_unique<Connection>(acceptor.accept(), 1, listener);
    conn->facts.src = *base::Endpoint::parse("127.0.0.1:1");
  }

  template <class T>
  T run(asio::awaitable<T> a) {
    auto f = asio::co_spawn(io, std::move(a), asio::use_future);
    io.restart();
    io.run();
    return f.get();
  }

  std::optional<base::Outcome> handshake(std::chrono::milliseconds timeout) {
    auto options = tls::test::gateway_options(tls::Mode::required);
    options.handshake_timeout = timeout;
    tls::ContextError error;
    auto store = tls::ContextStore::create(options, error);
    EXPECT_TRUE(store) << error.to_string();
    if (!store) return std::nullopt;
    filters::TlsIdentityFilter filter(*store);
    return run(filter.on_connection(conn->facts, *conn));
  }
};

TEST_F(ConnectionTest, AClientThatSendsNothingIsDeniedAtTheHandshakeTimeout) {
  connect();
  const auto out = handshake(200ms);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->reason, base::Reason::handshake_timeout);
  EXPECT_EQ(out->detail, "no TLS handshake within 200 ms");
  EXPECT_EQ(out->ending, base::Ending::close);
  EXPECT_EQ(conn->facts.tls_handshake, base::Reason::handshake_timeout);
}

TEST_F(ConnectionTest, APlainTcpClientIsATlsHandshakeFailure) {
  connect("GET / HTTP/1.0\r\n\r\n");
  const auto out = handshake(2000ms);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->reason, base::Reason::tls_handshake_failed);
  EXPECT_FALSE(out->detail.empty());
  EXPECT_FALSE(conn->facts.identity);
  EXPECT_EQ(conn->facts.tls_handshake, base::Reason::tls_handshake_failed);
}

TEST_F(ConnectionTest, PeekSeesMoreAsItArrivesAndConsumesNothing) {
  connect("GET");
  auto first = run(conn->peek(64, 2000ms));
  EXPECT_EQ(first.bytes, "GET");
  EXPECT_FALSE(first.complete);
  EXPECT_FALSE(first.timed_out);

  // Asked again, it waits for bytes it has not shown yet.
  std::thread later([&] {
    std::this_thread::sleep_for(50ms);
    asio::write(client, asio::buffer(std::string(" /x")));
  });
  const auto start = std::chrono::steady_clock::now();
  auto second = run(conn->peek(64, 2000ms));
  later.join();
  EXPECT_EQ(second.bytes, "GET /x");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1500ms) << "woken by the bytes";

  auto third = run(conn->peek(64, 100ms));
  EXPECT_EQ(third.bytes, "GET /x");
  EXPECT_TRUE(third.timed_out);
  EXPECT_FALSE(third.complete);

  // Not consumed: the relay reads them all.
  std::string all(6, '\0');
  asio::read(conn->socket(), asio::buffer(all));
  EXPECT_EQ(all, "GET /x");
}

TEST_F(ConnectionTest, PeekStopsAtMaxAndAtTheClientsEnd) {
  connect("0123456789");
  EXPECT_EQ(run(conn->peek(4, 2000ms)).bytes, "0123");
  client.shutdown(tcp::socket::shutdown_send);
  const auto start = std::chrono::steady_clock::now();
  auto all = run(conn->peek(64, 2000ms));
  EXPECT_EQ(all.bytes, "0123456789");
  auto again = run(conn->peek(64, 2000ms));
  EXPECT_EQ(again.bytes, "0123456789");
  EXPECT_TRUE(again.complete) << "the client ended: no more will come";
  EXPECT_FALSE(again.timed_out);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1500ms);
}

TEST_F(ConnectionTest, PeekOnAnEmptyStreamThatEndsIsComplete) {
  connect();
  client.shutdown(tcp::socket::shutdown_send);
  auto p = run(conn->peek(64, 2000ms));
  EXPECT_EQ(p.bytes, "");
  EXPECT_TRUE(p.complete);
}

// A PROXY header is consumed before the next step reads: discard() drops exactly the bytes a
// peek showed, and the next peek returns the rest at once (it does not wait for more than the
// earlier peek saw), as the TLS handshake or the name step then needs.
TEST_F(ConnectionTest, DiscardDropsThePeekedHeaderAndTheNextPeekStartsAfresh) {
  connect("PROXY UNKNOWN\r\nhello");
  EXPECT_EQ(run(conn->peek(64, 2000ms)).bytes, "PROXY UNKNOWN\r\nhello");
  EXPECT_TRUE(conn->discard(15));
  const auto start = std::chrono::steady_clock::now();
  auto rest = run(conn->peek(64, 2000ms));
  EXPECT_EQ(rest.bytes, "hello");
  EXPECT_FALSE(rest.timed_out);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1000ms) << "no wait for more bytes";
  // n = 0 consumes nothing and forgets the peek too.
  EXPECT_TRUE(conn->discard(0));
  EXPECT_EQ(run(conn->peek(64, 2000ms)).bytes, "hello");
  std::string all(5, '\0');
  asio::read(conn->socket(), asio::buffer(all));
  EXPECT_EQ(all, "hello") << "the relay reads the client's bytes, not the header";
}

TEST_F(ConnectionTest, DiscardNeverWaitsForBytesThatAreNotThere) {
  connect("abc");
  EXPECT_EQ(run(conn->peek(64, 2000ms)).bytes, "abc");
  EXPECT_FALSE(conn->discard(10)) << "only 3 bytes are queued";
}

/// A blocking TLS client on its own thread: handshake with the dev "payments" certificate, send
/// `first`, then wait for `done` before closing.
std::thread tls_client(int fd, std::string first, std::shared_future<void> done) {
  return std::thread([fd, first = std::move(first), done] {
    tls::SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
    SSL_CTX_use_certificate_chain_file(ctx.get(),
                                       tls::test::cert_file("payments.pem").string().c_str());
    SSL_CTX_use_PrivateKey_file(ctx.get(), tls::test::cert_file("payments.key").string().c_str(),
                                SSL_FILETYPE_PEM);
    SSL* ssl = SSL_new(ctx.get());
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) == 1) {
      SSL_write(ssl, first.data(), static_cast<int>(first.size()));
      done.wait();
    }
    SSL_free(ssl);
  });
}

TEST_F(ConnectionTest, PeekOverTlsSeesTheDecryptedBytes) {
  client.connect(acceptor.local_endpoint());
  conn = std::make_unique<Connection>(acceptor.accept(), 1, listener);
  conn->facts.src = *base::Endpoint::parse("127.0.0.1:1");
  std::promise<void> done;
  std::thread peer =
      tls_client(client.native_handle(), "GET /tls HTTP/1.1\r\n", done.get_future().share());
  const auto out = handshake(5000ms);
  EXPECT_FALSE(out) << (out ? out->detail : "");
  ASSERT_TRUE(conn->tls);
  auto p = run(conn->peek(64, 2000ms));
  EXPECT_EQ(p.bytes, "GET /tls HTTP/1.1\r\n");
  EXPECT_FALSE(p.timed_out);
  // SSL_peek does not look past the record: asked again, that is all it can see.
  auto again = run(conn->peek(64, 2000ms));
  EXPECT_EQ(again.bytes, "GET /tls HTTP/1.1\r\n");
  EXPECT_TRUE(again.complete);
  // Not consumed: a read through the TLS session returns them.
  std::byte buf[64];
  const auto r = conn->tls->read_some(buf, sizeof buf);
  EXPECT_EQ(r.bytes, 19u);
  done.set_value();
  peer.join();
}

// A CONNECT head inside the client's mTLS session: discard() takes exactly the peeked head out of
// the decrypted stream; the tunnel's first bytes stay for the next peek and the relay.
TEST_F(ConnectionTest, DiscardOverTlsDropsTheDecryptedHeadOnly) {
  client.connect(acceptor.local_endpoint());
  conn = std::make_unique<Connection>(acceptor.accept(), 1, listener);
  conn->facts.src = *base::Endpoint::parse("127.0.0.1:1");
  std::promise<void> done;
  const std::string head = "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n";
  std::thread peer =
      tls_client(client.native_handle(), head + "\x16\x03\x01hello", done.get_future().share());
  const auto out = handshake(5000ms);
  EXPECT_FALSE(out) << (out ? out->detail : "");
  ASSERT_TRUE(conn->tls);
  EXPECT_EQ(run(conn->peek(256, 2000ms)).bytes, head + "\x16\x03\x01hello");
  EXPECT_TRUE(conn->discard(head.size()));
  const auto start = std::chrono::steady_clock::now();
  auto rest = run(conn->peek(256, 2000ms));
  EXPECT_EQ(rest.bytes, "\x16\x03\x01hello");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1000ms) << "no wait for more bytes";
  EXPECT_FALSE(conn->discard(100)) << "only 8 bytes are there";
  done.set_value();
  peer.join();
}

// A CONNECT listener's refusal: the answer, then a FIN. The client pipelined bytes the gateway
// never read; closing over them would send an RST (which can discard the answer), so the last
// write reads them away until the client ends its stream.
TEST_F(ConnectionTest, TheLastAnswerEndsWithAFinEvenOverUnreadBytes) {
  connect("CONNECT a.example:443 HTTP/1.1\r\n\r\n" + std::string(3000, 'x'));
  std::this_thread::sleep_for(20ms);  // the pipelined bytes are queued at the gateway
  const std::string answer = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
  std::thread peer([&] {
    std::this_thread::sleep_for(100ms);
    client.shutdown(tcp::socket::shutdown_send);  // as curl does once it has read the answer
  });
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(run(conn->write_client(answer, true, 2000ms)));
  peer.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 900ms) << "the client's end ends the wait";
  conn->end(base::Ending::close);
  std::string got;
  boost::system::error_code ec;
  asio::read(client, asio::dynamic_buffer(got), ec);
  EXPECT_EQ(got, answer);
  EXPECT_EQ(ec, asio::error::eof) << ec.message() << ": a FIN, not an RST";
}

TEST_F(ConnectionTest, TheLastAnswerToAClientThatStaysIsAFinAfterASecond) {
  connect("CONNECT a.example:443 HTTP/1.1\r\n\r\n" + std::string(3000, 'x'));
  std::this_thread::sleep_for(20ms);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(run(conn->write_client("HTTP/1.1 403 Forbidden\r\n\r\n", true, 5000ms)));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 900ms);
  EXPECT_LT(took, 3000ms) << "the lingering read is bounded";
  conn->end(base::Ending::close);
  std::this_thread::sleep_for(50ms);
  // The gateway's FIN only: the client is in CLOSE_WAIT. An RST (a close over the unread bytes)
  // would have moved it to CLOSE.
  ::tcp_info info{};
  socklen_t len = sizeof info;
  ASSERT_EQ(::getsockopt(client.native_handle(), IPPROTO_TCP, TCP_INFO, &info, &len), 0);
  EXPECT_EQ(info.tcpi_state, TCP_CLOSE_WAIT);
}

TEST_F(ConnectionTest, AnAnswerThatIsNotTheLastLeavesTheStreamOpen) {
  connect();
  EXPECT_TRUE(
      run(conn->write_client("HTTP/1.1 200 Connection established\r\n\r\n", false, 2000ms)));
  std::string got(39, '\0');
  asio::read(client, asio::buffer(got));
  EXPECT_EQ(got, "HTTP/1.1 200 Connection established\r\n\r\n");
  asio::write(client, asio::buffer(std::string("tunnel")));
  std::string relayed(6, '\0');
  asio::read(conn->socket(), asio::buffer(relayed));
  EXPECT_EQ(relayed, "tunnel");
}

}  // namespace
}  // namespace egress::core
