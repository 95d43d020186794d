#include "tls/client_context.hpp"

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
#include <boost/asio/use_awaitable.hpp>

#include "run_scenario.hpp"
#include "test_certs.hpp"
#include "tls/context.hpp"
#include "tls/handshake.hpp"
#include "tls/tls_socket.hpp"

namespace egress::tls {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using asio::ip::tcp;
using asio::experimental::awaitable_operators::operator&&;
using boost::system::error_code;
using Status = net::IoResult::Status;
constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);

std::shared_ptr<const ServerContext> server_context() {
  static const std::shared_ptr<const ServerContext> ctx = [] {
    BuildResult r = build_server_context(test::gateway_options(Mode::required, ""));
    if (!r.context) throw std::runtime_error(r.error ? r.error->to_string() : "no context");
    return r.context;
  }();
  return ctx;
}

ClientTlsOptions agent_options(const std::string& server_name = "egressd.local") {
  return {test::cert_file("payments.pem"), test::cert_file("payments.key"),
          test::cert_file("ca.pem"), server_name};
}

std::shared_ptr<const ClientContext> client_context(const std::string& server_name) {
  ClientBuildResult r = build_client_context(agent_options(server_name));
  if (!r.context) throw std::runtime_error(r.error ? r.error->to_string() : "no context");
  return r.context;
}

awaitable<net::IoResult> drive(TlsSocket& tls, const std::function<net::IoResult()>& op) {
  for (;;) {
    const net::IoResult r = op();
    if (r.status != Status::want_read && r.status != Status::want_write) co_return r;
    auto [ec] = co_await tls.socket().async_wait(r.status == Status::want_read
                                                     ? asio::socket_base::wait_read
                                                     : asio::socket_base::wait_write,
                                                 kAwait);
    if (ec) co_return net::IoResult::failed(ec);
  }
}

awaitable<error_code> handshake(TlsSocket& tls) {
  co_return co_await tls.async_handshake();
}

// One loopback connection: the server end a TlsSocket with the dev gateway certificate (client
// certificates required), the client end a client TlsSocket of `client`.
struct Link {
  explicit Link(asio::any_io_executor ex) : server_socket(ex), client_socket(ex) {}
  tcp::socket server_socket;
  tcp::socket client_socket;
  std::unique_ptr<TlsSocket> server;
  std::unique_ptr<TlsSocket> client;
  error_code server_ec;
  error_code client_ec;
};

awaitable<void> establish(Link& l, const ClientContext& client, const std::string& key) {
  auto ex = co_await asio::this_coro::executor;
  tcp::acceptor acceptor(ex, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  co_await l.client_socket.async_connect(acceptor.local_endpoint(), asio::use_awaitable);
  co_await acceptor.async_accept(l.server_socket, asio::use_awaitable);
  l.server = std::make_unique<TlsSocket>(l.server_socket, server_context()->new_ssl());
  l.client =
      std::make_unique<TlsSocket>(l.client_socket, client.new_ssl(key), TlsSocket::Role::client);
  std::tie(l.server_ec, l.client_ec) = co_await (handshake(*l.server) && handshake(*l.client));
}

// The server writes `text`; the client reads it (which also takes a TLS 1.3 ticket in).
awaitable<std::string> server_to_client(Link& l, const std::string& text) {
  const auto* p = reinterpret_cast<const std::byte*>(text.data());
  const auto w = co_await drive(*l.server, [&] { return l.server->write_some(p, text.size()); });
  if (w.status != Status::done) co_return "write failed";
  std::array<std::byte, 256> buf{};
  const auto r = co_await drive(*l.client, [&] { return l.client->read_some(buf.data(), 256); });
  if (r.status != Status::done) co_return "read failed";
  co_return std::string(reinterpret_cast<const char*>(buf.data()), r.bytes);
}

void run(const std::function<awaitable<void>()>& scenario) {
  asio::io_context io;
  ASSERT_TRUE(egress::test::run_scenario(io, scenario)) << "the scenario hung";
}

TEST(ClientContext, MutualHandshakeSendsSniAndTheAgentsCertificate) {
  const auto client = client_context("egressd.local");
  run([&]() -> awaitable<void> {
    Link l(co_await asio::this_coro::executor);
    co_await establish(l, *client, "gw:1");
    EXPECT_FALSE(l.client_ec) << l.client_ec.message();
    if (l.server_ec) {
      ADD_FAILURE() << "l.server_ec" << l.server_ec.message();
      co_return;
    }
    const char* sni = SSL_get_servername(l.server->native_handle(), TLSEXT_NAMETYPE_host_name);
    if ((sni) == (nullptr)) {
      ADD_FAILURE() << "sni, nullptr";
      co_return;
    }
    EXPECT_STREQ(sni, "egressd.local");
    const HandshakeOutcome out =
        classify_handshake(*l.server->native_handle(), Mode::required, l.server_ec);
    if (!(out.allowed())) {
      ADD_FAILURE() << "out.allowed()" << out.detail;
      co_return;
    }
    if (!(out.identity.has_value())) {
      ADD_FAILURE() << "out.identity.has_value()";
      co_return;
    }
    EXPECT_EQ(out.identity->spiffe_id, "spiffe://corp.example/ns/payments/sa/api");
    EXPECT_EQ(co_await server_to_client(l, "hello"), "hello");
  });
}

TEST(ClientContext, AGatewayCertificateWithoutTheServerNameIsRefused) {
  const auto client = client_context("gateway.corp.example");
  run([&]() -> awaitable<void> {
    Link l(co_await asio::this_coro::executor);
    co_await establish(l, *client, "gw:1");
    if (!(l.client_ec)) {
      ADD_FAILURE() << "l.client_ec";
      co_return;
    }
    EXPECT_EQ(client_handshake_error(*l.client->native_handle(), l.client_ec),
              "certificate verify failed: hostname mismatch");
  });
}

TEST(ClientContext, AnIpServerNameIsCheckedAgainstTheCertificatesIpSans) {
  // The dev gateway certificate carries IP:127.0.0.1 but no such DNS name.
  const auto good = client_context("127.0.0.1");
  const auto bad = client_context("192.0.2.99");
  run([&]() -> awaitable<void> {
    Link l(co_await asio::this_coro::executor);
    co_await establish(l, *good, "gw:1");
    EXPECT_FALSE(l.client_ec) << l.client_ec.message();
    EXPECT_EQ(SSL_get_servername(l.server->native_handle(), TLSEXT_NAMETYPE_host_name), nullptr)
        << "no SNI for an IP literal (RFC 6066 section 3)";
    Link m(co_await asio::this_coro::executor);
    co_await establish(m, *bad, "gw:1");
    if (!(m.client_ec)) {
      ADD_FAILURE() << "m.client_ec";
      co_return;
    }
    EXPECT_EQ(client_handshake_error(*m.client->native_handle(), m.client_ec),
              "certificate verify failed: IP address mismatch");
  });
}

TEST(ClientContext, TheNextConnectionToTheSameGatewayResumesItsSession) {
  const auto client = client_context("egressd.local");
  run([&]() -> awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    Link first(ex);
    co_await establish(first, *client, "gw:1");
    if (first.client_ec) {
      ADD_FAILURE() << "first.client_ec" << first.client_ec.message();
      co_return;
    }
    EXPECT_EQ(SSL_session_reused(first.client->native_handle()), 0);
    EXPECT_EQ(co_await server_to_client(first, "one"), "one");
    EXPECT_TRUE(client->has_session("gw:1"));
    EXPECT_FALSE(client->has_session("gw:2")) << "sessions are kept per gateway";

    Link second(ex);
    co_await establish(second, *client, "gw:1");
    if (second.client_ec) {
      ADD_FAILURE() << "second.client_ec" << second.client_ec.message();
      co_return;
    }
    EXPECT_EQ(SSL_session_reused(second.client->native_handle()), 1);
    EXPECT_EQ(SSL_session_reused(second.server->native_handle()), 1);
    const HandshakeOutcome out =
        classify_handshake(*second.server->native_handle(), Mode::required, second.server_ec);
    if (!(out.identity.has_value())) {
      ADD_FAILURE() << "out.identity.has_value()"
                    << "a resumed session still names the agent";
      co_return;
    }
    EXPECT_EQ(out.identity->spiffe_id, "spiffe://corp.example/ns/payments/sa/api");

    Link other(ex);
    co_await establish(other, *client, "gw:2");
    if (other.client_ec) {
      ADD_FAILURE() << "other.client_ec";
      co_return;
    }
    EXPECT_EQ(SSL_session_reused(other.client->native_handle()), 0);
  });
}

TEST(ClientContext, BuildNamesTheOptionAndFileThatFailed) {
  auto o = agent_options();
  o.cert = test::cert_file("no-such.pem");
  auto r = build_client_context(o);
  ASSERT_FALSE(r.context);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->option, "cert");
  EXPECT_EQ(r.error->file, o.cert);

  o = agent_options();
  o.key = test::cert_file("gateway.key");
  r = build_client_context(o);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->option, "key");
  EXPECT_NE(r.error->message.find("does not match"), std::string::npos) << r.error->message;

  o = agent_options();
  o.ca = test::cert_file("payments.pem");
  r = build_client_context(o);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->option, "ca");
  EXPECT_NE(r.error->message.find("is not a CA certificate"), std::string::npos);

  o = agent_options("");
  r = build_client_context(o);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->option, "server_name");
}

}  // namespace
}  // namespace egress::tls
