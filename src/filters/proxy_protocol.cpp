#include "filters/proxy_protocol.hpp"

#include <string>

#include "filters/peeked_bytes.hpp"
#include "peek/proxy_header.hpp"

namespace egress::filters {

namespace {

using Clock = std::chrono::steady_clock;

/// What the peeks ended with: the reader's last result over the bytes seen, and how the peeking
/// ended when the reader still wanted more.
struct HeaderRead {
  peek::ProxyHeaderResult header;
  std::size_t seen = 0;
  bool timed_out = false;  ///< need_more: the deadline passed
};

boost::asio::awaitable<HeaderRead> read_header(FilterContext& context,
                                               std::chrono::milliseconds timeout,
                                               std::size_t max_bytes) {
  const auto until = Clock::now() + timeout;
  HeaderRead out;
  for (;;) {
    const auto left =
        std::max(std::chrono::milliseconds(0),
                 std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()));
    const Peeked p = co_await context.peek(max_bytes, left);
    out.seen = p.bytes.size();
    out.header = peek::read_proxy_header(as_octets(p.bytes), max_bytes);
    if (out.header.status != peek::PeekStatus::need_more) co_return out;
    if (p.timed_out || p.complete || p.bytes.size() >= max_bytes || Clock::now() >= until) {
      out.timed_out = !p.complete && p.bytes.size() < max_bytes;
      co_return out;
    }
  }
}

std::string why_incomplete(const HeaderRead& r, std::chrono::milliseconds timeout) {
  if (r.seen == 0) {
    return r.timed_out ? "no bytes within " + std::to_string(timeout.count()) + " ms"
                       : "the connection ended before any byte";
  }
  return (r.timed_out ? "no complete PROXY header within " + std::to_string(timeout.count()) + " ms"
                      : std::string("the connection ended inside the PROXY header")) +
         " (" + std::to_string(r.seen) + " bytes)";
}

}  // namespace

ProxyProtocolFilter::ProxyProtocolFilter(const config::ProxyProtocolConfig& config,
                                         std::chrono::milliseconds timeout, std::size_t max_bytes)
    : trusted_(policy::AddressSet::from_cidrs(config.trusted)),
      timeout_(timeout),
      max_bytes_(max_bytes) {}

boost::asio::awaitable<std::optional<base::Outcome>> ProxyProtocolFilter::on_connection(
    Facts& facts, FilterContext& context) {
  const HeaderRead r = co_await read_header(context, timeout_, max_bytes_);
  const peek::ProxyHeaderResult& h = r.header;

  if (!trusted_.contains(facts.src.address)) {
    // A header from anyone else is a claim to be someone else: refused, whether or not it is
    // well formed once its signature is there.
    // A partial signature at the deadline counts too: let through, its rest would follow and
    // reach an upstream that may trust this gateway's PROXY headers.
    const bool header = h.status == peek::PeekStatus::done ||
                        (h.status == peek::PeekStatus::invalid && !h.no_header) ||
                        (h.status == peek::PeekStatus::need_more && r.seen > 0);
    if (header) {
      co_return base::Outcome::denied(base::Reason::proxy_header_untrusted,
                                      (h.status == peek::PeekStatus::need_more
                                           ? "the start of a PROXY header"
                                           : "PROXY v" + std::to_string(h.version) + " header") +
                                          " from " + facts.src.address.to_string() +
                                          ", which is not in proxy_protocol.trusted");
    }
    // No header (or none before the deadline): the bytes are the client's, as on any listener.
    // Only looked at: the next step's peek starts afresh.
    context.discard(0);
    co_return std::nullopt;
  }

  if (h.status == peek::PeekStatus::need_more) {
    co_return base::Outcome::denied(base::Reason::proxy_header_invalid,
                                    "no PROXY header from trusted " + facts.src.to_string() + ": " +
                                        why_incomplete(r, timeout_));
  }
  if (h.status == peek::PeekStatus::invalid) {
    co_return base::Outcome::denied(base::Reason::proxy_header_invalid,
                                    h.no_header
                                        ? "no PROXY header from trusted " + facts.src.to_string() +
                                              ": the stream starts with other bytes"
                                        : h.detail);
  }
  if (!context.discard(h.length)) {
    co_return base::Outcome::denied(
        base::Reason::proxy_header_invalid,
        "the PROXY header's " + std::to_string(h.length) + " bytes could not be consumed");
  }
  if (h.command == peek::ProxyCommand::local) {
    // The balancer's own connection (a health check): no client, nothing to decide or relay.
    co_return base::Outcome::denied(base::Reason::proxy_local,
                                    "PROXY LOCAL from " + facts.src.to_string(),
                                    base::Ending::close);
  }
  const bool tcp =
      h.transport == peek::ProxyTransport::tcp4 || h.transport == peek::ProxyTransport::tcp6;
  if (!tcp || !h.source || !h.destination) {
    co_return base::Outcome::denied(
        base::Reason::proxy_transport_unsupported,
        "PROXY v" + std::to_string(h.version) + " header announces transport " +
            std::string(peek::to_string(h.transport)) + "; egressd relays TCP only");
  }
  facts.proxied_by = facts.src;
  facts.src = *h.source;
  // The address the client connected to, as the balancer saw it (an intercepting balancer's
  // original destination); the original_dst step keeps it instead of asking the kernel, whose
  // answer would be the balancer's own connection's.
  facts.dst = *h.destination;
  co_return std::nullopt;
}

}  // namespace egress::filters
