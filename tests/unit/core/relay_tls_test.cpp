// The relay with a TLS client: client ⇄ [TlsSocket | async_relay | tcp::socket] ⇄ plain server,
// all on 127.0.0.1, asserting what the client and the server see and what the relay reports.
#include "core/relay.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <gtest/gtest.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "byte_pattern.hpp"
#include "core/http_request_gate.hpp"
#include "filters/filter.hpp"
#include "run_scenario.hpp"
#include "test_certs.hpp"
#include "tls/context.hpp"
#include "tls/tls_socket.hpp"

namespace egress::core {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using egress::test::byte_pattern;
using asio::experimental::awaitable_operators::operator&&;
using boost::system::error_code;
using tcp = asio::ip::tcp;
constexpr auto kAwait = asio::as_tuple(use_awaitable);

std::shared_ptr<const tls::ServerContext> server_context() {
  static const std::shared_ptr<const tls::ServerContext> ctx = [] {
    tls::BuildResult r = tls::build_server_context(tls::test::gateway_options(tls::Mode::required));
    if (!r.context) throw std::runtime_error(r.error ? r.error->to_string() : "no context");
    return r.context;
  }();
  return ctx;
}

// The client presents the dev "payments" certificate (the listener requires one) and verifies
// the gateway's against the dev CA.
SSL_CTX* client_context() {
  static const tls::SslCtxPtr ctx = [] {
    tls::SslCtxPtr c(SSL_CTX_new(TLS_client_method()));
    const std::string ca = tls::test::cert_file("ca.pem").string();
    const std::string cert = tls::test::cert_file("payments.pem").string();
    const std::string key = tls::test::cert_file("payments.key").string();
    if (!c || SSL_CTX_load_verify_locations(c.get(), ca.c_str(), nullptr) != 1 ||
        SSL_CTX_use_certificate_chain_file(c.get(), cert.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(c.get(), key.c_str(), SSL_FILETYPE_PEM) != 1) {
      throw std::runtime_error("cannot build the client SSL_CTX");
    }
    SSL_CTX_set_verify(c.get(), SSL_VERIFY_PEER, nullptr);
    return c;
  }();
  return ctx.get();
}

// What a failed SSL call said, for messages: "SSL_ERROR_SSL: unexpected eof while reading".
struct SslEnd {
  int ssl_error = SSL_ERROR_NONE;
  unsigned long code = 0;  ///< ERR_peek_error() after the call
  int sys_errno = 0;
  error_code wait_ec;  ///< a readiness wait failed instead

  bool close_notify() const { return ssl_error == SSL_ERROR_ZERO_RETURN; }
  /// The connection ended without close_notify: TCP closed (OpenSSL's "unexpected eof") or reset.
  bool cut() const {
    return (ssl_error == SSL_ERROR_SSL &&
            ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING) ||
           (ssl_error == SSL_ERROR_SYSCALL && sys_errno == ECONNRESET);
  }
  std::string describe() const {
    if (wait_ec) return "wait: " + wait_ec.message();
    std::string s = "SSL_get_error " + std::to_string(ssl_error);
    if (code != 0)
      s += ": " + std::string(ERR_reason_error_string(code) ? ERR_reason_error_string(code) : "?");
    if (sys_errno != 0) s += " errno: " + std::string(std::strerror(sys_errno));
    return s;
  }
};

// Bytes read and how the reading ended.
struct ClientRead {
  std::string data;
  std::optional<SslEnd> end;  ///< empty when the read stopped at the asked size
};

// A TLS client on raw OpenSSL over a non-blocking socket, driven by readiness waits. Unlike
// asio's ssl::stream (whose shutdown waits for the peer's close_notify), it can send its
// close_notify and go on reading, which the half-close cases need.
class TlsClient {
 public:
  explicit TlsClient(asio::any_io_executor ex) : socket_(ex) {
    // A write to a socket the gateway reset must fail, not kill the test (egressd ignores
    // SIGPIPE too).
    static const bool ignored = std::signal(SIGPIPE, SIG_IGN) != SIG_ERR;
    (void)ignored;
  }

  tcp::socket& socket() { return socket_; }
  SSL* ssl() const { return ssl_.get(); }

  /// Over the connected socket(); empty on success, else what failed.
  awaitable<std::string> handshake(SSL_SESSION* resume, int max_version) {
    socket_.non_blocking(true);
    socket_.set_option(tcp::no_delay(true));  // a write right after another goes out at once
    ssl_.reset(SSL_new(client_context()));
    SSL_set_fd(ssl_.get(), socket_.native_handle());
    SSL_set_mode(ssl_.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_set_tlsext_host_name(ssl_.get(), "egressd.local");
    if (max_version != 0) SSL_set_max_proto_version(ssl_.get(), max_version);
    if (resume != nullptr) SSL_set_session(ssl_.get(), resume);
    SSL_set_connect_state(ssl_.get());
    const std::optional<SslEnd> end = co_await drive([&] { return SSL_do_handshake(ssl_.get()); });
    co_return end ? end->describe() : std::string();
  }

  /// Empty when every byte was written.
  awaitable<std::optional<SslEnd>> write_all(std::string_view data) {
    std::size_t done = 0;
    while (done < data.size()) {
      std::size_t n = 0;
      const std::optional<SslEnd> end = co_await drive(
          [&] { return SSL_write_ex(ssl_.get(), data.data() + done, data.size() - done, &n); });
      if (end) co_return end;
      done += n;
    }
    co_return std::nullopt;
  }

  /// Reads until `limit` bytes arrived or the stream ended (then `end` says how).
  awaitable<ClientRead> read(std::size_t limit = std::numeric_limits<std::size_t>::max()) {
    ClientRead out;
    std::array<char, 16 * 1024> buf;
    while (out.data.size() < limit) {
      const std::size_t want = std::min(buf.size(), limit - out.data.size());
      std::size_t n = 0;
      out.end = co_await drive([&] { return SSL_read_ex(ssl_.get(), buf.data(), want, &n); });
      if (out.end) co_return out;
      out.data.append(buf.data(), n);
    }
    co_return out;
  }

  /// Sends close_notify once, without waiting for the server's (SSL_shutdown returns 0 then).
  awaitable<std::optional<SslEnd>> send_close_notify() {
    co_return co_await drive([&] {
      const int r = SSL_shutdown(ssl_.get());
      return r == 0 ? 1 : r;
    });
  }

 private:
  // Repeats `op` (an SSL call returning 1 on success) until it no longer asks for readiness.
  awaitable<std::optional<SslEnd>> drive(const std::function<int()>& op) {
    for (;;) {
      ERR_clear_error();
      errno = 0;
      const int ret = op();
      const int saved_errno = errno;
      if (ret == 1) co_return std::nullopt;
      const int ssl_error = SSL_get_error(ssl_.get(), ret);
      tcp::socket::wait_type wait;
      if (ssl_error == SSL_ERROR_WANT_READ) {
        wait = tcp::socket::wait_read;
      } else if (ssl_error == SSL_ERROR_WANT_WRITE) {
        wait = tcp::socket::wait_write;
      } else {
        SslEnd end{ssl_error, ERR_peek_error(), saved_errno, {}};
        ERR_clear_error();
        co_return end;
      }
      auto [ec] = co_await socket_.async_wait(wait, kAwait);
      if (ec) co_return SslEnd{SSL_ERROR_SYSCALL, 0, 0, ec};
    }
  }

  tcp::socket socket_;
  tls::SslPtr ssl_;
};

constexpr int kSmallBuffer = 32 * 1024;

// client ⇄ [gateway_down: TlsSocket | relay | gateway_up] ⇄ server, all on loopback.
struct Rig {
  asio::io_context io;
  tcp::socket gateway_down{io}, gateway_up{io}, server{io};
  std::unique_ptr<tls::TlsSocket> tls;  // over gateway_down
  TlsClient client{io.get_executor()};
  asio::steady_timer timer{io};
  BufferPool pool;
  bool small_buffers = false;  ///< 32 KiB gateway send buffers and client/server receive buffers
  std::optional<RelayResult> result;
  asio::steady_timer reported{io, asio::steady_timer::time_point::max()};
  /// When set: the connection was decided by its first HTTP request's Host, this name, and the
  /// relay reads the client through an HttpRequestGate (issue 19). No policy: any other Host is
  /// refused.
  std::string gate_first_host;
  filters::ListenerInfo listener;
  std::unique_ptr<filters::Facts> facts;
  std::unique_ptr<HttpRequestGate<tls::TlsSocket&>> gate;

  Rig() {
    tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
    gateway_up.connect(a.local_endpoint());
    server = a.accept();
    gateway_up.set_option(tcp::no_delay(true));  // as the gateway's sockets
  }

  /// Connects the client, runs both handshakes and starts the relay. Like the gateway, once the
  /// relay reports, both of its sockets are closed.
  awaitable<void> start(RelayOptions options, SSL_SESSION* resume = nullptr, int max_version = 0) {
    tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
    if (small_buffers) {
      client.socket().open(tcp::v4());
      client.socket().set_option(asio::socket_base::receive_buffer_size(kSmallBuffer));
      server.set_option(asio::socket_base::receive_buffer_size(kSmallBuffer));
    }
    co_await client.socket().async_connect(a.local_endpoint(), use_awaitable);
    co_await a.async_accept(gateway_down, use_awaitable);
    gateway_down.set_option(tcp::no_delay(true));
    if (small_buffers) {
      gateway_down.set_option(asio::socket_base::send_buffer_size(kSmallBuffer));
      gateway_up.set_option(asio::socket_base::send_buffer_size(kSmallBuffer));
    }
    tls = std::make_unique<tls::TlsSocket>(gateway_down, server_context()->new_ssl());
    const auto [server_ec, client_failure] =
        co_await (tls->async_handshake() && client.handshake(resume, max_version));
    if (server_ec || !client_failure.empty()) {
      throw std::runtime_error("handshake failed: gateway: " + server_ec.message() +
                               "; client: " + client_failure);
    }
    auto done = [this](RelayResult r) {
      gateway_down.close();
      gateway_up.close();
      result = std::move(r);
      reported.cancel();
    };
    if (gate_first_host.empty()) {
      async_relay(*tls, gateway_up, timer, pool, options, done);
      co_return;
    }
    facts = std::make_unique<filters::Facts>(1, listener);
    facts->name = filters::NameFacts{};
    facts->name->host = gate_first_host;
    facts->name->source = filters::NameSource::http_host;
    gate = std::make_unique<HttpRequestGate<tls::TlsSocket&>>(
        *tls, LaterRequestCheck(*facts, nullptr), 16384);
    async_relay(*gate, gateway_up, timer, pool, options, done);
  }

  /// Waits until the relay reported.
  awaitable<void> relay_done() {
    while (!result) co_await reported.async_wait(kAwait);
  }

  /// Runs `scenario` to its end; the deadline is a safety net against a hang, not a timing
  /// assertion.
  void run(const std::function<awaitable<void>()>& scenario) {
    ASSERT_TRUE(egress::test::run_scenario(io, scenario)) << "the scenario hung";
    ASSERT_TRUE(result.has_value()) << "the relay never reported";
  }
};

constexpr RelayOptions kNoTimeout{std::chrono::hours(1), std::chrono::milliseconds(0)};

// The plain server's reads: until `size` bytes, or to EOF (expected).
awaitable<std::string> server_read(tcp::socket& s, std::size_t size) {
  std::string out(size, '\0');
  co_await asio::async_read(s, asio::buffer(out), use_awaitable);
  co_return out;
}

awaitable<std::string> server_read_to_eof(tcp::socket& s) {
  std::string out;
  auto [ec, n] =
      co_await asio::async_read(s, asio::dynamic_buffer(out), asio::as_tuple(use_awaitable));
  EXPECT_EQ(ec, asio::error::eof) << ec.message();
  co_return out;
}

awaitable<void> server_write(tcp::socket& s, const std::string& data) {
  co_await asio::async_write(s, asio::buffer(data), use_awaitable);
}

void expect_close_notify(const ClientRead& r) {
  ASSERT_TRUE(r.end.has_value());
  EXPECT_TRUE(r.end->close_notify()) << "the client's read ended with " << r.end->describe();
}

TEST(RelayTls, RequestsAndResponsesBothWaysWithByteCounts) {
  Rig rig;
  const std::string request1 = "GET /a HTTP/1.1\r\nHost: example.test\r\n\r\n";
  const std::string response1 = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  const std::string request2 = "GET /b HTTP/1.1\r\nHost: example.test\r\n\r\n!";
  const std::string response2 = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
  ClientRead got1, got2, last;
  std::string at_server1, at_server2, at_server_end;
  rig.run([&]() -> awaitable<void> {
    co_await rig.start(kNoTimeout);
    EXPECT_FALSE(co_await rig.client.write_all(request1));
    at_server1 = co_await server_read(rig.server, request1.size());
    co_await server_write(rig.server, response1);
    got1 = co_await rig.client.read(response1.size());
    EXPECT_FALSE(co_await rig.client.write_all(request2));
    at_server2 = co_await server_read(rig.server, request2.size());
    co_await server_write(rig.server, response2);
    got2 = co_await rig.client.read(response2.size());
    EXPECT_FALSE(co_await rig.client.send_close_notify());
    at_server_end = co_await server_read_to_eof(rig.server);
    rig.server.shutdown(tcp::socket::shutdown_send);
    last = co_await rig.client.read();
    co_await rig.relay_done();
  });
  EXPECT_EQ(at_server1, request1);
  EXPECT_EQ(at_server2, request2);
  EXPECT_EQ(at_server_end, "");
  EXPECT_EQ(got1.data, response1);
  EXPECT_EQ(got2.data, response2);
  EXPECT_EQ(last.data, "");
  expect_close_notify(last);
  const RelayResult& r = *rig.result;
  EXPECT_EQ(r.bytes_up, request1.size() + request2.size());
  EXPECT_EQ(r.bytes_down, response1.size() + response2.size());
  EXPECT_EQ(r.reason, base::Reason::eof);
  EXPECT_EQ(r.closed_by, base::Side::client);
  EXPECT_EQ(r.detail, "");
}

// The upstream's FIN reaches the client as close_notify (a clean TLS EOF, not a truncation), and
// the client, TLS 1.3 half-closed, still sends: those bytes reach the server.
TEST(RelayTls, AGatedClientsLaterRequestWithAnotherHostGoesNowhere) {
  Rig rig;
  rig.gate_first_host = "a.example";
  const std::string request1 = "GET /a HTTP/1.1\r\nHost: a.example\r\n\r\n";
  const std::string request2 =
      "POST /b HTTP/1.1\r\nHost: A.example\r\nContent-Length: 3\r\n\r\nabc";
  const std::string request3 = "GET /c HTTP/1.1\r\nHost: c.example\r\n\r\n";
  std::string at_server, at_server_end;
  rig.run([&]() -> awaitable<void> {
    co_await rig.start(kNoTimeout);
    EXPECT_FALSE(co_await rig.client.write_all(request1 + request2));
    at_server = co_await server_read(rig.server, request1.size() + request2.size());
    (void)co_await rig.client.write_all(request3);  // may fail: the gateway resets
    at_server_end = co_await server_read_to_eof(rig.server);
    co_await rig.relay_done();
  });
  EXPECT_EQ(at_server, request1 + request2);
  EXPECT_EQ(at_server_end, "") << "nothing of the third request";
  RelayResult r = *rig.result;
  EXPECT_EQ(r.bytes_up, request1.size() + request2.size());
  apply_refusal(r, rig.gate->refused());
  EXPECT_EQ(r.reason, base::Reason::host_changed);
  EXPECT_EQ(r.closed_by, base::Side::gateway);
  EXPECT_EQ(r.detail,
            "request 3: Host \"c.example\" differs from the first request's \"a.example\", and "
            "the connection's decision is not known");
}

TEST(RelayTls, UpstreamEndingFirstIsCloseNotifyAndTheClientMayStillSend) {
  Rig rig;
  const std::string late = "late request " + byte_pattern(1024 * 1024, 521288629u);
  ClientRead got;
  std::string at_server;
  bool client_saw_fin = false;
  rig.run([&]() -> awaitable<void> {
    co_await rig.start(kNoTimeout);
    co_await server_write(rig.server, "bye");
    rig.server.shutdown(tcp::socket::shutdown_send);
    got = co_await rig.client.read();
    // close_notify is followed by the gateway's FIN (shutdown_send), not left dangling.
    std::array<char, 16> raw;
    auto [fin, n] = co_await rig.client.socket().async_receive(asio::buffer(raw), kAwait);
    client_saw_fin = fin == asio::error::eof && n == 0;
    auto client_side = [&]() -> awaitable<void> {
      EXPECT_FALSE(co_await rig.client.write_all(late));
      EXPECT_FALSE(co_await rig.client.send_close_notify());
    };
    auto server_side = [&]() -> awaitable<void> {
      at_server = co_await server_read_to_eof(rig.server);
    };
    co_await (client_side() && server_side());
    co_await rig.relay_done();
  });
  EXPECT_EQ(got.data, "bye");
  expect_close_notify(got);
  EXPECT_TRUE(client_saw_fin);
  ASSERT_EQ(at_server.size(), late.size());
  EXPECT_TRUE(at_server == late) << "the bytes the server got differ";
  const RelayResult& r = *rig.result;
  EXPECT_EQ(r.reason, base::Reason::eof);
  EXPECT_EQ(r.closed_by, base::Side::upstream);
  EXPECT_EQ(r.bytes_down, 3u);
  EXPECT_EQ(r.bytes_up, late.size());
}

// The client sends "request" and ends its side with `end_request`; the server reads to EOF,
// answers `response` and half-closes; the client reads to its end.
struct RequestAndReply {
  std::string at_server;
  ClientRead at_client;
};

RequestAndReply request_then_reply(Rig& rig, const std::function<awaitable<void>()>& end_request,
                                   const std::string& response) {
  RequestAndReply out;
  rig.run([&]() -> awaitable<void> {
    co_await rig.start(kNoTimeout);
    EXPECT_FALSE(co_await rig.client.write_all("request"));
    co_await end_request();
    out.at_server = co_await server_read_to_eof(rig.server);
    co_await server_write(rig.server, response);
    rig.server.shutdown(tcp::socket::shutdown_send);
    out.at_client = co_await rig.client.read();
    co_await rig.relay_done();
  });
  return out;
}

// The client's close_notify is the server's EOF after the data; the server's reply still reaches
// the client, which sent close_notify but keeps reading.
TEST(RelayTls, ClientCloseNotifyIsTheServersEofAndTheReplyStillArrives) {
  Rig rig;
  const RequestAndReply got = request_then_reply(
      rig, [&]() -> awaitable<void> { EXPECT_FALSE(co_await rig.client.send_close_notify()); },
      "the response");
  EXPECT_EQ(got.at_server, "request");
  EXPECT_EQ(got.at_client.data, "the response");
  expect_close_notify(got.at_client);
  const RelayResult& r = *rig.result;
  EXPECT_EQ(r.reason, base::Reason::eof);
  EXPECT_EQ(r.closed_by, base::Side::client);
  EXPECT_EQ(r.bytes_up, 7u);
  EXPECT_EQ(r.bytes_down, 12u);
}

// A TCP half-close without close_notify (how many clients end a request) is the client's EOF,
// not a reset: the server sees EOF after the data and its response still arrives.
TEST(RelayTls, ClientTcpHalfCloseWithoutCloseNotifyIsTheClientsEof) {
  Rig rig;
  const RequestAndReply got = request_then_reply(
      rig,
      [&]() -> awaitable<void> {
        rig.client.socket().shutdown(tcp::socket::shutdown_send);
        co_return;
      },
      "response");
  EXPECT_EQ(got.at_server, "request");
  EXPECT_EQ(got.at_client.data, "response");
  expect_close_notify(got.at_client);
  const RelayResult& r = *rig.result;
  EXPECT_EQ(r.reason, base::Reason::eof);
  EXPECT_EQ(r.closed_by, base::Side::client);
  EXPECT_EQ(r.bytes_up, 7u);
  EXPECT_EQ(r.bytes_down, 8u);
  EXPECT_EQ(r.detail, "");
}

// A client that closes its socket outright, without close_notify. TLS 1.2: a TLS 1.3 client that
// closes with the server's session ticket unread makes its kernel send a reset, not a FIN.
TEST(RelayTls, ClientTcpCloseWithoutCloseNotifyIsTheClientsEof) {
  Rig rig;
  std::string at_server;
  rig.run([&]() -> awaitable<void> {
    co_await rig.start(kNoTimeout, nullptr, TLS1_2_VERSION);
    EXPECT_EQ(std::string(SSL_get_version(rig.tls->native_handle())), "TLSv1.2");
    EXPECT_FALSE(co_await rig.client.write_all("gone"));
    rig.client.socket().close();
    at_server = co_await server_read_to_eof(rig.server);
    rig.server.shutdown(tcp::socket::shutdown_send);
    co_await rig.relay_done();
  });
  EXPECT_EQ(at_server, "gone");
  const RelayResult& r = *rig.result;
  EXPECT_EQ(r.reason, base::Reason::eof) << r.detail;
  EXPECT_EQ(r.closed_by, base::Side::client);
  EXPECT_EQ(r.bytes_up, 4u);
  EXPECT_EQ(r.bytes_down, 0u);
}

// Both ways at once, through small socket buffers so that every write of the relay meets a full
// socket (TLS want_write towards the client, EAGAIN towards the server).
TEST(RelayTls, LargeTransferBothWaysAtOnceArrivesIntactAndIdleHoldsNoBuffer) {
  Rig rig;
  rig.small_buffers = true;
  const std::string up = byte_pattern(4 * 1024 * 1024 + 17, 2463534242u);
  const std::string down = byte_pattern(3 * 1024 * 1024 + 5, 88675123u);
  std::string at_server, server_tail;
  ClientRead at_client, client_tail;
  std::size_t cached_when_idle = 0, allocated_when_idle = 0;
  rig.run([&]() -> awaitable<void> {
    co_await rig.start(kNoTimeout);
    auto client_send = [&]() -> awaitable<void> {
      const std::optional<SslEnd> end = co_await rig.client.write_all(up);
      EXPECT_FALSE(end) << end->describe();
    };
    auto client_receive = [&]() -> awaitable<void> {
      at_client = co_await rig.client.read(down.size());
    };
    auto server_send = [&]() -> awaitable<void> { co_await server_write(rig.server, down); };
    auto server_receive = [&]() -> awaitable<void> {
      at_server = co_await server_read(rig.server, up.size());
    };
    co_await (client_send() && client_receive() && server_send() && server_receive());
    // Everything delivered, both directions idle: every relay buffer is back in the pool.
    for (int i = 0; i < 10; ++i) co_await asio::post(rig.io, use_awaitable);
    cached_when_idle = rig.pool.cached();
    allocated_when_idle = rig.pool.allocated();
    EXPECT_FALSE(co_await rig.client.send_close_notify());
    server_tail = co_await server_read_to_eof(rig.server);
    rig.server.shutdown(tcp::socket::shutdown_send);
    client_tail = co_await rig.client.read();
    co_await rig.relay_done();
  });
  ASSERT_EQ(at_server.size(), up.size());
  EXPECT_TRUE(at_server == up) << "the bytes the server got differ";
  ASSERT_EQ(at_client.data.size(), down.size());
  EXPECT_TRUE(at_client.data == down) << "the bytes the client got differ";
  EXPECT_EQ(server_tail, "");
  EXPECT_EQ(client_tail.data, "");
  expect_close_notify(client_tail);
  EXPECT_GE(allocated_when_idle, 1u);
  EXPECT_EQ(cached_when_idle, allocated_when_idle);
  const RelayResult& r = *rig.result;
  EXPECT_EQ(r.bytes_up, up.size());
  EXPECT_EQ(r.bytes_down, down.size());
  EXPECT_EQ(r.reason, base::Reason::eof);
  EXPECT_EQ(r.closed_by, base::Side::client);
}

// Each side ends right behind its last byte (close_notify, FIN) while the other side's bytes
// are still queued in the relay: every byte arrives before the end.
TEST(RelayTls, EndsRightBehindALargeTransferComeAfterAllTheBytes) {
  Rig rig;
  rig.small_buffers = true;
  const std::string up = byte_pattern(2 * 1024 * 1024 + 3, 123456789u);
  const std::string down = byte_pattern(3 * 1024 * 1024 + 11, 362436069u);
  std::string at_server;
  ClientRead at_client;
  rig.run([&]() -> awaitable<void> {
    co_await rig.start(kNoTimeout);
    auto client_send = [&]() -> awaitable<void> {
      const std::optional<SslEnd> end = co_await rig.client.write_all(up);
      EXPECT_FALSE(end) << end->describe();
      EXPECT_FALSE(co_await rig.client.send_close_notify());
    };
    auto client_receive = [&]() -> awaitable<void> { at_client = co_await rig.client.read(); };
    auto server_send = [&]() -> awaitable<void> {
      co_await server_write(rig.server, down);
      rig.server.shutdown(tcp::socket::shutdown_send);
    };
    auto server_receive = [&]() -> awaitable<void> {
      at_server = co_await server_read_to_eof(rig.server);
    };
    co_await (client_send() && client_receive() && server_send() && server_receive());
    co_await rig.relay_done();
  });
  expect_close_notify(at_client);
  ASSERT_EQ(at_server.size(), up.size());
  EXPECT_TRUE(at_server == up) << "the bytes the server got differ";
  ASSERT_EQ(at_client.data.size(), down.size());
  EXPECT_TRUE(at_client.data == down) << "the bytes the client got differ";
  const RelayResult& r = *rig.result;
  EXPECT_EQ(r.bytes_up, up.size());
  EXPECT_EQ(r.bytes_down, down.size());
  EXPECT_EQ(r.reason, base::Reason::eof);
}

// Unlike a close without close_notify (above), a client's reset is a reset.
TEST(RelayTls, ClientResetIsReportedAsTheClientsReset) {
  Rig rig;
  std::string at_server;
  rig.run([&]() -> awaitable<void> {
    co_await rig.start(kNoTimeout);
    EXPECT_FALSE(co_await rig.client.write_all("x"));
    EXPECT_EQ(co_await server_read(rig.server, 1), "x");
    rig.client.socket().set_option(asio::socket_base::linger(true, 0));
    rig.client.socket().close();  // RST
    co_await rig.relay_done();
    auto [ec, n] = co_await asio::async_read(rig.server, asio::dynamic_buffer(at_server), kAwait);
    EXPECT_EQ(ec, asio::error::eof) << ec.message();  // the gateway's close
  });
  const RelayResult& r = *rig.result;
  EXPECT_EQ(r.reason, base::Reason::reset);
  EXPECT_EQ(r.closed_by, base::Side::client);
  EXPECT_EQ(r.bytes_up, 1u);
  EXPECT_FALSE(r.detail.empty());
  EXPECT_EQ(at_server, "");
}

// An upstream reset ends both directions at once: the relay reports without waiting for the
// client, and the client's stream ends without close_notify (a cut it can tell from an end).
TEST(RelayTls, UpstreamResetIsReportedAndStopsBothDirections) {
  Rig rig;
  ClientRead got;
  rig.run([&]() -> awaitable<void> {
    co_await rig.start(kNoTimeout);
    EXPECT_FALSE(co_await rig.client.write_all("x"));
    EXPECT_EQ(co_await server_read(rig.server, 1), "x");
    rig.server.set_option(asio::socket_base::linger(true, 0));
    rig.server.close();  // RST
    co_await rig.relay_done();
    got = co_await rig.client.read();
  });
  const RelayResult& r = *rig.result;
  EXPECT_EQ(r.reason, base::Reason::reset);
  EXPECT_EQ(r.closed_by, base::Side::upstream);
  EXPECT_EQ(r.bytes_up, 1u);
  EXPECT_EQ(r.bytes_down, 0u);
  EXPECT_FALSE(r.detail.empty());
  EXPECT_EQ(got.data, "");
  ASSERT_TRUE(got.end.has_value());
  EXPECT_TRUE(got.end->cut()) << "a reset upstream must not look like a clean end: "
                              << got.end->describe();
  EXPECT_EQ(SSL_get_shutdown(rig.client.ssl()) & SSL_RECEIVED_SHUTDOWN, 0);
}

TEST(RelayTls, IdleTimeoutEndsAQuietTlsRelay) {
  Rig rig;
  ClientRead got;
  std::string at_server;
  rig.run([&]() -> awaitable<void> {
    co_await rig.start({std::chrono::milliseconds(50), std::chrono::milliseconds(0)});
    auto client_side = [&]() -> awaitable<void> { got = co_await rig.client.read(); };
    auto server_side = [&]() -> awaitable<void> {
      at_server = co_await server_read_to_eof(rig.server);
    };
    co_await (client_side() && server_side());
    co_await rig.relay_done();
  });
  const RelayResult& r = *rig.result;
  EXPECT_EQ(r.reason, base::Reason::idle_timeout);
  EXPECT_EQ(r.closed_by, base::Side::gateway);
  EXPECT_EQ(r.bytes_up, 0u);
  EXPECT_EQ(r.bytes_down, 0u);
  // Both ends see their connection end, with nothing relayed.
  EXPECT_EQ(got.data, "");
  ASSERT_TRUE(got.end.has_value());
  EXPECT_TRUE(got.end->cut()) << got.end->describe();
  EXPECT_EQ(at_server, "");
}

// The relay's close of a cleanly ended connection (close_notify sent) keeps the TLS session in
// the listener's cache: OpenSSL drops the session of an SSL freed without one.
TEST(RelayTls, SessionIsResumableAfterACleanRelayAndClose) {
  std::shared_ptr<SSL_SESSION> session;
  {
    Rig rig;
    ClientRead got;
    rig.run([&]() -> awaitable<void> {
      co_await rig.start(kNoTimeout);
      EXPECT_EQ(SSL_session_reused(rig.tls->native_handle()), 0);
      EXPECT_FALSE(co_await rig.client.write_all("ping"));
      EXPECT_EQ(co_await server_read(rig.server, 4), "ping");
      co_await server_write(rig.server, "pong");
      rig.server.shutdown(tcp::socket::shutdown_send);
      got = co_await rig.client.read();  // takes in the session ticket too
      session.reset(SSL_get1_session(rig.client.ssl()), &SSL_SESSION_free);
      EXPECT_FALSE(co_await rig.client.send_close_notify());
      EXPECT_EQ(co_await server_read_to_eof(rig.server), "");
      co_await rig.relay_done();
    });
    EXPECT_EQ(got.data, "pong");
    expect_close_notify(got);
    EXPECT_EQ(rig.result->reason, base::Reason::eof);
    // The rig's TlsSocket (the gateway's SSL) is freed here, as the gateway frees it.
  }
  ASSERT_TRUE(session);
  ASSERT_EQ(SSL_SESSION_is_resumable(session.get()), 1);

  Rig rig;
  int server_reused = -1, client_reused = -1;
  ClientRead got;
  rig.run([&]() -> awaitable<void> {
    co_await rig.start(kNoTimeout, session.get());
    server_reused = SSL_session_reused(rig.tls->native_handle());
    client_reused = SSL_session_reused(rig.client.ssl());
    EXPECT_FALSE(co_await rig.client.write_all("again"));
    EXPECT_FALSE(co_await rig.client.send_close_notify());
    EXPECT_EQ(co_await server_read_to_eof(rig.server), "again");
    rig.server.shutdown(tcp::socket::shutdown_send);
    got = co_await rig.client.read();
    co_await rig.relay_done();
  });
  EXPECT_EQ(server_reused, 1);
  EXPECT_EQ(client_reused, 1);
  expect_close_notify(got);
  EXPECT_EQ(rig.result->reason, base::Reason::eof);
  EXPECT_EQ(rig.result->bytes_up, 5u);
}

}  // namespace
}  // namespace egress::core
