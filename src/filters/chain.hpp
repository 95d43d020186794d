#pragma once

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <string>
#include <vector>

#include "base/outcome.hpp"
#include "filters/connection_limits.hpp"
#include "filters/filter.hpp"
#include "filters/listener_info.hpp"
#include "policy/store.hpp"
#include "resolve/name_verifier.hpp"
#include "upstream/loop_guard.hpp"

namespace egress::tls {
class ContextStore;
}

namespace egress::filters {

/// Gateway-wide services the filters use. Outlive every chain.
struct ChainServices {
  const policy::PolicyStore& policy;
  const upstream::LoopGuard& loop_guard;
  ConnectionLimits& limits;
};

/// One listener's filters on one worker, run in order for each connection.
class FilterChain {
 public:
  FilterChain() = default;
  FilterChain(FilterChain&&) = default;
  FilterChain& operator=(FilterChain&&) = default;

  void add(std::unique_ptr<ConnectionFilter> f) { filters_.push_back(std::move(f)); }

  /// Runs the steps in order until one returns an Outcome, and returns it. A chain whose steps
  /// all pass on without deciding denies (no_policy: fail closed). The connection is decided
  /// either way: its pending slot goes back (facts.slots.decided()). At debug level, logs one
  /// line per connection with each step's result (the name step's only when it looked at the
  /// bytes: "name sni api.stripe.com match").
  boost::asio::awaitable<base::Outcome> run(Facts& facts, FilterContext& context);

  /// The filters' names in order ("original_dst,admission,loop_guard,name,policy"), for the
  /// startup log.
  std::string describe() const;

 private:
  std::vector<std::unique_ptr<ConnectionFilter>> filters_;
};

/// Builds a listener's chain from its config. A transparent listener:
/// [proxy_protocol, with listeners[].proxy_protocol] → original_dst → admission → loop_guard →
/// [tls_identity, when tls.mode is not off] → name → policy. A `destination: connect` listener
/// (issue 20): [proxy_protocol] → admission → [tls_identity] → connect → loop_guard → name →
/// policy (the policy step excludes a CONNECT name's addresses that are the gateway). Created once
/// per listener (shared state such as a TLS context belongs here, shared by all workers); build()
/// is called once per worker, with that worker's own services.
class ChainFactory {
 public:
  /// Throws std::runtime_error with a clear message when the listener cannot be served (e.g.
  /// unusable TLS material).
  ChainFactory(const ListenerInfo& listener, ChainServices services);
  ~ChainFactory();
  ChainFactory(const ChainFactory&) = delete;
  ChainFactory& operator=(const ChainFactory&) = delete;

  /// A fresh chain for one worker. `names` is the worker's name verifier (its own resolver's
  /// cache; the name step verifies through it); it outlives the chain.
  FilterChain build(resolve::NameVerifier& names) const;

  /// The listener's TLS context store (one SSL_CTX shared by all workers), or null for
  /// tls.mode off.
  const tls::ContextStore* tls_store() const noexcept { return tls_.get(); }
  /// The same, for the gateway's reload (which reports each listener's result per part).
  tls::ContextStore* tls_store() noexcept { return tls_.get(); }

 private:
  const ListenerInfo& listener_;
  ChainServices services_;
  std::unique_ptr<tls::ContextStore> tls_;
};

}  // namespace egress::filters
