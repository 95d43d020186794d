#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "base/ip_address.hpp"
#include "policy/address_set.hpp"
#include "policy/port_set.hpp"

namespace egress::policy::detail {

/// The address and port sets of a compiled policy, packed into one array of words and
/// deduplicated. A clause names a set by its offset here, so a membership test reads one place
/// (the set's size and intervals are adjacent) instead of a vector's header and then its heap
/// block, and clauses that share a named destination share its words in the cache.
///
/// Layout at an address set's offset: the IPv4 interval count, the IPv6 interval count, the
/// IPv4 intervals as (lo, hi) pairs, the IPv6 intervals as (lo, hi) pairs of four words each,
/// most significant word first. At a port set's offset: the range count, then each range as
/// lo << 16 | hi.
class PackedSets {
 public:
  std::int32_t add(const AddressSet& s);
  std::int32_t add(const PortSet& s);
  /// Drops the deduplication map (compile-time only).
  void freeze();

  bool contains_address(std::int32_t at, const base::IpAddress& a) const noexcept;
  bool contains_port(std::int32_t at, std::uint16_t port) const noexcept;

 private:
  std::int32_t intern(std::vector<std::uint32_t> words);

  std::vector<std::uint32_t> words_;
  std::map<std::vector<std::uint32_t>, std::int32_t> seen_;
};

}  // namespace egress::policy::detail
