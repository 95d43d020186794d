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
  // The family of the *client* decides: a dual-stack socket's IPv4 clients only have an IPv4
  // conntrack entry, and IP6T_SO_ORIGINAL_DST fails with ENOENT for them.
  const int rc = client.is_v4() ? getsockopt_fn(fd, SOL_IP, SO_ORIGINAL_DST, &ss, &len)
                                : getsockopt_fn(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &ss, &len);
  if (rc != 0) return {std::nullopt, errno != 0 ? errno : ENOENT};
  auto ep = base::Endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss));
  if (!ep) return {std::nullopt, EAFNOSUPPORT};
  return {ep, 0};
}

Verdict OriginalDstFilter::apply(core::Connection& conn) const {
  if (mode_ == config::DestinationMode::tproxy) {
    conn.dst = conn.local;
    return Verdict::Continue;
  }
  errno = 0;
  auto r = query_original_dst(conn.socket().native_handle(), conn.src.address, getsockopt_);
  if (!r.destination) {
    conn.deny(base::Reason::no_original_dst, std::generic_category().message(r.error));
    return Verdict::Deny;
  }
  conn.dst = r.destination;
  return Verdict::Continue;
}

boost::asio::awaitable<Verdict> OriginalDstFilter::on_accept(core::Connection& conn) {
  co_return apply(conn);
}

}  // namespace egress::filters
