#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/ip_address.hpp"

namespace egress::policy {

using U128 = unsigned __int128;

/// An address as an integer key: host-order value for IPv4, big-endian 128-bit value for IPv6.
inline std::uint32_t v4_key(const base::IpAddress& a) noexcept {
  return a.v4_host_order();
}
U128 v6_key(const base::IpAddress& a) noexcept;

/// A network prefix whose host bits are zero. IPv4-mapped prefixes are stored as IPv4.
struct Cidr {
  base::IpAddress network;
  unsigned prefix_len = 0;

  /// "203.0.113.0/24"
  std::string to_string() const;
  /// First and last address, as keys of the prefix's family.
  std::uint32_t v4_lo() const noexcept;
  std::uint32_t v4_hi() const noexcept;
  U128 v6_lo() const noexcept;
  U128 v6_hi() const noexcept;
  friend bool operator==(const Cidr&, const Cidr&) = default;
};

/// The outcome of parse_cidr: a prefix, or a message (host bits set names the corrected prefix).
struct CidrParse {
  std::optional<Cidr> cidr;
  std::string error;
};

/// Parses "192.0.2.0/24", "2001:db8::/32" or a bare address (a /32 or /128).
CidrParse parse_cidr(std::string_view text);

/// The prefixes of a built-in set ("builtin:non_public", "builtin:metadata"), or nullptr.
const std::vector<Cidr>* builtin_set(std::string_view name) noexcept;

/// The IPv4 address an IPv6 address carries in a form that a translator or tunnel turns back into
/// IPv4: IPv4-compatible ::a.b.c.d (::/96, RFC 4291 2.5.5.1), SIIT IPv4-translated
/// ::ffff:0:a.b.c.d (::ffff:0:0:0/96, RFC 2765), the NAT64 well-known prefix 64:ff9b::a.b.c.d
/// (RFC 6052) and 6to4 2002:AABB:CCDD::/48 (RFC 3056). nullopt for IPv4 and any other IPv6
/// address. (IPv4-mapped ::ffff:a.b.c.d is IPv4 already.) Not extracted: Teredo (2001::/32, the
/// client address obfuscated among arbitrary bits) and the local-use NAT64 prefix 64:ff9b:1::/48
/// (whose IPv4 position depends on the operator's prefix length); builtin:non_public holds both
/// whole.
std::optional<base::IpAddress> embedded_v4(const base::IpAddress& a) noexcept;

/// Inclusive interval of keys.
template <class K>
struct KeyInterval {
  K lo;
  K hi;
  friend bool operator==(const KeyInterval&, const KeyInterval&) = default;
};

/// A set of addresses of both families as sorted, disjoint, non-adjacent intervals. A value type:
/// union, intersection and difference build new sets; contains() is a binary search.
class AddressSet {
 public:
  /// The empty set.
  AddressSet() = default;
  /// Every IPv4 and every IPv6 address.
  static AddressSet all();
  static AddressSet from_cidrs(const std::vector<Cidr>& cidrs);

  bool contains(const base::IpAddress& a) const noexcept;
  bool empty() const noexcept { return v4_.empty() && v6_.empty(); }
  bool is_all() const noexcept;
  bool subset_of(const AddressSet& other) const;

  AddressSet unite(const AddressSet& other) const;
  AddressSet intersect(const AddressSet& other) const;
  AddressSet subtract(const AddressSet& other) const;
  /// This set plus every IPv6 address whose embedded_v4() is in it. As deny_destinations, it
  /// makes a denied IPv4 address denied in each IPv6 form that leads back to it (issue 17 item
  /// 6): `a.contains(x) || (e = embedded_v4(x)) && contains(*e)` is `with_embedded_v4()
  /// .contains(x)`, compiled into intervals.
  AddressSet with_embedded_v4() const;

  const std::vector<KeyInterval<std::uint32_t>>& v4() const noexcept { return v4_; }
  const std::vector<KeyInterval<U128>>& v6() const noexcept { return v6_; }
  friend bool operator==(const AddressSet&, const AddressSet&) = default;

 private:
  std::vector<KeyInterval<std::uint32_t>> v4_;
  std::vector<KeyInterval<U128>> v6_;
};

}  // namespace egress::policy
