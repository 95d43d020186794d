#pragma once

#include <sys/socket.h>

#include <optional>

#include "base/ip_address.hpp"
#include "config/config.hpp"
#include "filters/filter.hpp"

namespace egress::filters {

/// The getsockopt(2) seam: the real one in production, a fake in unit tests.
using GetSockOpt = int (*)(int fd, int level, int optname, void* optval, socklen_t* optlen);

/// REDIRECT: SO_ORIGINAL_DST (SOL_IP) when the client's address is IPv4 — including IPv4
/// clients of a dual-stack "[::]" listener, whose v4-mapped addresses are already normalised in
/// `client` — else IP6T_SO_ORIGINAL_DST (SOL_IPV6). Pure apart from `getsockopt`. What a
/// FilterContext's original_dst() runs on the client's socket.
OriginalDstResult query_original_dst(int fd, const base::IpAddress& client,
                                     GetSockOpt getsockopt_fn = &::getsockopt);

/// Sets facts.dst: from the kernel (original_dst listeners) or the accepted socket's local
/// address (tproxy listeners). None → deny `no_original_dst` with the system's message. A
/// destination set before it (by a trusted PROXY header) is kept, and the kernel is not asked.
/// Never waits.
class OriginalDstFilter final : public ConnectionFilter {
 public:
  explicit OriginalDstFilter(config::DestinationMode mode) : mode_(mode) {}

  // ConnectionFilter
  std::string_view name() const noexcept override { return "original_dst"; }
  boost::asio::awaitable<std::optional<base::Outcome>> on_connection(
      Facts& facts, FilterContext& context) override;

 private:
  config::DestinationMode mode_;
};

}  // namespace egress::filters
