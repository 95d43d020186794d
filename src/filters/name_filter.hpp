#pragma once

#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string_view>

#include "base/outcome.hpp"
#include "config/config.hpp"
#include "filters/filter.hpp"
#include "policy/store.hpp"
#include "resolve/name_verifier.hpp"

namespace egress::filters {

/// The resolver's verdict as the policy reads it (ConnectionFacts::name_verification).
policy::NameVerification to_name_verification(resolve::Verdict v) noexcept;

/// The name step (issue 19): for a connection whose decision can depend on a name, reads the
/// name the client sends and verifies it against the destination address. Runs after
/// tls_identity (on an mTLS-terminating listener its peek reads the decrypted stream) and before
/// the policy.
///
///  * Asks the running policy whether any hostname rule could match the connection (by client,
///    identity, destination address and port). When none could (or there is no policy or no
///    destination) it passes on at once: no wait, facts.name stays absent.
///  * Otherwise peeks at the client's first bytes, without consuming them, for at most
///    `peek.timeout` and `peek.max_bytes`: a TLS handshake record is read as a ClientHello (its
///    SNI, source sni; ech when offered), an HTTP/1.x request line as a request head (its Host,
///    source http_host). A ClientHello without SNI, a request without Host or with an IP-literal
///    Host, any other protocol, the client's end and the timeout give source none, with the
///    reason in NameFacts::detail; the decision is then made without a name.
///  * A ClientHello that cannot be read is denied client_hello_invalid, a request head that
///    cannot be read http_request_invalid, with the reader's detail.
///  * A name is verified with the worker's NameVerifier (the destination among the name's
///    answers) unless the policy's host_verification is off (not_checked, no lookup); why it is
///    unresolved is the detail ("DNS: NXDOMAIN").
///  * A CONNECT request's name (facts.name with source connect, set by the connect step) passes
///    at once: it is neither peeked for nor verified again. An IP-literal CONNECT runs as above.
/// The policy snapshot is not kept: the policy step takes its own when it decides.
class NameFilter final : public ConnectionFilter {
 public:
  /// `store` and `verifier` (the worker's) outlive the filter.
  NameFilter(const policy::PolicyStore& store, resolve::NameVerifier& verifier,
             config::PeekConfig peek)
      : store_(store), verifier_(verifier), peek_(peek) {}

  // ConnectionFilter
  std::string_view name() const noexcept override { return "name"; }
  boost::asio::awaitable<std::optional<base::Outcome>> on_connection(
      Facts& facts, FilterContext& context) override;

 private:
  const policy::PolicyStore& store_;
  resolve::NameVerifier& verifier_;
  config::PeekConfig peek_;
};

}  // namespace egress::filters
