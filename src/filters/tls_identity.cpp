#include "filters/tls_identity.hpp"

#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <utility>

namespace egress::filters {

namespace asio = boost::asio;

base::Reason to_errc(tls::DenyReason reason) noexcept {
  switch (reason) {
    case tls::DenyReason::no_client_cert:
      return base::Reason::no_client_cert;
    case tls::DenyReason::cert_verify_failed:
      return base::Reason::cert_verify_failed;
    case tls::DenyReason::invalid_svid:
      return base::Reason::invalid_svid;
    case tls::DenyReason::handshake_timeout:
      return base::Reason::handshake_timeout;
    case tls::DenyReason::tls_handshake_failed:
      break;
  }
  return base::Reason::tls_handshake_failed;
}

Verdict apply_handshake_outcome(core::Connection& conn, tls::HandshakeOutcome outcome) {
  if (outcome.identity) conn.identity = std::move(outcome.identity);
  conn.tls_version = std::move(outcome.tls_version);
  if (outcome.deny) {
    const base::Reason reason = to_errc(*outcome.deny);
    conn.metrics.tls_handshake(conn.listener.index, reason);
    conn.deny(reason, std::move(outcome.detail));
    return Verdict::Deny;
  }
  conn.metrics.tls_handshake(conn.listener.index, base::Reason{});
  return Verdict::Continue;
}

namespace {

/// Fires at the deadline. It also cancels the socket's pending operations itself, so the
/// handshake ends promptly whether or not the cancellation of `||` reaches the read under it.
asio::awaitable<void> deadline(asio::steady_timer& timer, core::Connection::tcp::socket& socket,
                               std::chrono::milliseconds timeout) {
  timer.expires_after(timeout);
  auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  if (ec) co_return;  // the handshake finished first
  boost::system::error_code ignored;
  socket.cancel(ignored);
}

}  // namespace

asio::awaitable<Verdict> TlsIdentityFilter::on_accept(core::Connection& conn) {
  using namespace asio::experimental::awaitable_operators;
  // The context of this connection: a reload swaps the store's pointer, the SSL keeps its own
  // reference to the SSL_CTX.
  const auto ctx = store_.current();
  conn.tls.emplace(conn.socket(), ctx->new_ssl());
  const auto timeout = ctx->handshake_timeout();
  auto result =
      co_await (conn.tls->async_handshake() || deadline(conn.timer(), conn.socket(), timeout));
  if (result.index() == 1) {
    co_return apply_handshake_outcome(conn, tls::handshake_timed_out(timeout));
  }
  const boost::system::error_code ec = std::get<0>(result);
  co_return apply_handshake_outcome(
      conn, tls::classify_handshake(*conn.tls->native_handle(), ctx->mode(), ec));
}

}  // namespace egress::filters
