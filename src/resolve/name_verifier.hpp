#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/unordered/unordered_flat_map.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/ip_address.hpp"
#include "resolve/answer.hpp"
#include "resolve/held_answers.hpp"
#include "resolve/name_lookup.hpp"
#include "resolve/verification.hpp"
#include "resolve/verifier_options.hpp"

namespace egress::resolve {

/// Answers whether a client's name belongs to the address it connects to (issue 19, "Verifying
/// the name against the address"), from the answers held in a HeldAnswers (shared by every
/// worker, so the window is the gateway's, not a worker's):
///  * a destination among the name's held addresses is a match at once;
///  * one not among them triggers one fresh lookup before the verdict, at most one per name per
///    refresh_interval gateway-wide (the store's rate limit); a verify that finds a lookup of
///    this verifier in flight waits for it (one question, many waiters);
///  * a finished lookup is merged into the shared store, so every worker's later verify sees it.
/// Lookups are this verifier's (the worker's resolver, on its thread). Not thread-safe itself:
/// one per worker, used on its thread only; the store is what the workers share. Destroyed with
/// verifies waiting on a lookup, they complete as unresolved ("verifier stopped") when the
/// lookup does.
class NameVerifier {
 public:
  using Clock = std::chrono::steady_clock;
  /// The clock, a seam for tests.
  using NowFunction = Clock::time_point (*)();

  /// `lookup` (the worker's Resolver) and `answers` (the gateway's) must outlive the verifier.
  NameVerifier(NameLookup& lookup, HeldAnswers& answers);
  /// A verifier with a store of its own (one worker, tests, the bench).
  NameVerifier(NameLookup& lookup, VerifierOptions options, NowFunction now = &Clock::now);
  ~NameVerifier();
  NameVerifier(const NameVerifier&) = delete;
  NameVerifier& operator=(const NameVerifier&) = delete;

  /// Verifies that `name` (as the client sent it: case and one trailing dot are ignored)
  /// resolves to `destination`. Completes at once on a cache hit; otherwise after at most one
  /// lookup (bounded by the resolver's timeout). A cancelled verify completes as unresolved
  /// ("cancelled") without disturbing other waiters.
  boost::asio::awaitable<Verification> verify(std::string name, base::IpAddress destination);

  /// The addresses of `name` (as verify takes it), for a client that named no address (issue 20,
  /// a CONNECT request): the unexpired addresses held for it, at once; when none is held (and no
  /// failure is remembered), after one lookup, shared with any verify or resolve of this verifier
  /// waiting for the same name and merged into the shared store. Verdict match with `answers`
  /// (never empty) when the name has addresses, else unresolved with why ("NXDOMAIN", "invalid
  /// name", "cancelled", ...). Never a second lookup while addresses are held: what is held is
  /// what a verify of any of them would call a match.
  boost::asio::awaitable<Verification> resolve(std::string name);

  /// What the answers held now say about `name` (as verify takes it) and `destination`, without
  /// a lookup and without waiting: match when the destination is among the unexpired addresses,
  /// mismatch when other addresses are held, unresolved while a negative answer or a failure is
  /// remembered (negative_ttl, failure_ttl); nullopt when nothing is held (never looked up,
  /// evicted, everything expired) or the name is not one verify would look up. For checks that
  /// must not wait, e.g. a later request's Host inside the relay (core/later_request_check.hpp).
  /// Does not touch the recency order.
  std::optional<Verdict> held(std::string_view name, const base::IpAddress& destination) const;

  /// Names held now (in the store, by every verifier sharing it).
  std::size_t size() const { return answers_.size(); }
  /// Lookups this verifier started.
  std::uint64_t lookups() const noexcept { return lookups_; }

 private:
  struct InFlight;

  /// This verifier's lookup in flight for `name`, or null.
  std::shared_ptr<InFlight> in_flight(const std::string& name) const;
  /// `flight`, or a lookup of `name` started now when it is null, once its answer is in; null
  /// when the wait was cancelled first. The part of verify and resolve after a held answer.
  boost::asio::awaitable<std::shared_ptr<InFlight>> finished_lookup(
      std::string name, std::shared_ptr<InFlight> flight);
  std::shared_ptr<InFlight> start_lookup(std::string name, const boost::asio::any_io_executor& ex);
  void complete(const std::shared_ptr<InFlight>& flight, const Answer& answer);

  NameLookup& lookup_;
  std::unique_ptr<HeldAnswers> own_answers_;  // only for the VerifierOptions constructor
  HeldAnswers& answers_;
  // This verifier's lookups in flight, by name (its waiters share them).
  boost::unordered_flat_map<std::string, std::shared_ptr<InFlight>> in_flight_;
  std::uint64_t lookups_ = 0;
  // Lookups complete through callbacks posted by the resolver; one that runs after the
  // verifier is gone must not touch it.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace egress::resolve
