#pragma once

#include <sys/socket.h>

#include <optional>

#include "base/ip_address.hpp"
#include "config/config.hpp"
#include "filters/filter.hpp"

namespace egress::filters {

/// The getsockopt(2) seam: the real one in production, a fake in unit tests.
using GetSockOpt = int (*)(int fd, int level, int optname, void* optval, socklen_t* optlen);

/// The result of asking the kernel where a redirected connection was going.
struct OriginalDstResult {
  std::optional<base::Endpoint> destination;
  int error = 0;  ///< errno when destination is empty
};

/// REDIRECT: SO_ORIGINAL_DST (SOL_IP) when the client's address is IPv4 — including IPv4
/// clients of a dual-stack "[::]" listener, whose v4-mapped addresses are already normalised in
/// `client` — else IP6T_SO_ORIGINAL_DST (SOL_IPV6). Pure apart from `getsockopt`.
OriginalDstResult query_original_dst(int fd, const base::IpAddress& client,
                                     GetSockOpt getsockopt_fn = &::getsockopt);

/// Sets conn.dst: from the kernel (original_dst listeners) or the accepted socket's local
/// address (tproxy listeners). None → deny `no_original_dst`.
class OriginalDstFilter final : public ConnectionFilter {
 public:
  explicit OriginalDstFilter(config::DestinationMode mode, GetSockOpt fn = &::getsockopt)
      : mode_(mode), getsockopt_(fn) {}

  // ConnectionFilter
  std::string_view name() const noexcept override { return "original_dst"; }
  boost::asio::awaitable<Verdict> on_accept(core::Connection& conn) override;

  /// The synchronous part of on_accept (it never waits): for tests and the chain's fast path.
  Verdict apply(core::Connection& conn) const;

 private:
  config::DestinationMode mode_;
  GetSockOpt getsockopt_;
};

}  // namespace egress::filters
