#pragma once

#include "filters/filter.hpp"
#include "upstream/loop_guard.hpp"

namespace egress::filters {

/// Denies `loop` when the original destination is the gateway itself (see upstream::LoopGuard).
/// Always in the chain, before any TLS handshake. Never waits.
class LoopGuardFilter final : public ConnectionFilter {
 public:
  explicit LoopGuardFilter(const upstream::LoopGuard& guard) : guard_(guard) {}

  // ConnectionFilter
  std::string_view name() const noexcept override { return "loop_guard"; }
  boost::asio::awaitable<std::optional<base::Outcome>> on_connection(
      Facts& facts, FilterContext& /*context*/) override {
    if (facts.dst && guard_.is_loop(*facts.dst)) {
      co_return base::Outcome::denied(base::Reason::loop,
                                      "destination " + facts.dst->to_string() + " is the gateway");
    }
    co_return std::nullopt;
  }

 private:
  const upstream::LoopGuard& guard_;
};

}  // namespace egress::filters
