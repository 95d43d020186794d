#include "upstream/netlink_address.hpp"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <array>
#include <cstring>
#include <optional>

namespace egress::upstream {
namespace {

// The kernel's buffers are aligned, a test's or a fuzzer's need not be: copy every header out
// instead of casting a pointer into the bytes.
template <typename T>
T read_struct(std::span<const std::uint8_t> bytes) {
  T out;
  std::memcpy(&out, bytes.data(), sizeof out);
  return out;
}

std::optional<base::IpAddress> address_of(std::uint8_t family, std::span<const std::uint8_t> data) {
  if (family == AF_INET && data.size() >= 4) {
    return base::IpAddress::v4({data[0], data[1], data[2], data[3]});
  }
  if (family == AF_INET6 && data.size() >= 16) {
    std::array<std::uint8_t, 16> b{};
    std::memcpy(b.data(), data.data(), b.size());
    return base::IpAddress::v6(b);
  }
  return std::nullopt;
}

// One RTM_NEWADDR / RTM_DELADDR payload (struct ifaddrmsg, then rtattrs). False when malformed.
bool parse_addr(bool added, std::span<const std::uint8_t> payload, NetlinkBatch& out) {
  if (payload.size() < sizeof(ifaddrmsg)) return false;
  const auto ifa = read_struct<ifaddrmsg>(payload);
  if (ifa.ifa_family != AF_INET && ifa.ifa_family != AF_INET6) return true;
  std::optional<base::IpAddress> local;
  std::optional<base::IpAddress> address;
  auto attrs = payload.subspan(NLMSG_ALIGN(sizeof(ifaddrmsg)) <= payload.size()
                                   ? NLMSG_ALIGN(sizeof(ifaddrmsg))
                                   : payload.size());
  while (attrs.size() >= sizeof(rtattr)) {
    const auto rta = read_struct<rtattr>(attrs);
    if (rta.rta_len < sizeof(rtattr) || rta.rta_len > attrs.size()) return false;
    const auto data = attrs.subspan(RTA_LENGTH(0), rta.rta_len - RTA_LENGTH(0));
    if (rta.rta_type == IFA_LOCAL) local = address_of(ifa.ifa_family, data);
    if (rta.rta_type == IFA_ADDRESS) address = address_of(ifa.ifa_family, data);
    const std::size_t step = RTA_ALIGN(rta.rta_len);
    attrs = attrs.subspan(step < attrs.size() ? step : attrs.size());
  }
  if (local) {
    out.changes.push_back({added, ifa.ifa_index, *local});
  } else if (address) {
    out.changes.push_back({added, ifa.ifa_index, *address});
  }
  return true;
}

}  // namespace

NetlinkBatch parse_address_messages(std::span<const std::uint8_t> bytes) {
  NetlinkBatch out;
  while (bytes.size() >= sizeof(nlmsghdr)) {
    const auto h = read_struct<nlmsghdr>(bytes);
    if (h.nlmsg_len < sizeof(nlmsghdr) || h.nlmsg_len > bytes.size()) {
      out.malformed = true;
      return out;
    }
    const auto payload = bytes.subspan(NLMSG_HDRLEN, h.nlmsg_len - NLMSG_HDRLEN);
    if ((h.nlmsg_flags & NLM_F_DUMP_INTR) != 0) out.interrupted = true;
    switch (h.nlmsg_type) {
      case NLMSG_DONE:
        out.done = true;
        return out;
      case NLMSG_ERROR:
        if (payload.size() < sizeof(int)) {
          out.malformed = true;
          return out;
        }
        if (const int code = read_struct<int>(payload); code != 0) {
          out.error = code < 0 ? -code : code;
          return out;
        }
        break;
      case RTM_NEWADDR:
      case RTM_DELADDR:
        if (!parse_addr(h.nlmsg_type == RTM_NEWADDR, payload, out)) {
          out.malformed = true;
          return out;
        }
        break;
      default:
        break;
    }
    const std::size_t step = NLMSG_ALIGN(h.nlmsg_len);
    bytes = bytes.subspan(step < bytes.size() ? step : bytes.size());
  }
  if (!bytes.empty()) out.malformed = true;
  return out;
}

}  // namespace egress::upstream
