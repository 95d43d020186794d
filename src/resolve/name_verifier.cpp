#include "resolve/name_verifier.hpp"

#include <algorithm>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <utility>

namespace egress::resolve {

namespace asio = boost::asio;

// A lookup in flight for one name: its waiters sleep on `signal` (a timer that never expires,
// cancelled when the answer is in) and decide from `held`, the name's addresses right after the
// answer was merged, so a waiter does not depend on the entry surviving eviction.
struct NameVerifier::InFlight {
  InFlight(const asio::any_io_executor& ex, std::string n)
      : signal(ex, asio::steady_timer::time_point::max()), name(std::move(n)) {}
  asio::steady_timer signal;
  std::string name;
  bool done = false;
  HeldAnswers::Snapshot held;
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

}  // namespace

NameVerifier::NameVerifier(NameLookup& lookup, HeldAnswers& answers)
    : lookup_(lookup), answers_(answers) {}

NameVerifier::NameVerifier(NameLookup& lookup, VerifierOptions options, NowFunction now)
    : lookup_(lookup),
      own_answers_(std::make_unique<HeldAnswers>(options, now)),
      answers_(*own_answers_) {}

NameVerifier::~NameVerifier() {
  *alive_ = false;
}

std::shared_ptr<NameVerifier::InFlight> NameVerifier::in_flight(const std::string& name) const {
  if (in_flight_.empty()) return nullptr;
  auto it = in_flight_.find(name);
  return it == in_flight_.end() ? nullptr : it->second;
}

asio::awaitable<std::shared_ptr<NameVerifier::InFlight>> NameVerifier::finished_lookup(
    std::string name, std::shared_ptr<InFlight> flight) {
  if (!flight) flight = start_lookup(std::move(name), co_await asio::this_coro::executor);
  if (!flight->done) {
    boost::system::error_code ec;
    co_await flight->signal.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (!flight->done) co_return nullptr;
  }
  co_return flight;
}

asio::awaitable<Verification> NameVerifier::verify(std::string name, base::IpAddress destination) {
  if (!normalise(name)) co_return Verification{Verdict::unresolved, "invalid name", {}};
  std::shared_ptr<InFlight> flight = in_flight(name);
  // One lock: a match, a claimed lookup, or the held answers' verdict. With a lookup of this
  // verifier in flight for the name, no second one is claimed: a miss waits for it.
  auto look = answers_.look(name, destination, answers_.now(), !flight);
  if (look.next == HeldAnswers::Look::Next::decided &&
      (!flight || look.verification.verdict == Verdict::match)) {
    co_return std::move(look.verification);
  }
  flight = co_await finished_lookup(std::move(name), std::move(flight));
  if (!flight) co_return Verification{Verdict::unresolved, "cancelled", {}};
  co_return decide(flight->held.addresses, destination, flight->held.detail);
}

asio::awaitable<Verification> NameVerifier::resolve(std::string name) {
  if (!normalise(name)) co_return Verification{Verdict::unresolved, "invalid name", {}};
  std::shared_ptr<InFlight> flight = in_flight(name);
  auto look = answers_.addresses(name, answers_.now(), !flight);
  // As verify: with a lookup of this verifier in flight, only held addresses answer at once.
  if (look.next == HeldAnswers::Look::Next::decided &&
      (!flight || look.verification.verdict == Verdict::match)) {
    co_return std::move(look.verification);
  }
  flight = co_await finished_lookup(std::move(name), std::move(flight));
  if (!flight) co_return Verification{Verdict::unresolved, "cancelled", {}};
  if (flight->held.addresses.empty()) {
    co_return Verification{
        Verdict::unresolved,
        flight->held.detail.empty() ? std::string("no address") : flight->held.detail,
        {}};
  }
  co_return Verification{Verdict::match, {}, flight->held.addresses};
}

std::optional<Verdict> NameVerifier::held(std::string_view name,
                                          const base::IpAddress& destination) const {
  std::string key(name);
  if (!normalise(key)) return std::nullopt;
  return answers_.held(key, destination, answers_.now());
}

std::shared_ptr<NameVerifier::InFlight> NameVerifier::start_lookup(
    std::string name, const asio::any_io_executor& ex) {
  auto flight = std::make_shared<InFlight>(ex, std::move(name));
  in_flight_[flight->name] = flight;
  ++lookups_;
  lookup_.lookup(flight->name, [this, alive = alive_, flight](Answer answer) {
    if (!*alive) {
      flight->done = true;
      flight->held.detail = "verifier stopped";
      flight->signal.cancel();
      return;
    }
    complete(flight, answer);
  });
  return flight;
}

void NameVerifier::complete(const std::shared_ptr<InFlight>& flight, const Answer& answer) {
  if (auto it = in_flight_.find(flight->name); it != in_flight_.end() && it->second == flight) {
    in_flight_.erase(it);
  }
  // Into the shared store: every worker's later verify sees these answers.
  flight->held = answers_.merge(flight->name, answer, answers_.now());
  flight->done = true;
  flight->signal.cancel();
}

}  // namespace egress::resolve
