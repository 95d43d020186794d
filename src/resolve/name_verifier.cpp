#include "resolve/name_verifier.hpp"

#include <algorithm>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <utility>

namespace egress::resolve {

namespace asio = boost::asio;

std::string_view to_string(Verdict verdict) noexcept {
  switch (verdict) {
    case Verdict::match:
      return "match";
    case Verdict::mismatch:
      return "mismatch";
    case Verdict::unresolved:
      return "unresolved";
  }
  return "unresolved";
}

// A lookup in flight for one name: its waiters sleep on `signal` (a timer that never expires,
// cancelled when the answer is in) and decide from `held`, the name's addresses right after the
// answer was merged, so a waiter does not depend on the entry surviving eviction.
struct NameVerifier::InFlight {
  InFlight(const asio::any_io_executor& ex, std::string n)
      : signal(ex, asio::steady_timer::time_point::max()), name(std::move(n)) {}
  asio::steady_timer signal;
  std::string name;
  bool done = false;
  std::vector<Held> held;
  std::string detail;
};

namespace {

// The name as the cache keys it: ASCII lowercase, without the root's trailing dot. A name is
// looked up only when it is plainly a host name (RFC 1035 lengths; letters, digits, '-' and
// '_'): the text goes to c-ares as a C string with its own escapes ("\."), and a client must not
// be able to smuggle a NUL or an escape into the question.
bool normalise(std::string& name) {
  if (!name.empty() && name.back() == '.') name.pop_back();
  if (name.empty() || name.size() > 253) return false;
  std::size_t label = 0;
  for (char& c : name) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok || ++label > 63) return false;
  }
  return label != 0;
}

template <typename HeldVector>
bool holds(const HeldVector& held, const base::IpAddress& address) noexcept {
  return std::any_of(held.begin(), held.end(), [&](const auto& h) { return h.address == address; });
}

template <typename HeldVector>
std::vector<base::IpAddress> addresses_of(const HeldVector& held) {
  std::vector<base::IpAddress> out;
  out.reserve(held.size());
  for (const auto& h : held) out.push_back(h.address);
  return out;
}

template <typename HeldVector>
Verification decide(const HeldVector& held, const base::IpAddress& destination,
                    const std::string& detail) {
  if (holds(held, destination)) return {Verdict::match, {}, addresses_of(held)};
  if (!held.empty()) return {Verdict::mismatch, {}, addresses_of(held)};
  return {Verdict::unresolved, detail.empty() ? "no address" : detail, {}};
}

template <typename HeldVector, typename TimePoint>
void prune(HeldVector& held, TimePoint now) {
  std::erase_if(held, [&](const auto& h) { return h.expires < now; });
}

}  // namespace

NameVerifier::NameVerifier(NameLookup& lookup, VerifierOptions options, NowFunction now)
    : lookup_(lookup), options_(options), now_(now) {
  options_.max_names = std::max<std::size_t>(options_.max_names, 1);
  options_.max_addresses_per_name = std::max<std::size_t>(options_.max_addresses_per_name, 1);
}

NameVerifier::~NameVerifier() {
  *alive_ = false;
}

asio::awaitable<Verification> NameVerifier::verify(std::string name, base::IpAddress destination) {
  if (!normalise(name)) co_return Verification{Verdict::unresolved, "invalid name", {}};
  const auto now = now_();
  Entry* entry = find(name);
  if (entry != nullptr) {
    prune(entry->addresses, now);
    if (holds(entry->addresses, destination)) {
      co_return Verification{Verdict::match, {}, addresses_of(entry->addresses)};
    }
  } else {
    entry = &insert(std::move(name));
  }

  std::shared_ptr<InFlight> flight = entry->in_flight;
  if (!flight) {
    // The destination is not held. Ask again unless the name was asked about just now, or is
    // known not to resolve: then the held answers decide.
    bool may_ask = !entry->looked_up || (now >= entry->last_lookup + options_.refresh_interval &&
                                         now >= entry->negative_until);
    if (!may_ask) co_return decide(entry->addresses, destination, entry->last_detail);
    flight = start_lookup(*entry, co_await asio::this_coro::executor, now);
  }
  if (!flight->done) {
    boost::system::error_code ec;
    co_await flight->signal.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (!flight->done) co_return Verification{Verdict::unresolved, "cancelled", {}};
  }
  co_return decide(flight->held, destination, flight->detail);
}

std::optional<Verdict> NameVerifier::held(std::string_view name,
                                          const base::IpAddress& destination) const {
  std::string key(name);
  if (!normalise(key)) return std::nullopt;
  const auto it = index_.find(std::string_view(key));
  if (it == index_.end()) return std::nullopt;
  const Entry& entry = *it->second;
  const auto now = now_();
  bool other = false;
  for (const Held& h : entry.addresses) {
    if (h.expires < now) continue;  // as prune: expired addresses no longer count
    if (h.address == destination) return Verdict::match;
    other = true;
  }
  if (other) return Verdict::mismatch;
  if (entry.looked_up && now < entry.negative_until) return Verdict::unresolved;
  return std::nullopt;
}

NameVerifier::Entry* NameVerifier::find(std::string_view name) noexcept {
  auto it = index_.find(name);
  if (it == index_.end()) return nullptr;
  entries_.splice(entries_.begin(), entries_, it->second);
  return &*it->second;
}

NameVerifier::Entry& NameVerifier::insert(std::string name) {
  while (index_.size() >= options_.max_names) {
    // A lookup in flight for the evicted name still completes for its waiters (they hold it).
    index_.erase(entries_.back().name);
    entries_.pop_back();
  }
  entries_.emplace_front();
  entries_.front().name = std::move(name);
  index_.emplace(entries_.front().name, entries_.begin());
  return entries_.front();
}

std::shared_ptr<NameVerifier::InFlight> NameVerifier::start_lookup(Entry& entry,
                                                                   const asio::any_io_executor& ex,
                                                                   Clock::time_point now) {
  auto flight = std::make_shared<InFlight>(ex, entry.name);
  entry.in_flight = flight;
  entry.last_lookup = now;
  ++lookups_;
  lookup_.lookup(entry.name, [this, alive = alive_, flight](Answer answer) {
    if (!*alive) {
      flight->done = true;
      flight->detail = "verifier stopped";
      flight->signal.cancel();
      return;
    }
    complete(flight, std::move(answer));
  });
  return flight;
}

void NameVerifier::complete(const std::shared_ptr<InFlight>& flight, Answer answer) {
  const auto now = now_();
  auto it = index_.find(flight->name);
  if (it != index_.end() && it->second->in_flight == flight) {
    Entry& entry = *it->second;
    merge(entry, answer, now);
    entry.in_flight.reset();
    flight->held = entry.addresses;
    flight->detail = entry.last_detail;
  } else {
    // Evicted while in flight: the answer alone decides for the waiters.
    Entry alone;
    merge(alone, answer, now);
    flight->held = std::move(alone.addresses);
    flight->detail = std::move(alone.last_detail);
  }
  flight->done = true;
  flight->signal.cancel();
}

void NameVerifier::merge(Entry& entry, const Answer& answer, Clock::time_point now) {
  entry.looked_up = true;
  prune(entry.addresses, now);
  if (answer.status != Answer::Status::ok) {
    // Addresses seen earlier in their window still count; only the failure is new.
    entry.last_detail = answer.detail;
    entry.negative_until = now + (is_authoritative_negative(answer.status) ? options_.negative_ttl
                                                                           : options_.failure_ttl);
    return;
  }
  entry.last_detail.clear();
  entry.negative_until = {};
  for (const Record& r : answer.records) {
    auto expires = now + std::max<Clock::duration>(r.ttl, options_.min_ttl);
    auto it = std::find_if(entry.addresses.begin(), entry.addresses.end(),
                           [&](const Held& h) { return h.address == r.address; });
    if (it != entry.addresses.end()) {
      it->expires = std::max(it->expires, expires);
    } else {
      entry.addresses.push_back({r.address, expires});
    }
  }
  if (entry.addresses.size() > options_.max_addresses_per_name) {
    std::sort(entry.addresses.begin(), entry.addresses.end(),
              [](const Held& a, const Held& b) { return a.expires > b.expires; });
    entry.addresses.resize(options_.max_addresses_per_name);
  }
}

}  // namespace egress::resolve
