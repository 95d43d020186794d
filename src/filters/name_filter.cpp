#include "filters/name_filter.hpp"

#include <chrono>
#include <cstdint>
#include <span>
#include <string>

#include "peek/client_hello_reader.hpp"
#include "peek/first_bytes.hpp"
#include "peek/http_host_reader.hpp"
#include "policy/policy.hpp"

namespace egress::filters {

namespace {

using Clock = std::chrono::steady_clock;

std::span<const std::uint8_t> as_bytes(std::string_view s) noexcept {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

std::string bytes_seen(std::size_t n) {
  return std::to_string(n) + (n == 1 ? " byte" : " bytes");
}

}  // namespace

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

boost::asio::awaitable<std::optional<base::Outcome>> NameFilter::read_name(FilterContext& context,
                                                                           NameFacts& out) const {
  const auto until = Clock::now() + peek_.timeout;
  peek::ClientHelloReader hello(peek_.max_bytes);
  peek::HttpHostReader http(peek_.max_bytes);
  peek::FirstBytes kind = peek::FirstBytes::need_more;
  std::size_t seen = 0;
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - Clock::now());
    if (left.count() <= 0) {
      out.detail = "timeout after " + std::to_string(peek_.timeout.count()) + " ms";
      if (seen > 0) out.detail += " with " + bytes_seen(seen) + " seen";
      co_return std::nullopt;
    }
    const Peeked p = co_await context.peek(peek_.max_bytes, left);
    seen = p.bytes.size();
    if (kind == peek::FirstBytes::need_more) kind = peek::classify_first_bytes(p.bytes);
    switch (kind) {
      case peek::FirstBytes::tls: {
        const auto& r = hello.read(as_bytes(p.bytes));
        if (r.status == peek::PeekStatus::invalid)
          co_return base::Outcome::denied(base::Reason::client_hello_invalid, r.detail);
        if (r.status == peek::PeekStatus::done) {
          out.ech = r.ech;
          if (r.sni.empty()) {
            out.detail = "ClientHello without server_name";
          } else {
            out.host = r.sni;
            out.source = NameSource::sni;
          }
          co_return std::nullopt;
        }
        break;
      }
      case peek::FirstBytes::http: {
        const auto& r = http.read(p.bytes);
        if (r.status == peek::PeekStatus::invalid)
          co_return base::Outcome::denied(base::Reason::http_request_invalid, r.detail);
        if (r.status == peek::PeekStatus::done) {
          if (r.host.host.empty()) {
            out.detail = "HTTP request without Host";
          } else if (r.host.ip_literal) {
            // An address is not a name: no hostname rule can match it (issue 19).
            out.detail = "Host is an IP address (" + r.host.host + "), not a name";
          } else {
            out.host = r.host.host;
            out.source = NameSource::http_host;
          }
          co_return std::nullopt;
        }
        break;
      }
      case peek::FirstBytes::other:
        out.detail = "not TLS or HTTP";
        co_return std::nullopt;
      case peek::FirstBytes::need_more:
        break;
    }
    if (p.timed_out) {
      out.detail = "timeout after " + std::to_string(peek_.timeout.count()) + " ms";
      if (seen > 0) out.detail += " with " + bytes_seen(seen) + " seen";
      co_return std::nullopt;
    }
    if (p.complete || seen >= peek_.max_bytes) {
      // The client ended its stream, or (TLS) the peek cannot see past the first record, or the
      // readers want more than max_bytes without having refused it (cannot happen today): either
      // way no name is coming.
      out.detail = seen == 0 ? "the client sent nothing"
                             : "no name in the " + bytes_seen(seen) + " the peek could see";
      co_return std::nullopt;
    }
  }
}

boost::asio::awaitable<std::optional<base::Outcome>> NameFilter::on_connection(
    Facts& facts, FilterContext& context) {
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
  auto denied = co_await read_name(context, name);
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
