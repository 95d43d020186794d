#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/unordered/unordered_flat_map.hpp>
#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/ip_address.hpp"
#include "resolve/answer.hpp"
#include "resolve/name_lookup.hpp"

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
  /// At most one lookup per name per refresh_interval: a destination missing from the held
  /// answers asks again only when the name's last lookup began at least this long ago.
  std::chrono::milliseconds refresh_interval{1000};
  /// Names held per verifier (least recently used evicted), so random names cannot grow memory.
  std::size_t max_names = 10000;
  /// Addresses held per name (those expiring first evicted).
  std::size_t max_addresses_per_name = 256;
};

/// The verdict on "does this name resolve to this address" (the audit's `name_verified`).
enum class Verdict : std::uint8_t {
  match,       ///< the address is among the answers held for the name
  mismatch,    ///< the name resolves, but not to the address (after one fresh lookup)
  unresolved,  ///< the name has no address: NXDOMAIN, no data, SERVFAIL, timeout, ...
};

/// "match", "mismatch", "unresolved".
std::string_view to_string(Verdict verdict) noexcept;

/// One verification and what it was decided on.
struct Verification {
  Verdict verdict = Verdict::unresolved;
  /// Why unresolved ("NXDOMAIN", "SERVFAIL", "timeout after 2000 ms", "invalid name", ...);
  /// empty for match and mismatch.
  std::string detail;
  /// The addresses held for the name when the verdict was made (the audit's `dns_answers`).
  std::vector<base::IpAddress> answers;
};

/// A per-worker cache of names to the addresses they resolved to, answering whether a client's
/// name belongs to the address it connects to (issue 19, "Verifying the name against the
/// address"):
///  * every address an answer gave is held for max(TTL, min_ttl), each with its own expiry, so
///    all addresses seen for a name within that window count (round-robin and geo DNS);
///  * a destination not among them triggers one fresh lookup before the verdict, at most one
///    per name per refresh_interval; a verify that finds a lookup in flight waits for it (one
///    question, many waiters);
///  * NXDOMAIN and no-data answers are held for negative_ttl, path failures for failure_ttl;
///  * at most max_names names, least recently used evicted.
/// Not thread-safe: one per worker, used on its thread only. Destroyed with verifies waiting on
/// a lookup, they complete as unresolved ("verifier stopped") when the lookup does.
class NameVerifier {
 public:
  using Clock = std::chrono::steady_clock;
  /// The clock, a seam for tests.
  using NowFunction = Clock::time_point (*)();

  /// `lookup` (the worker's Resolver) must outlive the verifier.
  NameVerifier(NameLookup& lookup, VerifierOptions options, NowFunction now = &Clock::now);
  ~NameVerifier();
  NameVerifier(const NameVerifier&) = delete;
  NameVerifier& operator=(const NameVerifier&) = delete;

  /// Verifies that `name` (as the client sent it: case and one trailing dot are ignored)
  /// resolves to `destination`. Completes at once on a cache hit; otherwise after at most one
  /// lookup (bounded by the resolver's timeout). A cancelled verify completes as unresolved
  /// ("cancelled") without disturbing other waiters.
  boost::asio::awaitable<Verification> verify(std::string name, base::IpAddress destination);

  /// What the answers held now say about `name` (as verify takes it) and `destination`, without
  /// a lookup and without waiting: match when the destination is among the unexpired addresses,
  /// mismatch when other addresses are held, unresolved while a negative answer or a failure is
  /// remembered (negative_ttl, failure_ttl); nullopt when nothing is held (never looked up,
  /// evicted, everything expired) or the name is not one verify would look up. For checks that
  /// must not wait, e.g. a later request's Host inside the relay (core/later_request_check.hpp).
  /// Does not touch the recency order.
  std::optional<Verdict> held(std::string_view name, const base::IpAddress& destination) const;

  /// Names held now.
  std::size_t size() const noexcept { return index_.size(); }
  /// Lookups this verifier started.
  std::uint64_t lookups() const noexcept { return lookups_; }

 private:
  struct Held {
    base::IpAddress address;
    Clock::time_point expires;
  };
  struct InFlight;
  struct Entry {
    std::string name;
    std::vector<Held> addresses;
    bool looked_up = false;
    Clock::time_point last_lookup{};
    Clock::time_point negative_until{};
    std::string last_detail;
    std::shared_ptr<InFlight> in_flight;
  };

  Entry* find(std::string_view name) noexcept;
  Entry& insert(std::string name);
  std::shared_ptr<InFlight> start_lookup(Entry& entry, const boost::asio::any_io_executor& ex,
                                         Clock::time_point now);
  void complete(const std::shared_ptr<InFlight>& flight, Answer answer);
  void merge(Entry& entry, const Answer& answer, Clock::time_point now);

  NameLookup& lookup_;
  VerifierOptions options_;
  NowFunction now_;
  // Most recently used first; the index points into it (list nodes never move, so its keys
  // can view the entries' names). An open-addressing index: one probe on a hit, where a
  // node-based map walks a bucket chain (bench/name_verify_bench.cpp).
  std::list<Entry> entries_;
  boost::unordered_flat_map<std::string_view, std::list<Entry>::iterator,
                            std::hash<std::string_view>>
      index_;
  std::uint64_t lookups_ = 0;
  // Lookups complete through callbacks posted by the resolver; one that runs after the
  // verifier is gone must not touch it.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace egress::resolve
