#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>

#include "audit/audit_log.hpp"
#include "config/config.hpp"
#include "core/metrics.hpp"
#include "core/session_io.hpp"
#include "filters/chain.hpp"
#include "filters/filter.hpp"
#include "policy/store.hpp"

namespace egress::core {

/// What serve() uses besides the connection. All outlive it.
struct SessionServices {
  filters::FilterChain& chain;  ///< the listener's chain on this worker
  audit::AuditLog& audit;
  /// The running policy: the version named by the records of connections denied before the
  /// policy step took its snapshot.
  const policy::PolicyStore& policy;
  WorkerMetrics& metrics;
  const config::UpstreamConfig& upstream;
};

/// Decides and connects one accepted connection: runs the chain over `facts` with `io` as its
/// FilterContext, counts the decision (and the TLS handshake, when one ran), writes the
/// connection.decision record (write-ahead: the upstream connect waits for it), and on an allow
/// connects upstream. True when the connection is allowed and connected (the relay comes next);
/// false when it was denied (the client ended as its Outcome says: RST, or FIN after a TLS alert)
/// or ended early after the allow (connect failure, drain, audit: a connection.close record and an
/// RST). Nothing is sent upstream before the decision record is written. A load balancer's PROXY
/// LOCAL connection (Reason::proxy_local) is the one outcome without a record: it is counted in
/// egressd_proxy_local_connections_total and closed.
boost::asio::awaitable<bool> serve(filters::Facts& facts,
                                   std::chrono::steady_clock::time_point accepted_at, SessionIo& io,
                                   const SessionServices& services);

}  // namespace egress::core
