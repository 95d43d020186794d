#include "handshake_harness.hpp"

#include <chrono>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "test_certs.hpp"
#include "tls/tls_socket.hpp"

namespace egress::tls::test {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);

// The data path's server side: tls::TlsSocket over the accepted socket.
asio::awaitable<void> serve_tls_socket(tcp::acceptor& acceptor, const ServerContext& ctx,
                                       HandshakeRun& run) {
  auto [aec, socket] = co_await acceptor.async_accept(kAwait);
  if (aec) co_return;
  {
    TlsSocket tls(socket, ctx.new_ssl());
    const boost::system::error_code ec = co_await tls.async_handshake();
    run.server = classify_handshake(*tls.native_handle(), ctx.mode(), ec);
    run.resumed = !ec && SSL_session_reused(tls.native_handle()) == 1;
    // A clean close_notify keeps the session in the server cache (OpenSSL drops sessions of
    // connections closed without one).
    while (!ec && tls.shutdown_send().status == net::IoResult::Status::want_write) {
      co_await socket.async_wait(tcp::socket::wait_write, kAwait);
    }
  }
  socket.close();
  run.server_done = true;
}

// The reference it replaced: boost::asio::ssl::stream over the accepted socket.
asio::awaitable<void> serve_asio_stream(tcp::acceptor& acceptor, const ServerContext& ctx,
                                        HandshakeRun& run) {
  auto [aec, socket] = co_await acceptor.async_accept(kAwait);
  if (aec) co_return;
  asio::ssl::stream<tcp::socket&> stream(socket, ctx.new_ssl().release());
  auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, kAwait);
  run.server = classify_handshake(*stream.native_handle(), ctx.mode(), ec);
  run.resumed = !ec && SSL_session_reused(stream.native_handle()) == 1;
  if (!ec) co_await stream.async_shutdown(kAwait);
  socket.close();
  run.server_done = true;
}

asio::awaitable<void> connect(tcp::endpoint server, const ClientSpec& spec, HandshakeRun& run) {
  auto executor = co_await asio::this_coro::executor;
  tcp::socket socket(executor);
  auto [cec] = co_await socket.async_connect(server, kAwait);
  if (cec) co_return;
  if (spec.close_at_once) co_return;
  if (spec.plain_bytes) {
    co_await asio::async_write(socket, asio::buffer(*spec.plain_bytes), kAwait);
    socket.shutdown(tcp::socket::shutdown_send);
    char buf[256];
    co_await socket.async_read_some(asio::buffer(buf), kAwait);
    co_return;
  }
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.set_verify_mode(asio::ssl::verify_peer);
  ctx.load_verify_file(cert_file("ca.pem").string());
  if (!spec.cert.empty()) {
    const std::filesystem::path dir = spec.dir.empty() ? cert_dir() : spec.dir;
    const std::string pem = (dir / (spec.cert + ".pem")).string();
    if (spec.leaf_only) {
      ctx.use_certificate_file(pem, asio::ssl::context::pem);
    } else {
      ctx.use_certificate_chain_file(pem);
    }
    ctx.use_private_key_file((dir / (spec.cert + ".key")).string(), asio::ssl::context::pem);
  }
  if (spec.max_version != 0) SSL_CTX_set_max_proto_version(ctx.native_handle(), spec.max_version);
  asio::ssl::stream<tcp::socket> stream(std::move(socket), ctx);
  SSL_set_tlsext_host_name(stream.native_handle(), "egressd.local");
  if (spec.resume != nullptr) SSL_set_session(stream.native_handle(), spec.resume);
  auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::client, kAwait);
  run.client_handshake = hec;
  if (hec) co_return;
  char buf[256];
  auto [rec, n] = co_await stream.async_read_some(asio::buffer(buf), kAwait);
  run.client_read = rec;
  run.client_read_message = rec.message();
  run.client_session.reset(SSL_get1_session(stream.native_handle()), &SSL_SESSION_free);
  if (rec == asio::error::eof) co_await stream.async_shutdown(kAwait);
}

}  // namespace

ClientSpec tls_client(const std::string& cert, int max_version, SSL_SESSION* resume) {
  ClientSpec spec;
  spec.cert = cert;
  spec.max_version = max_version;
  spec.resume = resume;
  return spec;
}

ClientSpec plain_client(std::string bytes) {
  ClientSpec spec;
  spec.plain_bytes = std::move(bytes);
  return spec;
}

ClientSpec silent_client() {
  ClientSpec spec;
  spec.close_at_once = true;
  return spec;
}

namespace {

template <class Serve>
HandshakeRun run_with(const ServerContext& ctx, const ClientSpec& client, Serve serve) {
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  HandshakeRun run;
  asio::co_spawn(io, serve(acceptor, ctx, run), asio::detached);
  asio::co_spawn(io, connect(acceptor.local_endpoint(), client, run), asio::detached);
  // A safety net against a hung test, not a timing assertion.
  io.run_for(std::chrono::seconds(20));
  return run;
}

}  // namespace

HandshakeRun run_handshake(const ServerContext& ctx, const ClientSpec& client) {
  return run_with(ctx, client, serve_tls_socket);
}

HandshakeRun run_handshake_asio_stream(const ServerContext& ctx, const ClientSpec& client) {
  return run_with(ctx, client, serve_asio_stream);
}

}  // namespace egress::tls::test
