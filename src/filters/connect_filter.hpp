#pragma once

#include <chrono>

#include "filters/filter.hpp"
#include "resolve/name_verifier.hpp"

namespace egress::filters {

/// The connect step of a `destination: connect` listener (issue 20): reads the CONNECT request
/// that opens the tunnel and says where the client asked to go. After admission and
/// tls_identity (inside an mTLS listener the request arrives over TLS), before loop_guard.
///
///  * Peeks the client's first bytes with peek::ConnectRequestReader until its head ends, at
///    most `timeout` from the step's start. A refused request is denied connect_request_invalid
///    with facts.connect->status (400, 405, 431) and ->detail the reader's one-line reason (the
///    session answers them); a head not ended in time (or before the client's end) is denied
///    connect_request_timeout (no answer: the connection is closed). Denies end with a FIN.
///  * A complete head is consumed (FilterContext::discard): the upstream never sees it, the
///    bytes after it are the tunnel's. facts.connect = {name or empty, port, agent_conn}.
///  * An IP literal: facts.dst = {address, port}; loop_guard, name and policy then run as for a
///    transparent connection to that address.
///  * A name: resolved through `names` (the worker's verifier: the held answers shared by every
///    worker, one lookup when none is held). No address → deny name_unresolved ("DNS:
///    NXDOMAIN"). Otherwise facts.name = {host: the name, source connect, verified match,
///    dns_answers: every address}; facts.dst stays empty until the policy step has chosen among
///    them (a PROXY header's destination, the gateway itself, is dropped).
class ConnectFilter final : public ConnectionFilter {
 public:
  /// `names` (the worker's) outlives the filter.
  ConnectFilter(resolve::NameVerifier& names, std::chrono::milliseconds timeout)
      : names_(names), timeout_(timeout) {}

  // ConnectionFilter
  std::string_view name() const noexcept override { return "connect"; }
  boost::asio::awaitable<std::optional<base::Outcome>> on_connection(
      Facts& facts, FilterContext& context) override;

 private:
  resolve::NameVerifier& names_;
  std::chrono::milliseconds timeout_;
};

}  // namespace egress::filters
