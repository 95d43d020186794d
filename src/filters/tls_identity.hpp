#pragma once

#include <boost/asio/awaitable.hpp>
#include <optional>
#include <string_view>

#include "base/outcome.hpp"
#include "base/reason.hpp"
#include "filters/filter.hpp"
#include "tls/context_store.hpp"
#include "tls/handshake.hpp"

namespace egress::filters {

/// The server-side TLS step of a listener with tls.mode required or optional: asks the context
/// for a handshake with the listener's current SSL_CTX (one ContextStore per listener, shared by
/// every worker) within the context's handshake_timeout, then attaches the identity, TLS version
/// and handshake result to the facts, or denies with no_client_cert, cert_verify_failed,
/// invalid_svid, handshake_timeout or tls_handshake_failed and OpenSSL's detail. A deny ends the
/// client's connection with a FIN (Ending::close): OpenSSL's alert is already on the wire and an
/// RST could discard it. Runs after original_dst, admission and the loop guard (the destination
/// belongs to the socket) and before the policy.
class TlsIdentityFilter final : public ConnectionFilter {
 public:
  /// `store` outlives the filter (it belongs to the listener's ChainFactory). Mode and
  /// handshake_timeout are read from the store's current context (so a reload applies them).
  explicit TlsIdentityFilter(const tls::ContextStore& store) : store_(store) {}

  // ConnectionFilter
  std::string_view name() const noexcept override { return "tls_identity"; }
  boost::asio::awaitable<std::optional<base::Outcome>> on_connection(
      Facts& facts, FilterContext& context) override;

 private:
  const tls::ContextStore& store_;
};

/// The data-path reason of a TLS deny.
base::Reason to_reason(tls::DenyReason reason) noexcept;

/// Applies a handshake outcome to `facts` (the synchronous part of on_connection): the identity
/// and TLS version when known (kept on a deny too, so the audit record shows whose certificate it
/// was) and the handshake's result; on a deny the Outcome (Ending::close).
std::optional<base::Outcome> apply_handshake_outcome(Facts& facts, tls::HandshakeOutcome outcome);

}  // namespace egress::filters
