#include "tls/tls_socket.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "byte_pattern.hpp"
#include "handshake_harness.hpp"
#include "run_scenario.hpp"
#include "test_certs.hpp"
#include "tls/context.hpp"
#include "tls/handshake.hpp"

namespace egress::tls {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using asio::ip::tcp;
using egress::test::byte_pattern;
using asio::experimental::awaitable_operators::operator&&;
using asio::experimental::awaitable_operators::operator||;
using boost::system::error_code;
using net::IoResult;
using Status = net::IoResult::Status;
constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);

std::shared_ptr<const ServerContext> server_context() {
  static const std::shared_ptr<const ServerContext> ctx = [] {
    BuildResult r = build_server_context(test::gateway_options(Mode::required));
    if (!r.context) throw std::runtime_error(r.error ? r.error->to_string() : "no context");
    return r.context;
  }();
  return ctx;
}

// Calls into TlsSocket that returned with errors left on the thread's OpenSSL queue.
int g_leftover_errors = 0;
void note_leftover_errors() {
  if (ERR_peek_error() != 0) ++g_leftover_errors;
}

// Runs one scenario on a fresh io_context; the deadline is a safety net against a hang, not a
// timing assertion.
void run(const std::function<awaitable<void>()>& scenario) {
  g_leftover_errors = 0;
  asio::io_context io;
  ASSERT_TRUE(egress::test::run_scenario(io, scenario)) << "the scenario hung";
  EXPECT_EQ(g_leftover_errors, 0) << "TlsSocket left errors on the OpenSSL error queue";
}

// Repeats `op` (a TlsSocket call) until it stops asking for readiness, waiting for the readiness
// it asks for, as the relay will.
awaitable<IoResult> drive(TlsSocket& tls, const std::function<IoResult()>& op) {
  for (;;) {
    const IoResult r = op();
    note_leftover_errors();
    asio::socket_base::wait_type wait;
    if (r.status == Status::want_read) {
      wait = asio::socket_base::wait_read;
    } else if (r.status == Status::want_write) {
      wait = asio::socket_base::wait_write;
    } else {
      co_return r;
    }
    auto [ec] = co_await tls.socket().async_wait(wait, kAwait);
    if (ec) co_return IoResult::failed(ec);
  }
}

awaitable<IoResult> read_once(TlsSocket& tls, std::byte* buf, std::size_t len) {
  co_return co_await drive(tls, [&] { return tls.read_some(buf, len); });
}

// Reads until eof or error; `end` is what ended it.
awaitable<std::string> read_to_end(TlsSocket& tls, IoResult& end) {
  std::string got;
  std::array<std::byte, 16 * 1024> buf;
  for (;;) {
    end = co_await read_once(tls, buf.data(), buf.size());
    if (end.status != Status::done) co_return got;
    got.append(reinterpret_cast<const char*>(buf.data()), end.bytes);
  }
}

awaitable<IoResult> write_all(TlsSocket& tls, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    const auto* p = reinterpret_cast<const std::byte*>(data.data()) + done;
    const std::size_t len = data.size() - done;
    const IoResult r = co_await drive(tls, [&] { return tls.write_some(p, len); });
    if (r.status != Status::done) co_return r;
    done += r.bytes;
  }
  co_return IoResult::transferred(done);
}

awaitable<IoResult> shutdown(TlsSocket& tls) {
  co_return co_await drive(tls, [&] { return tls.shutdown_send(); });
}

std::unique_ptr<asio::ssl::context> client_context(const std::string& cert, int max_version) {
  auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
  if (max_version != 0) SSL_CTX_set_max_proto_version(ctx->native_handle(), max_version);
  ctx->set_verify_mode(asio::ssl::verify_peer);
  ctx->load_verify_file(test::cert_file("ca.pem").string());
  if (!cert.empty()) {
    ctx->use_certificate_chain_file(test::cert_file(cert + ".pem").string());
    ctx->use_private_key_file(test::cert_file(cert + ".key").string(), asio::ssl::context::pem);
  }
  return ctx;
}

// One TCP connection over 127.0.0.1: the server end wrapped in a TlsSocket, the client end an
// asio ssl::stream with a dev certificate.
struct Pair {
  /// `max_version`: e.g. TLS1_2_VERSION; 0 = library default (TLS 1.3).
  Pair(asio::any_io_executor ex, const std::string& cert, int max_version = 0)
      : server_socket(ex), client_ctx(client_context(cert, max_version)), client(ex, *client_ctx) {}

  tcp::socket server_socket;
  std::unique_ptr<asio::ssl::context> client_ctx;
  asio::ssl::stream<tcp::socket> client;
  std::unique_ptr<TlsSocket> server;
  error_code server_handshake;
  error_code client_handshake;
};

// Connects `client` (opened by the caller, e.g. with small buffers) to a fresh listener and
// accepts the server end.
awaitable<void> connect(tcp::socket& client, tcp::socket& server) {
  auto ex = co_await asio::this_coro::executor;
  tcp::acceptor acceptor(ex, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  // The kernel completes the TCP handshake into the backlog; accept after connect is enough.
  co_await client.async_connect(acceptor.local_endpoint(), asio::use_awaitable);
  co_await acceptor.async_accept(server, asio::use_awaitable);
}

awaitable<error_code> client_handshake(asio::ssl::stream<tcp::socket>& client) {
  auto [ec] = co_await client.async_handshake(asio::ssl::stream_base::client, kAwait);
  co_return ec;
}

awaitable<error_code> server_handshake(TlsSocket& tls) {
  const error_code ec = co_await tls.async_handshake();
  note_leftover_errors();
  co_return ec;
}

// Connects and runs both handshakes concurrently. `small_buffers` shrinks the client's receive
// and the server's send buffer so that a few hundred KiB fill the path.
awaitable<void> establish(Pair& p, SSL_SESSION* resume = nullptr, bool small_buffers = false) {
  if (small_buffers) {
    p.client.next_layer().open(tcp::v4());
    p.client.next_layer().set_option(asio::socket_base::receive_buffer_size(32 * 1024));
  }
  co_await connect(p.client.next_layer(), p.server_socket);
  if (small_buffers) {
    p.server_socket.set_option(asio::socket_base::send_buffer_size(32 * 1024));
  }
  p.server = std::make_unique<TlsSocket>(p.server_socket, server_context()->new_ssl());
  SSL_set_tlsext_host_name(p.client.native_handle(), "egressd.local");
  if (resume != nullptr) SSL_set_session(p.client.native_handle(), resume);
  std::tie(p.server_handshake, p.client_handshake) =
      co_await (server_handshake(*p.server) && client_handshake(p.client));
}

awaitable<std::string> client_read_to_eof(asio::ssl::stream<tcp::socket>& client, error_code& end) {
  std::string got;
  std::array<char, 16 * 1024> buf;
  for (;;) {
    auto [ec, n] = co_await client.async_read_some(asio::buffer(buf), kAwait);
    got.append(buf.data(), n);
    if (ec) {
      end = ec;
      co_return got;
    }
  }
}

awaitable<error_code> client_write(asio::ssl::stream<tcp::socket>& client, const std::string& s) {
  auto [ec, n] = co_await asio::async_write(client, asio::buffer(s), kAwait);
  co_return ec;
}

TEST(TlsSocket, HandshakeWithClientCertificateGivesThePeerCertificate) {
  run([]() -> awaitable<void> {
    Pair p(co_await asio::this_coro::executor, "payments");
    co_await establish(p);
    EXPECT_FALSE(p.server_handshake) << p.server_handshake.message();
    EXPECT_FALSE(p.client_handshake) << p.client_handshake.message();
    const X509* leaf = SSL_get0_peer_certificate(p.server->native_handle());
    EXPECT_NE(leaf, nullptr);
    const HandshakeOutcome out =
        classify_handshake(*p.server->native_handle(), Mode::required, p.server_handshake);
    EXPECT_TRUE(out.allowed()) << out.detail;
    EXPECT_TRUE(out.identity.has_value());
    if (out.identity) {
      EXPECT_EQ(out.identity->spiffe_id, "spiffe://corp.example/ns/payments/sa/api");
    }
    EXPECT_EQ(out.tls_version, "TLSv1.3");
    EXPECT_EQ(SSL_session_reused(p.server->native_handle()), 0);
    EXPECT_EQ(&p.server->socket(), &p.server_socket);
    EXPECT_EQ(SSL_get_fd(p.server->native_handle()), p.server_socket.native_handle());
    EXPECT_TRUE(p.server_socket.non_blocking());
  });
}

// The server side of one connection from a client that is not a well-behaved TLS client.
struct RawOutcome {
  error_code ec;
  HandshakeOutcome outcome;
};

awaitable<void> raw_client(tcp::socket& client, const test::ClientSpec& spec) {
  if (spec.close_at_once) {
    client.close();
    co_return;
  }
  co_await asio::async_write(client, asio::buffer(*spec.plain_bytes), kAwait);
  error_code ignored;  // the server may have rejected the bytes and closed already
  client.shutdown(tcp::socket::shutdown_send, ignored);
  std::array<char, 256> buf;
  co_await client.async_read_some(asio::buffer(buf), kAwait);
}

awaitable<RawOutcome> raw_server(tcp::socket& server) {
  TlsSocket tls(server, server_context()->new_ssl());
  RawOutcome r;
  r.ec = co_await tls.async_handshake();
  note_leftover_errors();
  r.outcome = classify_handshake(*tls.native_handle(), Mode::required, r.ec);
  server.close();
  co_return r;
}

// The handshake's error reaches classify_handshake in the shape boost::asio::ssl::stream gave it:
// the same reason and detail as the asio stream (run by the handshake harness) for each client.
TEST(TlsSocket, FailedHandshakesAreClassifiedAsWithTheAsioStream) {
  const std::vector<std::pair<test::ClientSpec, std::string>> cases = {
      {test::plain_client("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), "http request"},
      {test::plain_client(std::string(64, '\x42')), "wrong version number"},
      {test::silent_client(), "connection closed during the handshake"},
  };
  for (const auto& c : cases) {
    // Named copies, not structured bindings: a lambda may not capture those before C++20 P1091
    // (clang 14).
    const auto& spec = c.first;
    const auto& detail = c.second;
    SCOPED_TRACE(detail);
    const test::HandshakeRun asio_run = test::run_handshake_asio_stream(*server_context(), spec);
    ASSERT_TRUE(asio_run.server.deny.has_value());
    RawOutcome mine;
    run([&]() -> awaitable<void> {
      auto ex = co_await asio::this_coro::executor;
      tcp::socket client(ex);
      tcp::socket server(ex);
      co_await connect(client, server);
      mine = co_await (raw_client(client, spec) && raw_server(server));
    });
    ASSERT_TRUE(mine.outcome.deny.has_value());
    EXPECT_EQ(to_string(*mine.outcome.deny), to_string(DenyReason::tls_handshake_failed));
    EXPECT_EQ(to_string(*mine.outcome.deny), to_string(*asio_run.server.deny));
    EXPECT_EQ(mine.outcome.detail, detail);
    EXPECT_EQ(mine.outcome.detail, asio_run.server.detail);
  }
}

TEST(TlsSocket, CertificateFailuresAreClassifiedAsWithTheAsioStream) {
  for (const std::string cert : {"expired", "revoked", "unrelated", ""}) {
    SCOPED_TRACE("client certificate: " + cert);
    const test::HandshakeRun asio_run =
        test::run_handshake_asio_stream(*server_context(), test::tls_client(cert));
    ASSERT_TRUE(asio_run.server.deny.has_value());
    HandshakeOutcome mine;
    run([&]() -> awaitable<void> {
      Pair p(co_await asio::this_coro::executor, cert);
      co_await establish(p);
      EXPECT_TRUE(p.server_handshake);
      mine = classify_handshake(*p.server->native_handle(), Mode::required, p.server_handshake);
    });
    ASSERT_TRUE(mine.deny.has_value());
    EXPECT_EQ(to_string(*mine.deny), to_string(*asio_run.server.deny));
    EXPECT_EQ(mine.detail, asio_run.server.detail);
  }
}

// A ClientHello made by a real TLS client, as bytes.
std::string client_hello() {
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  SslPtr ssl(SSL_new(ctx.get()));
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl.get(), in, out);
  SSL_set_connect_state(ssl.get());
  SSL_do_handshake(ssl.get());  // wants to read the ServerHello
  std::string hello(static_cast<std::size_t>(BIO_pending(out)), '\0');
  BIO_read(out, hello.data(), static_cast<int>(hello.size()));
  ERR_clear_error();
  return hello;
}

TEST(TlsSocket, ClientClosingMidHandshakeIsConnectionClosedDuringTheHandshake) {
  RawOutcome mine;
  std::size_t server_flight = 0;
  run([&]() -> awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    tcp::socket client(ex);
    tcp::socket server(ex);
    co_await connect(client, server);
    auto hello_then_close = [&]() -> awaitable<void> {
      co_await asio::async_write(client, asio::buffer(client_hello()), kAwait);
      std::array<char, 4096> buf;
      // The server's first flight (ServerHello ... CertificateRequest) arrives; then hang up.
      auto [ec, n] = co_await client.async_read_some(asio::buffer(buf), kAwait);
      server_flight = n;
      client.close();
    };
    mine = co_await (hello_then_close() && raw_server(server));
  });
  EXPECT_GT(server_flight, 0u);
  EXPECT_EQ(mine.ec, asio::ssl::error::stream_truncated) << mine.ec.message();
  ASSERT_TRUE(mine.outcome.deny.has_value());
  EXPECT_EQ(to_string(*mine.outcome.deny), "tls_handshake_failed");
  EXPECT_EQ(mine.outcome.detail, "connection closed during the handshake");
}

TEST(TlsSocket, HandshakeWaitCancelledIsOperationAborted) {
  error_code ec;
  run([&]() -> awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    tcp::socket client(ex);
    tcp::socket server(ex);
    co_await connect(client, server);
    TlsSocket tls(server, server_context()->new_ssl());
    asio::steady_timer timer(ex, std::chrono::milliseconds(1));
    auto cancel_soon = [&]() -> awaitable<void> {
      co_await timer.async_wait(kAwait);
      server.cancel();  // the client never speaks: the handshake is waiting for readability
    };
    ec = co_await (tls.async_handshake() && cancel_soon());
    note_leftover_errors();
  });
  EXPECT_EQ(ec, asio::error::operation_aborted) << ec.message();
}

// How the TLS filter bounds the handshake: raced with a deadline by `||`, which cancels it.
TEST(TlsSocket, HandshakeRacedWithADeadlineEndsWhenTheDeadlineFires) {
  std::size_t winner = 0;
  run([&]() -> awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    tcp::socket client(ex);
    tcp::socket server(ex);
    co_await connect(client, server);
    TlsSocket tls(server, server_context()->new_ssl());
    asio::steady_timer deadline(ex, std::chrono::milliseconds(1));
    auto result = co_await (tls.async_handshake() || deadline.async_wait(asio::use_awaitable));
    note_leftover_errors();
    winner = result.index();
  });
  EXPECT_EQ(winner, 1u);
}

TEST(TlsSocket, DataBothWays) {
  run([]() -> awaitable<void> {
    Pair p(co_await asio::this_coro::executor, "payments");
    co_await establish(p);
    EXPECT_FALSE(p.server_handshake);
    EXPECT_FALSE(co_await client_write(p.client, "ping from the client"));
    std::array<std::byte, 256> buf;
    std::string got;
    while (got.size() < 20) {
      const IoResult r = co_await read_once(*p.server, buf.data(), buf.size());
      EXPECT_EQ(r.status, Status::done);
      if (r.status != Status::done) co_return;
      got.append(reinterpret_cast<const char*>(buf.data()), r.bytes);
    }
    EXPECT_EQ(got, "ping from the client");
    const IoResult w = co_await write_all(*p.server, "pong from the server");
    EXPECT_EQ(w.status, Status::done);
    EXPECT_EQ(w.bytes, 20u);
    std::string reply(20, '\0');
    auto [ec, n] = co_await asio::async_read(p.client, asio::buffer(reply), kAwait);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(reply, "pong from the server");
  });
}

// One record read through a small buffer: the rest stays inside OpenSSL, so the relay must not
// wait for the socket before reading it (buffered()).
TEST(TlsSocket, RestOfARecordIsBufferedAndReadableWithoutTheSocket) {
  run([]() -> awaitable<void> {
    Pair p(co_await asio::this_coro::executor, "payments");
    co_await establish(p);
    const std::string record = byte_pattern(10000);  // one TLS record (< 16 KiB)
    EXPECT_FALSE(co_await client_write(p.client, record));
    std::array<std::byte, 100> buf;
    IoResult r = co_await read_once(*p.server, buf.data(), buf.size());
    EXPECT_EQ(r.status, Status::done);
    EXPECT_EQ(r.bytes, 100u);
    std::string got(reinterpret_cast<const char*>(buf.data()), r.bytes);
    EXPECT_TRUE(p.server->buffered());
    while (p.server->buffered()) {
      r = p.server->read_some(buf.data(), buf.size());
      note_leftover_errors();
      EXPECT_EQ(r.status, Status::done);  // never a want_read while bytes are buffered
      if (r.status != Status::done) break;
      got.append(reinterpret_cast<const char*>(buf.data()), r.bytes);
    }
    EXPECT_EQ(got, record);
    r = p.server->read_some(buf.data(), buf.size());
    note_leftover_errors();
    EXPECT_EQ(r.status, Status::want_read);
  });
}

// 4 MiB towards a client that reads nothing until the server has been told to wait: write_some
// returns want_write, and the retry (with the bytes copied to another buffer, as a relay that
// compacts its buffer would) loses and repeats nothing.
TEST(TlsSocket, LargeTransferToASlowReaderRetriesAfterWantWrite) {
  const std::string data = byte_pattern(4 * 1024 * 1024);
  int want_writes = 0;
  std::string received;
  error_code client_end;
  run([&]() -> awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    Pair p(ex, "payments");
    co_await establish(p, nullptr, /*small_buffers=*/true);
    EXPECT_FALSE(p.server_handshake);
    asio::steady_timer gate(ex, asio::steady_timer::time_point::max());

    auto send = [&]() -> awaitable<void> {
      std::array<std::vector<std::byte>, 2> buffers;
      int current = 0;
      std::size_t offset = 0;
      while (offset < data.size()) {
        const std::size_t len = std::min<std::size_t>(256 * 1024, data.size() - offset);
        auto& buffer = buffers[current];
        const auto* src = reinterpret_cast<const std::byte*>(data.data()) + offset;
        buffer.assign(src, src + len);
        IoResult r = p.server->write_some(buffer.data(), len);
        note_leftover_errors();
        while (r.status == Status::want_write) {
          ++want_writes;
          gate.cancel();  // now the client may start reading
          auto [ec] = co_await p.server_socket.async_wait(tcp::socket::wait_write, kAwait);
          EXPECT_FALSE(ec);
          current = 1 - current;  // the same bytes, at another address
          buffers[current] = buffers[1 - current];
          std::fill(buffers[1 - current].begin(), buffers[1 - current].end(), std::byte{0});
          r = p.server->write_some(buffers[current].data(), len);
          note_leftover_errors();
        }
        EXPECT_EQ(r.status, Status::done) << r.ec.message();
        if (r.status != Status::done) {
          gate.cancel();
          p.server_socket.close();  // end the client's read instead of hanging
          co_return;
        }
        EXPECT_GT(r.bytes, 0u);
        offset += r.bytes;
      }
      const IoResult s = co_await shutdown(*p.server);
      EXPECT_EQ(s.status, Status::done) << s.ec.message();
    };
    auto receive = [&]() -> awaitable<void> {
      co_await gate.async_wait(kAwait);
      received = co_await client_read_to_eof(p.client, client_end);
    };
    co_await (send() && receive());
  });
  EXPECT_GT(want_writes, 0);
  EXPECT_EQ(client_end, asio::error::eof) << client_end.message();
  ASSERT_EQ(received.size(), data.size());
  EXPECT_TRUE(received == data) << "the bytes differ";
}

TEST(TlsSocket, LargeTransferFromTheClient) {
  const std::string data = byte_pattern(4 * 1024 * 1024 + 17);
  std::string received;
  IoResult end;
  run([&]() -> awaitable<void> {
    Pair p(co_await asio::this_coro::executor, "payments");
    co_await establish(p, nullptr, /*small_buffers=*/true);
    auto upload = [&]() -> awaitable<void> {
      EXPECT_FALSE(co_await client_write(p.client, data));
      auto [ec] = co_await p.client.async_shutdown(kAwait);  // close_notify, then ours
      EXPECT_FALSE(ec) << ec.message();
    };
    auto download = [&]() -> awaitable<void> {
      received = co_await read_to_end(*p.server, end);
      const IoResult s = co_await shutdown(*p.server);
      EXPECT_EQ(s.status, Status::done) << s.ec.message();
    };
    co_await (upload() && download());
  });
  EXPECT_EQ(end.status, Status::eof) << end.ec.message();
  ASSERT_EQ(received.size(), data.size());
  EXPECT_TRUE(received == data) << "the bytes differ";
}

// TLS 1.3 half-close: after the server's close_notify and FIN the client still sends, and the
// server reads it, then eof.
class HalfClose : public ::testing::TestWithParam<int> {};

TEST_P(HalfClose, ShutdownSendLetsTheClientKeepSending) {
  const int max_version = GetParam();
  run([max_version]() -> awaitable<void> {
    Pair p(co_await asio::this_coro::executor, "payments", max_version);
    co_await establish(p);
    EXPECT_FALSE(p.server_handshake) << p.server_handshake.message();
    EXPECT_EQ((co_await write_all(*p.server, "response")).status, Status::done);
    const IoResult s = co_await shutdown(*p.server);
    EXPECT_EQ(s.status, Status::done) << s.ec.message();
    EXPECT_EQ(p.server->shutdown_send().status, Status::done);  // again: nothing more to do

    error_code client_end;
    EXPECT_EQ(co_await client_read_to_eof(p.client, client_end), "response");
    EXPECT_EQ(client_end, asio::error::eof) << client_end.message();  // close_notify
    EXPECT_NE(SSL_get_shutdown(p.client.native_handle()) & SSL_RECEIVED_SHUTDOWN, 0);
    std::array<char, 16> raw;
    auto [fin, n] = co_await p.client.next_layer().async_read_some(asio::buffer(raw), kAwait);
    EXPECT_EQ(fin, asio::error::eof) << "no TCP FIN after close_notify: " << fin.message();

    EXPECT_FALSE(co_await client_write(p.client, "more from the client"));
    auto [ec] = co_await p.client.async_shutdown(kAwait);
    EXPECT_FALSE(ec) << ec.message();
    IoResult end;
    EXPECT_EQ(co_await read_to_end(*p.server, end), "more from the client");
    EXPECT_EQ(end.status, Status::eof) << end.ec.message();
    const IoResult w = p.server->write_some(reinterpret_cast<const std::byte*>("x"), 1);
    EXPECT_EQ(w.status, Status::error);  // nothing can be sent after close_notify
    note_leftover_errors();
  });
}

INSTANTIATE_TEST_SUITE_P(TlsSocket, HalfClose, ::testing::Values(0, TLS1_2_VERSION),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return info.param == 0 ? std::string("Tls13") : std::string("Tls12");
                         });

TEST(TlsSocket, ClientCloseNotifyIsEof) {
  run([]() -> awaitable<void> {
    Pair p(co_await asio::this_coro::executor, "payments");
    co_await establish(p);
    IoResult end;
    auto client_side = [&]() -> awaitable<void> {
      EXPECT_FALSE(co_await client_write(p.client, "last words"));
      auto [ec] = co_await p.client.async_shutdown(kAwait);  // waits for our close_notify
      EXPECT_FALSE(ec) << ec.message();
    };
    auto server_side = [&]() -> awaitable<void> {
      EXPECT_EQ(co_await read_to_end(*p.server, end), "last words");
      std::array<std::byte, 16> buf;
      EXPECT_EQ(p.server->read_some(buf.data(), buf.size()).status, Status::eof);  // stays eof
      EXPECT_EQ((co_await shutdown(*p.server)).status, Status::done);
    };
    co_await (client_side() && server_side());
    EXPECT_EQ(end.status, Status::eof) << end.ec.message();
  });
}

// A client that ends its stream with a TCP FIN and no close_notify still gets its response.
TEST(TlsSocket, ClientTcpCloseWithoutCloseNotifyIsEof) {
  run([]() -> awaitable<void> {
    Pair p(co_await asio::this_coro::executor, "payments");
    co_await establish(p);
    EXPECT_FALSE(co_await client_write(p.client, "request"));
    p.client.next_layer().shutdown(tcp::socket::shutdown_send);
    IoResult end;
    EXPECT_EQ(co_await read_to_end(*p.server, end), "request");
    EXPECT_EQ(end.status, Status::eof) << end.ec.message();
    EXPECT_EQ((co_await write_all(*p.server, "response")).status, Status::done);
    EXPECT_EQ((co_await shutdown(*p.server)).status, Status::done);
    error_code client_end;
    EXPECT_EQ(co_await client_read_to_eof(p.client, client_end), "response");
    EXPECT_EQ(client_end, asio::error::eof) << client_end.message();
  });
}

// TLS 1.2 here: a TLS 1.3 client that closes with the server's session ticket still unread in
// its socket makes the kernel send a reset instead of a FIN (the next test).
TEST(TlsSocket, ClientFullCloseWithoutCloseNotifyIsEof) {
  run([]() -> awaitable<void> {
    Pair p(co_await asio::this_coro::executor, "payments", TLS1_2_VERSION);
    co_await establish(p);
    EXPECT_EQ(std::string(SSL_get_version(p.server->native_handle())), "TLSv1.2");
    EXPECT_FALSE(co_await client_write(p.client, "gone"));
    p.client.next_layer().close();
    IoResult end;
    EXPECT_EQ(co_await read_to_end(*p.server, end), "gone");
    EXPECT_EQ(end.status, Status::eof) << end.ec.message();
  });
}

TEST(TlsSocket, ClientResetIsConnectionReset) {
  run([]() -> awaitable<void> {
    Pair p(co_await asio::this_coro::executor, "payments");
    co_await establish(p);
    p.client.next_layer().set_option(asio::socket_base::linger(true, 0));  // close = RST
    p.client.next_layer().close();
    IoResult end;
    EXPECT_EQ(co_await read_to_end(*p.server, end), "");
    EXPECT_EQ(end.status, Status::error);
    EXPECT_EQ(end.ec, asio::error::connection_reset) << end.ec.message();
  });
}

// A clean close (close_notify both ways) keeps the session in the server's cache: a second
// connection offering it is resumed, and still carries the client's identity.
TEST(TlsSocket, SessionIsResumableAfterACleanClose) {
  std::shared_ptr<SSL_SESSION> session;
  run([&]() -> awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    {
      Pair p(ex, "payments");
      co_await establish(p);
      EXPECT_FALSE(p.server_handshake);
      EXPECT_EQ(SSL_session_reused(p.server->native_handle()), 0);
      auto client_side = [&]() -> awaitable<void> {
        error_code end;
        co_await client_read_to_eof(p.client, end);  // takes in the session ticket too
        EXPECT_EQ(end, asio::error::eof);
        session.reset(SSL_get1_session(p.client.native_handle()), &SSL_SESSION_free);
        auto [ec] = co_await p.client.async_shutdown(kAwait);
        EXPECT_FALSE(ec) << ec.message();
      };
      auto server_side = [&]() -> awaitable<void> {
        EXPECT_EQ((co_await shutdown(*p.server)).status, Status::done);
        IoResult end;
        co_await read_to_end(*p.server, end);
        EXPECT_EQ(end.status, Status::eof);
      };
      co_await (client_side() && server_side());
    }
    if (!session) co_return;
    Pair p(ex, "payments");
    co_await establish(p, session.get());
    EXPECT_FALSE(p.server_handshake) << p.server_handshake.message();
    EXPECT_EQ(SSL_session_reused(p.server->native_handle()), 1);
    const HandshakeOutcome out =
        classify_handshake(*p.server->native_handle(), Mode::required, p.server_handshake);
    EXPECT_TRUE(out.allowed()) << out.detail;
    EXPECT_TRUE(out.identity.has_value());
    if (out.identity) {
      EXPECT_EQ(out.identity->spiffe_id, "spiffe://corp.example/ns/payments/sa/api");
    }
  });
  ASSERT_TRUE(session);
}

}  // namespace
}  // namespace egress::tls
