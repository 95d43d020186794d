#include "filters/tls_identity.hpp"

#include <utility>

namespace egress::filters {

base::Reason to_reason(tls::DenyReason reason) noexcept {
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

std::optional<base::Outcome> apply_handshake_outcome(Facts& facts, tls::HandshakeOutcome outcome) {
  if (outcome.identity) facts.identity = std::move(outcome.identity);
  facts.tls_version = std::move(outcome.tls_version);
  if (!outcome.deny) {
    facts.tls_handshake = base::Reason{};
    return std::nullopt;
  }
  const base::Reason reason = to_reason(*outcome.deny);
  facts.tls_handshake = reason;
  // OpenSSL's alert is already on the wire: a FIN after it, so the client reads it.
  return base::Outcome::denied(reason, std::move(outcome.detail), base::Ending::close);
}

boost::asio::awaitable<std::optional<base::Outcome>> TlsIdentityFilter::on_connection(
    Facts& facts, FilterContext& context) {
  // The context of this connection: a reload swaps the store's pointer, the SSL keeps its own
  // reference to the SSL_CTX.
  const auto ctx = store_.current();
  co_return apply_handshake_outcome(facts,
                                    co_await context.tls_handshake(*ctx, ctx->handshake_timeout()));
}

}  // namespace egress::filters
