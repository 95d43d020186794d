#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace egress::core {

class Worker;

/// Serves one accepted connection: the listener's chain (original_dst, admission, loop_guard,
/// [tls_identity], policy) → connection.decision record (write-ahead) → upstream connect (serve(),
/// core/serve.hpp) → relay → connection.close record. The Connection lives on the heap: this
/// coroutine owns it until the upstream is connected, then hands it to the callback relay
/// (core/relay.hpp), whose completion handler writes the close record and frees it, so an idle
/// relayed connection keeps no coroutine frame. A deny at any step ends the client as its Outcome
/// says (an RST, or a FIN after a TLS alert) and nothing is sent upstream. Never throws. `peer` is
/// the client's address as accept() returned it.
boost::asio::awaitable<void> serve_connection(Worker& worker, std::size_t listener,
                                              boost::asio::ip::tcp::socket socket,
                                              boost::asio::ip::tcp::endpoint peer);

}  // namespace egress::core
