// The egressd agent's tunnel stream: over a real mTLS session on 127.0.0.1 (the agent's client
// context, a gateway's server context), the gateway's answer is read before any byte is handed
// on: 200 → only what follows it, 403 → via_denied, anything else → via_error.
#include "core/via_stream.hpp"

#include <array>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>

#include <gtest/gtest.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/via_tunnel.hpp"
#include "run_scenario.hpp"
#include "test_certs.hpp"
#include "tls/client_context.hpp"
#include "tls/context.hpp"

namespace egress::core {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using asio::ip::tcp;
using asio::experimental::awaitable_operators::operator&&;
using boost::system::error_code;
using Status = net::IoResult::Status;
constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);

std::shared_ptr<const tls::ServerContext> gateway_context() {
  static const auto ctx = [] {
    auto r = tls::build_server_context(tls::test::gateway_options(tls::Mode::required, ""));
    if (!r.context) throw std::runtime_error(r.error ? r.error->to_string() : "no context");
    return r.context;
  }();
  return ctx;
}

std::shared_ptr<const tls::ClientContext> agent_context() {
  static const auto ctx = [] {
    auto r = tls::build_client_context({tls::test::cert_file("payments.pem"),
                                        tls::test::cert_file("payments.key"),
                                        tls::test::cert_file("ca.pem"), "egressd.local"});
    if (!r.context) throw std::runtime_error(r.error ? r.error->to_string() : "no context");
    return r.context;
  }();
  return ctx;
}

template <class Stream>
awaitable<net::IoResult> drive(Stream& s, const std::function<net::IoResult()>& op) {
  for (;;) {
    const net::IoResult r = op();
    if (r.status != Status::want_read && r.status != Status::want_write) co_return r;
    auto [ec] = co_await s.socket().async_wait(
        r.status == Status::want_read ? tcp::socket::wait_read : tcp::socket::wait_write, kAwait);
    if (ec) co_return net::IoResult::failed(ec);
  }
}

awaitable<error_code> handshake(tls::TlsSocket& t) {
  co_return co_await t.async_handshake();
}

awaitable<void> write(tls::TlsSocket& t, const std::string& text) {
  const auto* p = reinterpret_cast<const std::byte*>(text.data());
  std::size_t done = 0;
  while (done < text.size()) {
    const auto r = co_await drive(t, [&] { return t.write_some(p + done, text.size() - done); });
    if (r.status != Status::done) throw std::runtime_error("gateway write failed");
    done += r.bytes;
  }
}

// The gateway's answer, written as `pieces` (each its own TLS record, a pause between), then what
// the agent's ViaStream reads until the gateway's end or a failure.
struct Seen {
  std::string data;
  Status end = Status::done;
  std::string head_at_gateway;  // what the agent wrote first
};

awaitable<Seen> exchange(const std::vector<std::string>& pieces) {
  auto ex = co_await asio::this_coro::executor;
  tcp::acceptor acceptor(ex, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  tcp::socket agent_socket(ex), gateway_socket(ex);
  co_await agent_socket.async_connect(acceptor.local_endpoint(), asio::use_awaitable);
  co_await acceptor.async_accept(gateway_socket, asio::use_awaitable);
  tls::TlsSocket gateway(gateway_socket, gateway_context()->new_ssl());
  tls::TlsSocket agent(agent_socket, agent_context()->new_ssl("gw"), tls::TlsSocket::Role::client);
  auto [gec, aec] = co_await (handshake(gateway) && handshake(agent));
  if (gec || aec) throw std::runtime_error("handshake: " + gec.message() + " / " + aec.message());

  Seen seen;
  const std::string head = connect_head(*base::Endpoint::parse("203.0.113.10:443"), "a1-7");
  const auto* hp = reinterpret_cast<const std::byte*>(head.data());
  co_await drive(agent, [&] { return agent.write_some(hp, head.size()); });
  std::array<std::byte, 4096> buf{};
  const auto got = co_await drive(gateway, [&] { return gateway.read_some(buf.data(), 4096); });
  seen.head_at_gateway.assign(reinterpret_cast<const char*>(buf.data()), got.bytes);

  auto gateway_side = [&]() -> awaitable<void> {
    asio::steady_timer pause(ex);
    for (const auto& piece : pieces) {
      co_await write(gateway, piece);
      pause.expires_after(std::chrono::milliseconds(20));
      co_await pause.async_wait(kAwait);
    }
    co_await drive(gateway, [&] { return gateway.shutdown_send(); });
  };
  ViaStream via(agent);
  auto agent_side = [&]() -> awaitable<void> {
    for (;;) {
      const auto r = co_await drive(via, [&] { return via.read_some(buf.data(), buf.size()); });
      if (r.status != Status::done) {
        seen.end = r.status;
        co_return;
      }
      seen.data.append(reinterpret_cast<const char*>(buf.data()), r.bytes);
    }
  };
  co_await (gateway_side() && agent_side());
  if (via.refusal()) {
    seen.data += "|refused " + std::string(base::to_string(via.refusal()->reason)) + ": " +
                 via.refusal()->detail;
  }
  seen.data += "|decision " + via.decision();
  co_return seen;
}

Seen run_exchange(const std::vector<std::string>& pieces) {
  asio::io_context io;
  Seen out;
  const bool finished =
      egress::test::run_scenario(io, [&]() -> awaitable<void> { out = co_await exchange(pieces); });
  if (!finished) throw std::runtime_error("the scenario hung");
  return out;
}

TEST(ViaStream, TheAgentSendsItsConnectHead) {
  const Seen s = run_exchange({"HTTP/1.1 200 Connection established\r\n\r\n"});
  EXPECT_EQ(s.head_at_gateway,
            "CONNECT 203.0.113.10:443 HTTP/1.1\r\nHost: 203.0.113.10:443\r\n"
            "Egressd-Agent-Conn: a1-7\r\n\r\n");
}

TEST(ViaStream, After200OnlyTheUpstreamsBytesArrive) {
  // The answer alone in its record, then the upstream's bytes (an HTTP response, which must not
  // be taken for a second answer), then more.
  const Seen s =
      run_exchange({"HTTP/1.1 200 Connection established\r\nEgressd-Decision: g-1\r\n\r\n",
                    "HTTP/1.0 200 OK\r\n\r\nhello", " world"});
  EXPECT_EQ(s.data, "HTTP/1.0 200 OK\r\n\r\nhello world|decision g-1");
  EXPECT_EQ(s.end, Status::eof);
}

TEST(ViaStream, BytesBehindThe200InTheSameRecordArrive) {
  const Seen s = run_exchange({"HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x03tls"});
  EXPECT_EQ(s.data, "\x16\x03\x03tls|decision ");
}

TEST(ViaStream, A403IsViaDeniedWithItsStatusLineAndBody) {
  const std::string body = "egressd: CONNECT 203.0.113.10:443 denied: default (policy v1)\n";
  const Seen s =
      run_exchange({"HTTP/1.1 403 Forbidden\r\nEgressd-Decision: g-2\r\nConnection: close\r\n"
                    "Content-Type: text/plain\r\nContent-Length: " +
                        std::to_string(body.size()) + "\r\n\r\n" + body.substr(0, 10),
                    body.substr(10)});
  EXPECT_EQ(s.end, Status::error);
  EXPECT_EQ(s.data,
            "|refused via_denied: HTTP/1.1 403 Forbidden: egressd: CONNECT 203.0.113.10:443 "
            "denied: default (policy v1)|decision g-2");
}

TEST(ViaStream, AnythingElseIsViaError) {
  Seen s = run_exchange({"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 8\r\n\r\nrefused\n"});
  EXPECT_EQ(s.data, "|refused via_error: HTTP/1.1 502 Bad Gateway: refused|decision ");
  s = run_exchange({"SSH-2.0-OpenSSH_9.2\r\n"});
  EXPECT_EQ(s.data.substr(0, 48), "|refused via_error: the gateway's answer: not an");
  s = run_exchange({});
  EXPECT_EQ(s.data,
            "|refused via_error: the gateway's answer: the gateway closed the connection before "
            "its answer's end|decision ");
}

}  // namespace
}  // namespace egress::core
