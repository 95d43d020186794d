#pragma once

#include <boost/asio/awaitable.hpp>
#include <string_view>

#include "base/reason.hpp"
#include "filters/filter.hpp"
#include "tls/context_store.hpp"
#include "tls/handshake.hpp"
#include "tls/options.hpp"

namespace egress::filters {

/// The server-side TLS stage of a listener with tls.mode required or optional: wraps the
/// redirected socket in `conn.tls` with the listener's current SSL_CTX (one ContextStore per
/// listener, shared by every worker), runs the handshake raced against the context's
/// handshake_timeout on the connection's timer, then sets conn.identity / conn.tls_version or
/// denies with no_client_cert, cert_verify_failed, invalid_svid, handshake_timeout or
/// tls_handshake_failed and OpenSSL's detail. Runs after original_dst and the loop guard (the
/// destination belongs to the socket) and before the policy. Counts every handshake in
/// egressd_tls_handshakes_total by result.
class TlsIdentityFilter final : public ConnectionFilter {
 public:
  /// `store` outlives the filter (it belongs to the listener's ChainFactory). Mode and
  /// handshake_timeout are read from the store's current context (so a reload applies them);
  /// `options` is the listener's configuration that built it.
  TlsIdentityFilter(const tls::ContextStore& store, const tls::ListenerTlsOptions& /*options*/)
      : store_(store) {}

  // ConnectionFilter
  std::string_view name() const noexcept override { return "tls_identity"; }
  boost::asio::awaitable<Verdict> on_accept(core::Connection& conn) override;

 private:
  const tls::ContextStore& store_;
};

/// The data-path reason of a TLS deny.
base::Reason to_errc(tls::DenyReason reason) noexcept;

/// Applies a handshake outcome to `conn` (the synchronous part of on_accept): the identity and
/// TLS version when known (kept on a deny too, so the audit record shows whose certificate it
/// was), and on a deny conn.deny(reason, detail). Counts the result in conn.metrics.
Verdict apply_handshake_outcome(core::Connection& conn, tls::HandshakeOutcome outcome);

}  // namespace egress::filters
