#include "core/later_request_check.hpp"

#include <chrono>

#include "filters/name_filter.hpp"
#include "peek/hostname.hpp"
#include "policy/policy.hpp"
#include "resolve/name_verifier.hpp"

namespace egress::core {

namespace {

// "allow (rule \"r1\")", "deny (default)".
std::string describe(const policy::Decision& d) {
  std::string out(policy::to_string(d.action));
  out += " (";
  if (d.reason == policy::Reason::rule) {
    out.append("rule \"").append(d.rule_id).append("\"");
  } else {
    out += policy::to_string(d.reason);
  }
  out += ")";
  return out;
}

std::string in_quotes(std::string_view host) {
  if (host.empty()) return "(none)";
  std::string out;
  out.append(1, '"').append(host).append(1, '"');
  return out;
}

}  // namespace

LaterRequestCheck::LaterRequestCheck(const filters::Facts& facts,
                                     const resolve::NameVerifier* verifier)
    : facts_(facts), verifier_(verifier) {
  if (facts.name) first_ = peek::normalize_hostname(facts.name->host);
}

std::optional<std::string> LaterRequestCheck::check(const peek::HttpHost& host,
                                                    std::size_t index) const {
  // An address is not a name (the name step says the same of a first request's): no hostname
  // rule can match it, so it is evaluated without one.
  const std::string_view name = host.ip_literal ? std::string_view() : host.host;
  if (!name.empty() && name == first_) return std::nullopt;

  std::string prefix = "request " + std::to_string(index) + ": Host " +
                       in_quotes(host.ip_literal ? std::string_view(host.host) : name);
  const policy::Policy* policy = facts_.policy.get();
  if (policy == nullptr || !facts_.decision || !facts_.dst) {
    // Not expected for a relayed connection; without the first decision nothing can match it.
    return prefix + " differs from the first request's " + in_quotes(first_) +
           ", and the connection's decision is not known";
  }

  policy::ConnectionFacts in;
  in.src = facts_.src.address;
  in.dst = facts_.dst->address;
  in.dst_port = facts_.dst->port;
  in.identity = facts_.identity ? &*facts_.identity : nullptr;
  in.now = std::chrono::system_clock::now();
  in.host = name;
  if (!name.empty() && verifier_ != nullptr &&
      policy->host_verification() != policy::HostVerification::off) {
    // Only what is held: the relay must not wait for DNS. Nothing held is not verified.
    if (const auto held = verifier_->held(name, facts_.dst->address)) {
      in.name_verification = filters::to_name_verification(*held);
    }
  }
  const policy::Decision later = policy->evaluate(in);
  const policy::Decision& first = *facts_.decision;
  if (later.action == first.action && later.rule_id == first.rule_id) return std::nullopt;
  std::string detail = std::move(prefix);
  detail.append(" decides ").append(describe(later));
  if (!name.empty()) {
    detail.append(" (name_verified: ").append(policy::to_string(in.name_verification)).append(")");
  }
  detail.append(", the first request's ").append(in_quotes(first_)).append(" ");
  detail.append(describe(first));
  return detail;
}

}  // namespace egress::core
