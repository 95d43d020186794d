#include "filters/name_filter.hpp"

#include <chrono>
#include <string>

#include "filters/name_reader.hpp"
#include "policy/policy.hpp"

namespace egress::filters {

policy::NameVerification to_name_verification(resolve::Verdict v) noexcept {
  switch (v) {
    case resolve::Verdict::match:
      return policy::NameVerification::match;
    case resolve::Verdict::mismatch:
      return policy::NameVerification::mismatch;
    case resolve::Verdict::unresolved:
      break;
  }
  return policy::NameVerification::unresolved;
}

boost::asio::awaitable<std::optional<base::Outcome>> NameFilter::on_connection(
    Facts& facts, FilterContext& context) {
  // A CONNECT request's name (issue 20) was resolved by egressd itself: nothing to read or
  // verify. Its tunnel's own first bytes are read by the session after the 200.
  if (facts.name && facts.name->source == NameSource::connect) co_return std::nullopt;
  if (!facts.dst) co_return std::nullopt;
  policy::HostVerification mode = policy::HostVerification::strict;
  {
    // Only this question is asked of the snapshot: the policy step takes its own when it
    // decides (issue 17 item 8), so a reload during the peek decides the connection.
    const auto policy = store_.current();
    if (!policy) co_return std::nullopt;
    policy::ConnectionFacts in;
    in.src = facts.src.address;
    in.dst = facts.dst->address;
    in.dst_port = facts.dst->port;
    in.identity = facts.identity ? &*facts.identity : nullptr;
    in.now = std::chrono::system_clock::now();
    // Server-first protocols to CIDR-allowed destinations must not wait for bytes that never
    // come: only a connection a hostname rule could match peeks.
    if (!policy->may_depend_on_name(in)) co_return std::nullopt;
    mode = policy->host_verification();
  }
  NameFacts name;
  auto denied = co_await read_name(context, peek_, name);
  if (denied) {
    facts.name = std::move(name);
    co_return denied;
  }
  if (name.source != NameSource::none && mode != policy::HostVerification::off) {
    resolve::Verification v = co_await verifier_.verify(name.host, facts.dst->address);
    name.verified = to_name_verification(v.verdict);
    name.dns_answers = std::move(v.answers);
    // "DNS: timeout after 2000 ms" cannot be taken for the peek's "timeout after 1000 ms".
    if (!v.detail.empty()) name.detail = "DNS: " + v.detail;
  }
  facts.name = std::move(name);
  co_return std::nullopt;
}

}  // namespace egress::filters
