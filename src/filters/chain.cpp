#include "filters/chain.hpp"

#include <spdlog/spdlog.h>

#include <stdexcept>

#include "filters/admission.hpp"
#include "filters/connect_filter.hpp"
#include "filters/loop_guard_filter.hpp"
#include "filters/name_filter.hpp"
#include "filters/original_dst.hpp"
#include "filters/policy_filter.hpp"
#include "filters/proxy_protocol.hpp"
#include "filters/tls_identity.hpp"
#include "tls/context_store.hpp"

namespace egress::filters {

namespace {

/// "policy deny rule=block-x", "admission deny over_limit", "original_dst ok".
void trace_step(std::string& out, std::string_view step, const std::optional<base::Outcome>& r,
                const Facts& facts) {
  if (!out.empty()) out += ", ";
  out += step;
  if (!r && step == "connect" && facts.connect) {
    // "connect api.example.com:443 3 addresses", "connect 203.0.113.5:443".
    out += ' ';
    if (facts.connect->name.empty()) {
      if (facts.dst) out += facts.dst->to_string();
    } else {
      out += facts.connect->name + ":" + std::to_string(facts.connect->port);
      if (facts.name) {
        const std::size_t n = facts.name->dns_answers.size();
        out += " " + std::to_string(n) + (n == 1 ? " address" : " addresses");
      }
    }
    return;
  }
  if (!r && step == "name" && facts.name) {
    // "name sni api.stripe.com match", "name none not_checked": what was found, and DNS's word.
    const NameFacts& n = *facts.name;
    out += n.source == NameSource::sni         ? " sni "
           : n.source == NameSource::http_host ? " http_host "
                                               : " none ";
    if (!n.host.empty()) {
      out += n.host;
      out += ' ';
    }
    out += policy::to_string(n.verified);
    return;
  }
  if (!r) {
    out += " ok";
    return;
  }
  out += r->allow ? " allow " : " deny ";
  out += base::to_string(r->reason);
  if (r->reason == base::Reason::rule && facts.decision) {
    out += "=";
    out += facts.decision->rule_id;
  }
}

}  // namespace

boost::asio::awaitable<base::Outcome> FilterChain::run(Facts& facts, FilterContext& context) {
  // The data path is benchmarked: the trace is built only when someone reads it.
  const bool trace = spdlog::should_log(spdlog::level::debug);
  std::string steps;
  std::optional<base::Outcome> outcome;
  for (const auto& f : filters_) {
    outcome = co_await f->on_connection(facts, context);
    // The name step passes at once, without a look at the bytes, when no hostname rule could
    // match: the line then stays what it was without the step.
    // So does it for a CONNECT name (the connect step read and resolved it).
    const bool skipped = !outcome && f->name() == "name" &&
                         (!facts.name || facts.name->source == NameSource::connect);
    if (trace && !skipped) trace_step(steps, f->name(), outcome, facts);
    if (outcome) break;
  }
  if (!outcome) {
    // Fail closed: a chain without a decider never lets a connection through.
    outcome = base::Outcome::denied(base::Reason::no_policy, "no step of the chain decided");
    if (trace) steps += steps.empty() ? "no decision" : ", no decision";
  }
  // Decided (allow or deny): the pending slot goes back, so a long-lived relayed connection does
  // not hold the handshake budget.
  facts.slots.decided();
  if (trace) spdlog::debug("conn {}: {}", facts.id, steps);
  co_return std::move(*outcome);
}

std::string FilterChain::describe() const {
  std::string out;
  for (const auto& f : filters_) {
    if (!out.empty()) out += ",";
    out += f->name();
  }
  return out;
}

ChainFactory::ChainFactory(const ListenerInfo& listener, ChainServices services)
    : listener_(listener), services_(services) {
  const auto& options = listener_.config.tls;
  if (options.mode == tls::Mode::off) return;
  const std::string where = "listeners[" + std::to_string(listener_.index) + "].tls";
  tls::ContextError error;
  tls_ = tls::ContextStore::create(options, error);
  if (!tls_)
    throw std::runtime_error(where + (error.option.empty() ? ": " : ".") + error.to_string());
}

ChainFactory::~ChainFactory() = default;

FilterChain ChainFactory::build(resolve::NameVerifier& names) const {
  FilterChain chain;
  // The PROXY header is the first bytes of the stream: read before anything else reads it.
  if (const auto& pp = listener_.config.proxy_protocol)
    chain.add(std::make_unique<ProxyProtocolFilter>(*pp, listener_.config.peek.timeout,
                                                    listener_.config.peek.max_bytes));
  if (listener_.config.destination == config::DestinationMode::connect) {
    // The destination is what the client asks for, inside its mTLS when the listener has it:
    // the request is read after the handshake, and the loop guard judges what it named.
    chain.add(std::make_unique<AdmissionFilter>(services_.limits));
    if (tls_) chain.add(std::make_unique<TlsIdentityFilter>(*tls_));
    chain.add(std::make_unique<ConnectFilter>(names, listener_.config.connect_request_timeout));
    chain.add(std::make_unique<LoopGuardFilter>(services_.loop_guard));
    // An IP-literal CONNECT's tunnel bytes are read for a name as a transparent connection's
    // are; a CONNECT name passes (the connect step resolved it).
    chain.add(std::make_unique<NameFilter>(services_.policy, names, listener_.config.peek));
    // The loop guard again for a name's addresses: none of them that is the gateway is dialled.
    chain.add(std::make_unique<PolicyFilter>(services_.policy, &services_.loop_guard));
    return chain;
  }
  // original_dst first: it never waits (one getsockopt), and a deny by a limit still records
  // where the client was going.
  chain.add(std::make_unique<OriginalDstFilter>(listener_.config.destination));
  chain.add(std::make_unique<AdmissionFilter>(services_.limits));
  chain.add(std::make_unique<LoopGuardFilter>(services_.loop_guard));
  if (tls_) chain.add(std::make_unique<TlsIdentityFilter>(*tls_));
  // After the handshake (an mTLS listener's name is read from the decrypted stream, and a
  // client's identity can decide whether any hostname rule applies), before the decision.
  chain.add(std::make_unique<NameFilter>(services_.policy, names, listener_.config.peek));
  chain.add(std::make_unique<PolicyFilter>(services_.policy));
  return chain;
}

}  // namespace egress::filters
