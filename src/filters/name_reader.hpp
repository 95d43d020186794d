#pragma once

#include <boost/asio/awaitable.hpp>
#include <optional>

#include "base/outcome.hpp"
#include "config/config.hpp"
#include "filters/filter.hpp"

namespace egress::filters {

/// Reads the name a client's first bytes carry, without consuming them (issue 19): peeks through
/// `context` for at most `peek.timeout` and `peek.max_bytes`; a TLS handshake record is read as a
/// ClientHello (its SNI: source sni; ech when offered), an HTTP/1.x request line as a request
/// head (its Host: source http_host). A ClientHello without SNI, a request without Host or with
/// an IP-literal Host, any other protocol, the client's end and the timeout leave source none,
/// with the reason in `out.detail`. Fills `out`'s host, source, ech and detail (nothing else).
/// Returns an Outcome when the bytes cannot be read: client_hello_invalid or
/// http_request_invalid with the reader's detail. Used by the name step and, for a CONNECT name,
/// by the session after its 200 (the name inside the tunnel must be the CONNECT name).
boost::asio::awaitable<std::optional<base::Outcome>> read_name(FilterContext& context,
                                                               const config::PeekConfig& peek,
                                                               NameFacts& out);

}  // namespace egress::filters
