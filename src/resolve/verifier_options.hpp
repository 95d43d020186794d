#pragma once

#include <chrono>
#include <cstddef>

namespace egress::resolve {

/// How long answers are held and how hard one name may press the DNS server.
struct VerifierOptions {
  /// Every address of an answer is held for max(its TTL, min_ttl) (`dns.min_ttl`).
  std::chrono::seconds min_ttl{60};
  /// How long a name that does not exist (NXDOMAIN) or has no address is believed so. c-ares
  /// 1.18 has no parser for the SOA of a negative answer's authority section, so this is a cap
  /// below nearly every zone's SOA minimum rather than min(cap, SOA minimum).
  std::chrono::milliseconds negative_ttl{5000};
  /// How long a failure of the path (SERVFAIL, REFUSED, timeout, unreachable) is remembered
  /// before the next connection to the name may ask again.
  std::chrono::milliseconds failure_ttl{1000};
  /// At most one lookup per name per refresh_interval, gateway-wide (the held answers are
  /// shared by every worker): a destination missing from the held answers asks again only when
  /// the name's last lookup began at least this long ago.
  std::chrono::milliseconds refresh_interval{1000};
  /// Names held (least recently used evicted), so random names cannot grow memory.
  std::size_t max_names = 10000;
  /// Addresses held per name (those expiring first evicted).
  std::size_t max_addresses_per_name = 256;
};

}  // namespace egress::resolve
