#pragma once

// The one Asio-facing piece of the tls library: a boost::asio::ssl::stream over an accepted
// socket, using a ServerContext's shared SSL_CTX.

#include <utility>

#include <boost/asio/ssl/stream.hpp>

#include "tls/context.hpp"

namespace egress::tls {

/// A server-side TLS stream over `next_layer` (e.g. `tcp::socket&` to borrow the connection's
/// socket, or `tcp::socket` to move it in) whose SSL comes from `ctx.new_ssl()`. The stream owns
/// the SSL; the SSL holds a reference to the SSL_CTX, so the stream stays valid after a reload
/// replaces `ctx`. Throws std::bad_alloc if OpenSSL cannot allocate.
///
///   auto tls = make_server_stream<tcp::socket&>(socket, *ctx);
///   auto [ec] = co_await tls.async_handshake(ssl::stream_base::server, as_tuple(use_awaitable));
template <class NextLayer, class Arg>
boost::asio::ssl::stream<NextLayer> make_server_stream(Arg&& next_layer, const ServerContext& ctx) {
  return boost::asio::ssl::stream<NextLayer>(std::forward<Arg>(next_layer),
                                             ctx.new_ssl().release());
}

}  // namespace egress::tls
