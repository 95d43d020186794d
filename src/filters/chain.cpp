#include "filters/chain.hpp"

#include "filters/loop_guard_filter.hpp"
#include "filters/original_dst.hpp"
#include "filters/policy_filter.hpp"

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
  if (listener_.config.tls.mode != tls::Mode::off) {
    throw std::runtime_error("listeners[" + std::to_string(listener_.index) +
                             "].tls: TLS listeners are not supported by this build yet");
  }
}

ChainFactory::~ChainFactory() = default;

FilterChain ChainFactory::build() const {
  FilterChain chain;
  chain.add(std::make_unique<OriginalDstFilter>(listener_.config.destination));
  chain.add(std::make_unique<LoopGuardFilter>(services_.loop_guard));
  chain.add(std::make_unique<PolicyFilter>(services_.policy));
  return chain;
}

std::vector<std::string> ChainFactory::reload() {
  return {};
}

}  // namespace egress::filters
