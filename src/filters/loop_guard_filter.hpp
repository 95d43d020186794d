#pragma once

#include "filters/filter.hpp"
#include "upstream/loop_guard.hpp"

namespace egress::filters {

/// Denies `loop` when the original destination is the gateway itself (see upstream::LoopGuard).
/// Always in the chain, right after original_dst, so a loop is refused before any TLS handshake.
class LoopGuardFilter final : public ConnectionFilter {
 public:
  explicit LoopGuardFilter(const upstream::LoopGuard& guard) : guard_(guard) {}

  // ConnectionFilter
  std::string_view name() const noexcept override { return "loop_guard"; }
  boost::asio::awaitable<Verdict> on_accept(core::Connection& conn) override {
    co_return apply(conn);
  }

  Verdict apply(core::Connection& conn) const {
    if (conn.dst && guard_.is_loop(*conn.dst)) {
      conn.deny(base::Reason::loop, "destination " + conn.dst->to_string() + " is the gateway");
      return Verdict::Deny;
    }
    return Verdict::Continue;
  }

 private:
  const upstream::LoopGuard& guard_;
};

}  // namespace egress::filters
