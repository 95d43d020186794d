#include "resolve/held_answers.hpp"

#include <algorithm>
#include <utility>

namespace egress::resolve {

namespace {

template <typename HeldVector>
std::vector<base::IpAddress> addresses_of(const HeldVector& held) {
  std::vector<base::IpAddress> out;
  out.reserve(held.size());
  for (const auto& h : held) out.push_back(h.address);
  return out;
}

template <typename HeldVector, typename TimePoint>
void prune(HeldVector& held, TimePoint now) {
  std::erase_if(held, [&](const auto& h) { return h.expires < now; });
}

}  // namespace

HeldAnswers::HeldAnswers(VerifierOptions options, NowFunction now) : options_(options), now_(now) {
  options_.max_names = std::max<std::size_t>(options_.max_names, 1);
  options_.max_addresses_per_name = std::max<std::size_t>(options_.max_addresses_per_name, 1);
}

HeldAnswers::Look HeldAnswers::look(const std::string& name, const base::IpAddress& destination,
                                    Clock::time_point now, bool may_claim) {
  std::lock_guard lock(mutex_);
  Entry& entry = find_or_insert(name);
  prune(entry.addresses, now);
  const bool held = std::any_of(entry.addresses.begin(), entry.addresses.end(),
                                [&](const Held& h) { return h.address == destination; });
  if (held) return {Look::Next::decided, {Verdict::match, {}, addresses_of(entry.addresses)}};
  // The destination is not held. Ask again unless the name was asked about just now (by any
  // worker), or is known not to resolve: then the held answers decide.
  const bool may_ask = !entry.looked_up || (now >= entry.last_lookup + options_.refresh_interval &&
                                            now >= entry.negative_until);
  if (may_claim && may_ask) {
    entry.last_lookup = now;
    ++lookups_;
    return {Look::Next::ask, {}};
  }
  return {Look::Next::decided,
          decide(addresses_of(entry.addresses), destination, entry.last_detail)};
}

HeldAnswers::Look HeldAnswers::addresses(const std::string& name, Clock::time_point now,
                                         bool may_claim) {
  std::lock_guard lock(mutex_);
  Entry& entry = find_or_insert(name);
  prune(entry.addresses, now);
  if (!entry.addresses.empty()) {
    return {Look::Next::decided, {Verdict::match, {}, addresses_of(entry.addresses)}};
  }
  const bool negative = entry.looked_up && now < entry.negative_until;
  if (may_claim && !negative) {
    entry.last_lookup = now;
    ++lookups_;
    return {Look::Next::ask, {}};
  }
  return {Look::Next::decided,
          {Verdict::unresolved,
           negative && !entry.last_detail.empty() ? entry.last_detail : "no address",
           {}}};
}

HeldAnswers::Snapshot HeldAnswers::merge(const std::string& name, const Answer& answer,
                                         Clock::time_point now) {
  std::lock_guard lock(mutex_);
  Entry& entry = find_or_insert(name);
  merge_into(entry, answer, now);
  return {addresses_of(entry.addresses), entry.last_detail};
}

std::optional<Verdict> HeldAnswers::held(const std::string& name,
                                         const base::IpAddress& destination,
                                         Clock::time_point now) const {
  std::lock_guard lock(mutex_);
  const auto it = index_.find(std::string_view(name));
  if (it == index_.end()) return std::nullopt;
  const Entry& entry = *it->second;
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

std::size_t HeldAnswers::size() const {
  std::lock_guard lock(mutex_);
  return index_.size();
}

std::uint64_t HeldAnswers::lookups() const {
  std::lock_guard lock(mutex_);
  return lookups_;
}

HeldAnswers::Entry& HeldAnswers::find_or_insert(const std::string& name) {
  auto it = index_.find(std::string_view(name));
  if (it != index_.end()) {
    entries_.splice(entries_.begin(), entries_, it->second);
    return *it->second;
  }
  while (index_.size() >= options_.max_names) {
    // A lookup in flight for the evicted name still completes for its waiters: its answer is
    // merged into a fresh entry.
    index_.erase(std::string_view(entries_.back().name));
    entries_.pop_back();
  }
  entries_.emplace_front();
  entries_.front().name = name;
  index_.emplace(std::string_view(entries_.front().name), entries_.begin());
  return entries_.front();
}

void HeldAnswers::merge_into(Entry& entry, const Answer& answer, Clock::time_point now) const {
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
