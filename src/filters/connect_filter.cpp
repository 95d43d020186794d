#include "filters/connect_filter.hpp"

#include <string>

#include "filters/peeked_bytes.hpp"
#include "peek/connect_request.hpp"

namespace egress::filters {

namespace {

using Clock = std::chrono::steady_clock;

base::Outcome refused(Facts& facts, int status, std::string detail) {
  ConnectFacts& c = facts.connect.emplace();
  c.status = status;
  c.detail = detail;
  return base::Outcome::denied(base::Reason::connect_request_invalid, std::move(detail),
                               base::Ending::close);
}

}  // namespace

boost::asio::awaitable<std::optional<base::Outcome>> ConnectFilter::on_connection(
    Facts& facts, FilterContext& context) {
  const auto until = Clock::now() + timeout_;
  peek::ConnectRequestReader reader;
  const auto too_slow = [&](std::size_t seen) {
    std::string detail =
        "no complete CONNECT request within " + std::to_string(timeout_.count()) + " ms";
    if (seen > 0) detail += " (" + byte_count(seen) + " seen)";
    return base::Outcome::denied(base::Reason::connect_request_timeout, std::move(detail),
                                 base::Ending::close);
  };
  std::size_t seen = 0;
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - Clock::now());
    if (left.count() <= 0) co_return too_slow(seen);
    const Peeked p = co_await context.peek(reader.max_head_bytes(), left);
    seen = p.bytes.size();
    const peek::ConnectRequest& r = reader.read(as_octets(p.bytes));
    if (r.status == peek::PeekStatus::invalid) co_return refused(facts, r.status_code, r.detail);
    if (r.status == peek::PeekStatus::done) break;
    if (p.timed_out) co_return too_slow(seen);
    if (p.complete) {
      // The client ended its stream inside the head (or, over TLS, the head does not end in the
      // first record, past which a peek cannot see): no request will come.
      co_return refused(facts, 400,
                        seen == 0 ? "the client sent no CONNECT request"
                                  : "the CONNECT request did not end within the " +
                                        byte_count(seen) + " the client sent");
    }
  }
  const peek::ConnectRequest& r = reader.result();
  // The head is the gateway's, not the upstream's: the tunnel starts after it.
  if (!context.discard(r.length)) {
    co_return refused(facts, 400,
                      "the CONNECT request's " + byte_count(r.length) + " could not be consumed");
  }
  ConnectFacts& c = facts.connect.emplace();
  c.name = r.name;
  c.port = r.port;
  c.agent_conn = r.agent_conn;
  if (r.address) {
    facts.dst = base::Endpoint{*r.address, r.port};
    co_return std::nullopt;
  }
  // A PROXY header's destination (the gateway itself) is not where this client goes: the policy
  // step sets facts.dst to the answer it allows.
  facts.dst.reset();
  resolve::Verification v = co_await names_.resolve(c.name);
  NameFacts& n = facts.name.emplace();
  n.host = c.name;
  n.source = NameSource::connect;
  if (v.verdict != resolve::Verdict::match) {
    n.verified = policy::NameVerification::unresolved;
    n.detail = "DNS: " + v.detail;
    co_return base::Outcome::denied(base::Reason::name_unresolved, n.detail, base::Ending::close);
  }
  n.verified = policy::NameVerification::match;
  n.dns_answers = std::move(v.answers);
  co_return std::nullopt;
}

}  // namespace egress::filters
