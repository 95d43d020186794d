#include "filters/chain.hpp"

#include "filters/loop_guard_filter.hpp"
#include "filters/original_dst.hpp"
#include "filters/policy_filter.hpp"
#include "tls/context_store.hpp"

// The TLS stage (written with the tls library) plugs in here: filters/tls_identity.hpp declares
//   class TlsIdentityFilter : public ConnectionFilter {
//     TlsIdentityFilter(const tls::ContextStore& store, const tls::ListenerTlsOptions& options);
//   };
#if __has_include("filters/tls_identity.hpp")
#include "filters/tls_identity.hpp"
#define EGRESS_HAVE_TLS_FILTER 1
#endif

namespace egress::filters {

boost::asio::awaitable<Verdict> FilterChain::run(core::Connection& conn) {
  for (const auto& f : filters_) {
    if (co_await f->on_accept(conn) == Verdict::Deny) co_return Verdict::Deny;
  }
  co_return Verdict::Continue;
}

std::string FilterChain::describe() const {
  std::string out;
  for (const auto& f : filters_) {
    if (!out.empty()) out += ",";
    out += f->name();
  }
  return out;
}

ChainFactory::ChainFactory(const core::ListenerInfo& listener, ChainServices services)
    : listener_(listener), services_(services) {
  const auto& options = listener_.config.tls;
  if (options.mode == tls::Mode::off) return;
  const std::string where = "listeners[" + std::to_string(listener_.index) + "].tls";
#ifndef EGRESS_HAVE_TLS_FILTER
  throw std::runtime_error(where + ": TLS listeners are not supported by this build yet");
#endif
  tls::ContextError error;
  tls_ = tls::ContextStore::create(options, error);
  if (!tls_)
    throw std::runtime_error(where + (error.option.empty() ? ": " : ".") + error.to_string());
}

ChainFactory::~ChainFactory() = default;

FilterChain ChainFactory::build() const {
  FilterChain chain;
  chain.add(std::make_unique<OriginalDstFilter>(listener_.config.destination));
  chain.add(std::make_unique<LoopGuardFilter>(services_.loop_guard));
#ifdef EGRESS_HAVE_TLS_FILTER
  if (tls_) chain.add(std::make_unique<TlsIdentityFilter>(*tls_, listener_.config.tls));
#endif
  chain.add(std::make_unique<PolicyFilter>(services_.policy));
  return chain;
}

std::vector<std::string> ChainFactory::reload() {
  if (!tls_) return {};
  // Same files, read again; on failure the running context stays.
  if (auto error = tls_->reload()) {
    return {"listeners[" + std::to_string(listener_.index) + "].tls" +
            (error->option.empty() ? ": " : ".") + error->to_string() +
            " (keeping the running TLS material)"};
  }
  return {};
}

}  // namespace egress::filters
