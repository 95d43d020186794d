#include "upstream/netlink_address.hpp"

#include <gtest/gtest.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cstring>
#include <vector>

namespace egress::upstream {
namespace {

using Bytes = std::vector<std::uint8_t>;

base::IpAddress ip(const char* text) {
  return *base::IpAddress::parse(text);
}

void append(Bytes& out, const void* data, std::size_t n) {
  const auto* p = static_cast<const std::uint8_t*>(data);
  out.insert(out.end(), p, p + n);
}

void pad(Bytes& out, std::size_t aligned) {
  out.resize(aligned, 0);
}

struct Attr {
  unsigned short type;
  Bytes data;
};

Bytes addr_bytes(const base::IpAddress& a) {
  const auto& b = a.bytes();
  return a.is_v4() ? Bytes(b.begin(), b.begin() + 4) : Bytes(b.begin(), b.end());
}

// One RTM_NEWADDR / RTM_DELADDR message as the kernel lays it out.
Bytes addr_message(std::uint16_t type, std::uint8_t family, std::uint32_t ifindex,
                   const std::vector<Attr>& attrs, std::uint16_t flags = 0) {
  Bytes body;
  ifaddrmsg ifa{};
  ifa.ifa_family = family;
  ifa.ifa_prefixlen = family == AF_INET ? 24 : 64;
  ifa.ifa_index = ifindex;
  append(body, &ifa, sizeof ifa);
  pad(body, NLMSG_ALIGN(body.size()));
  for (const auto& a : attrs) {
    rtattr rta{};
    rta.rta_type = a.type;
    rta.rta_len = static_cast<unsigned short>(RTA_LENGTH(a.data.size()));
    append(body, &rta, sizeof rta);
    append(body, a.data.data(), a.data.size());
    pad(body, RTA_ALIGN(body.size()));
  }
  nlmsghdr h{};
  h.nlmsg_len = static_cast<std::uint32_t>(NLMSG_HDRLEN + body.size());
  h.nlmsg_type = type;
  h.nlmsg_flags = flags;
  Bytes out;
  append(out, &h, sizeof h);
  pad(out, NLMSG_HDRLEN);
  out.insert(out.end(), body.begin(), body.end());
  pad(out, NLMSG_ALIGN(out.size()));
  return out;
}

Bytes control_message(std::uint16_t type, int error = 0) {
  nlmsghdr h{};
  h.nlmsg_type = type;
  Bytes payload;
  if (type == NLMSG_ERROR) {
    nlmsgerr e{};
    e.error = error;
    append(payload, &e, sizeof e);
  } else {
    int zero = 0;
    append(payload, &zero, sizeof zero);
  }
  h.nlmsg_len = static_cast<std::uint32_t>(NLMSG_HDRLEN + payload.size());
  Bytes out;
  append(out, &h, sizeof h);
  out.insert(out.end(), payload.begin(), payload.end());
  pad(out, NLMSG_ALIGN(out.size()));
  return out;
}

Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

TEST(NetlinkAddress, NewAndDeletedAddressesInOrder) {
  const auto bytes = concat({
      addr_message(RTM_NEWADDR, AF_INET, 3,
                   {{IFA_ADDRESS, addr_bytes(ip("203.0.113.253"))},
                    {IFA_LOCAL, addr_bytes(ip("203.0.113.253"))},
                    {IFA_LABEL, {'l', 'o', 0}}}),
      addr_message(RTM_NEWADDR, AF_INET6, 2, {{IFA_ADDRESS, addr_bytes(ip("2001:db8:1::77"))}}),
      addr_message(RTM_DELADDR, AF_INET, 3, {{IFA_LOCAL, addr_bytes(ip("192.0.2.1"))}}),
  });
  const auto batch = parse_address_messages(bytes);
  EXPECT_FALSE(batch.malformed);
  EXPECT_FALSE(batch.done);
  EXPECT_EQ(batch.error, 0);
  const std::vector<AddressChange> want = {
      {true, 3, ip("203.0.113.253")},
      {true, 2, ip("2001:db8:1::77")},
      {false, 3, ip("192.0.2.1")},
  };
  EXPECT_EQ(batch.changes, want);
}

TEST(NetlinkAddress, LocalWinsOverThePeerAddressOfAPointToPointLink) {
  // On a point-to-point link IFA_ADDRESS is the peer; the local address is IFA_LOCAL.
  const auto bytes = addr_message(
      RTM_NEWADDR, AF_INET, 7,
      {{IFA_ADDRESS, addr_bytes(ip("198.51.100.2"))}, {IFA_LOCAL, addr_bytes(ip("198.51.100.1"))}});
  const auto batch = parse_address_messages(bytes);
  ASSERT_EQ(batch.changes.size(), 1u);
  EXPECT_EQ(batch.changes[0].address, ip("198.51.100.1"));
}

TEST(NetlinkAddress, DumpEndAndErrors) {
  auto batch = parse_address_messages(
      concat({addr_message(RTM_NEWADDR, AF_INET, 1, {{IFA_LOCAL, addr_bytes(ip("127.0.0.1"))}},
                           NLM_F_MULTI),
              control_message(NLMSG_DONE),
              // Anything after DONE belongs to no dump.
              addr_message(RTM_NEWADDR, AF_INET, 1, {{IFA_LOCAL, addr_bytes(ip("192.0.2.9"))}})}));
  EXPECT_TRUE(batch.done);
  ASSERT_EQ(batch.changes.size(), 1u);
  EXPECT_EQ(batch.changes[0].address, ip("127.0.0.1"));
  EXPECT_FALSE(batch.interrupted);

  batch = parse_address_messages(control_message(NLMSG_ERROR, -EPERM));
  EXPECT_EQ(batch.error, EPERM);
  // An acknowledgement (error 0) is not an error.
  batch = parse_address_messages(control_message(NLMSG_ERROR, 0));
  EXPECT_EQ(batch.error, 0);
  EXPECT_FALSE(batch.malformed);

  batch = parse_address_messages(addr_message(
      RTM_NEWADDR, AF_INET, 1, {{IFA_LOCAL, addr_bytes(ip("127.0.0.1"))}}, NLM_F_DUMP_INTR));
  EXPECT_TRUE(batch.interrupted);
}

TEST(NetlinkAddress, OtherFamiliesAndMessagesAreSkipped) {
  const auto bytes = concat({
      control_message(NLMSG_NOOP),
      addr_message(RTM_NEWLINK, AF_UNSPEC, 2, {}),
      addr_message(RTM_NEWADDR, AF_PACKET, 2, {{IFA_ADDRESS, {1, 2, 3, 4, 5, 6}}}),
      // No address attribute at all.
      addr_message(RTM_NEWADDR, AF_INET, 2, {{IFA_LABEL, {'x', 0}}}),
      // A v4 attribute too short to hold an address.
      addr_message(RTM_NEWADDR, AF_INET, 2, {{IFA_LOCAL, {192, 0}}}),
      addr_message(RTM_NEWADDR, AF_INET, 2, {{IFA_LOCAL, addr_bytes(ip("192.0.2.1"))}}),
  });
  const auto batch = parse_address_messages(bytes);
  EXPECT_FALSE(batch.malformed);
  ASSERT_EQ(batch.changes.size(), 1u);
  EXPECT_EQ(batch.changes[0].address, ip("192.0.2.1"));
}

TEST(NetlinkAddress, TruncatedInputNeverReadsPastTheBytes) {
  const auto whole = concat({
      addr_message(RTM_NEWADDR, AF_INET, 3, {{IFA_LOCAL, addr_bytes(ip("203.0.113.253"))}}),
      addr_message(RTM_NEWADDR, AF_INET6, 3, {{IFA_ADDRESS, addr_bytes(ip("2001:db8::1"))}}),
  });
  const std::size_t first =
      NLMSG_ALIGN(NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(ifaddrmsg)) + RTA_LENGTH(4));
  // Every prefix: whole messages before the cut are reported, the cut one is not (malformed).
  for (std::size_t n = 0; n <= whole.size(); ++n) {
    // A copy of exactly n bytes, so a sanitizer sees any read past them.
    const Bytes cut(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(n));
    const auto batch = parse_address_messages(cut);
    const std::size_t complete = n >= whole.size() ? 2 : n >= first ? 1 : 0;
    EXPECT_EQ(batch.changes.size(), complete) << n;
    EXPECT_EQ(batch.malformed, n != 0 && n != first && n != whole.size()) << n;
  }
  // An attribute whose length runs past its message.
  Bytes bad = addr_message(RTM_NEWADDR, AF_INET, 3, {{IFA_LOCAL, addr_bytes(ip("192.0.2.1"))}});
  rtattr rta{};
  std::memcpy(&rta, bad.data() + NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(ifaddrmsg)), sizeof rta);
  rta.rta_len = 200;
  std::memcpy(bad.data() + NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(ifaddrmsg)), &rta, sizeof rta);
  EXPECT_TRUE(parse_address_messages(bad).malformed);
  EXPECT_TRUE(parse_address_messages(bad).changes.empty());
  // A header claiming less than itself.
  nlmsghdr h{};
  h.nlmsg_len = 4;
  h.nlmsg_type = RTM_NEWADDR;
  Bytes tiny;
  append(tiny, &h, sizeof h);
  EXPECT_TRUE(parse_address_messages(tiny).malformed);
}

}  // namespace
}  // namespace egress::upstream
