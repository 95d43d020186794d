#pragma once

#include <boost/unordered/unordered_flat_map.hpp>
#include <chrono>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/ip_address.hpp"
#include "resolve/answer.hpp"
#include "resolve/verification.hpp"
#include "resolve/verifier_options.hpp"

namespace egress::resolve {

/// The addresses names resolved to, shared by every worker's NameVerifier (issue 19: "every
/// address seen for a name in that window counts" holds gateway-wide, whichever worker a
/// connection lands on):
///  * every address an answer gave is held for max(TTL, min_ttl), each with its own expiry;
///  * NXDOMAIN and no-data answers are remembered for negative_ttl, path failures for
///    failure_ttl;
///  * a lookup is claimed here before it is asked, at most one per name per refresh_interval
///    for all workers together (until a name's first answer is in, each worker may ask);
///  * at most max_names names (least recently used evicted), max_addresses_per_name each.
/// Thread-safe: one mutex, held for a hash lookup and a copy of the name's few addresses.
/// Names are given normalised (NameVerifier does it).
class HeldAnswers {
 public:
  using Clock = std::chrono::steady_clock;
  /// The clock, a seam for tests.
  using NowFunction = Clock::time_point (*)();

  explicit HeldAnswers(VerifierOptions options, NowFunction now = &Clock::now);
  HeldAnswers(const HeldAnswers&) = delete;
  HeldAnswers& operator=(const HeldAnswers&) = delete;

  Clock::time_point now() const { return now_(); }

  /// What a verify does next.
  struct Look {
    enum class Next : std::uint8_t {
      decided,  ///< `verification` is the verdict (a match, or the held answers decide)
      ask,      ///< the destination is not held and this caller has claimed a lookup
    };
    Next next = Next::decided;
    Verification verification;
  };
  /// The destination among the held answers is a match. Otherwise, when `may_claim` and the
  /// name's rate limit allows, claims a lookup (ask); else the held answers decide (mismatch,
  /// unresolved). Refreshes the name's recency; a name not held is added.
  Look look(const std::string& name, const base::IpAddress& destination, Clock::time_point now,
            bool may_claim);

  /// What a resolve does next (issue 20, a CONNECT name): the name's unexpired addresses
  /// (decided: verdict match, `answers` them all, in the order they were first held); a
  /// remembered failure with no address (decided: unresolved, its detail); nothing held and
  /// `may_claim`: a claimed lookup (ask). Nothing held and not `may_claim`: decided, unresolved
  /// ("no address"). No refresh_interval limit: with no address there is nothing else to give.
  /// Refreshes the name's recency; a name not held is added.
  Look addresses(const std::string& name, Clock::time_point now, bool may_claim);

  /// The name's held addresses and failure detail right after a finished lookup was merged.
  struct Snapshot {
    std::vector<base::IpAddress> addresses;
    std::string detail;
  };
  /// Merges a finished lookup's answer (from any worker) into the name's held answers.
  Snapshot merge(const std::string& name, const Answer& answer, Clock::time_point now);

  /// As NameVerifier::held: match, mismatch, unresolved (a remembered failure) or nullopt
  /// (nothing held). Does not touch the recency order.
  std::optional<Verdict> held(const std::string& name, const base::IpAddress& destination,
                              Clock::time_point now) const;

  /// Names held now.
  std::size_t size() const;
  /// Lookups claimed, by all workers.
  std::uint64_t lookups() const;

 private:
  struct Held {
    base::IpAddress address;
    Clock::time_point expires;
  };
  struct Entry {
    std::string name;
    std::vector<Held> addresses;
    bool looked_up = false;  ///< an answer (or a failure) has been merged
    Clock::time_point last_lookup{};
    Clock::time_point negative_until{};
    std::string last_detail;
  };

  Entry& find_or_insert(const std::string& name);
  void merge_into(Entry& entry, const Answer& answer, Clock::time_point now) const;

  VerifierOptions options_;
  NowFunction now_;
  mutable std::mutex mutex_;
  // Most recently used first; the index points into it (list nodes never move, so its keys
  // can view the entries' names). An open-addressing index: one probe on a hit, where a
  // node-based map walks a bucket chain (bench/name_verify_bench.cpp).
  std::list<Entry> entries_;
  boost::unordered_flat_map<std::string_view, std::list<Entry>::iterator,
                            std::hash<std::string_view>>
      index_;
  std::uint64_t lookups_ = 0;
};

}  // namespace egress::resolve
