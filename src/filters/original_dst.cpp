#include "filters/original_dst.hpp"

#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <netinet/in.h>

#include <cstring>
#include <system_error>

namespace egress::filters {

OriginalDstResult query_original_dst(int fd, const base::IpAddress& client,
                                     GetSockOpt getsockopt_fn) {
  sockaddr_storage ss;
  std::memset(&ss, 0, sizeof(ss));
  socklen_t len = sizeof(ss);
  errno = 0;
  // The family of the *client* decides: a dual-stack socket's IPv4 clients only have an IPv4
  // conntrack entry, and IP6T_SO_ORIGINAL_DST fails with ENOENT for them.
  const int rc = client.is_v4() ? getsockopt_fn(fd, SOL_IP, SO_ORIGINAL_DST, &ss, &len)
                                : getsockopt_fn(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &ss, &len);
  if (rc != 0) return {std::nullopt, errno != 0 ? errno : ENOENT};
  auto ep = base::Endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss));
  if (!ep) return {std::nullopt, EAFNOSUPPORT};
  return {ep, 0};
}

boost::asio::awaitable<std::optional<base::Outcome>> OriginalDstFilter::on_connection(
    Facts& facts, FilterContext& context) {
  // Set already: a trusted load balancer's PROXY header named it (the proxy_protocol step, first
  // in the chain). The kernel's answer would describe the balancer's connection to egressd, not
  // the client's, so it is not asked.
  if (facts.dst) co_return std::nullopt;
  if (mode_ == config::DestinationMode::tproxy) {
    facts.dst = facts.local;
    co_return std::nullopt;
  }
  auto r = context.original_dst();
  if (!r.destination) {
    co_return base::Outcome::denied(base::Reason::no_original_dst,
                                    std::generic_category().message(r.error));
  }
  facts.dst = r.destination;
  co_return std::nullopt;
}

}  // namespace egress::filters
