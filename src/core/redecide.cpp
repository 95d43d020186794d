#include "core/redecide.hpp"

#include <algorithm>

#include "clock/rfc3339.hpp"
#include "filters/policy_filter.hpp"
#include "policy/policy.hpp"
#include "tls/revocation_list.hpp"

namespace egress::core {

std::optional<Revocation> redecide(const filters::Facts& facts, const policy::Policy& policy,
                                   std::chrono::system_clock::time_point now) {
  if (!facts.dst) return std::nullopt;
  const policy::Decision d = policy.evaluate(filters::policy_facts(facts, now));
  if (d.action == policy::Action::allow) return std::nullopt;
  Revocation r;
  r.rule = std::string(d.rule_id);
  if (d.reason == policy::Reason::rule) {
    r.detail = "now denied by rule '" + r.rule + "'";
  } else {
    r.detail = "now denied by " + std::string(to_string(filters::reason_of(d)));
  }
  r.detail += " (policy " + policy.version() + ")";
  return r;
}

std::optional<Revocation> recheck_certificate(const filters::Facts& facts,
                                              const tls::RevocationList& crls) {
  if (!facts.identity || !facts.identity->present()) return std::nullopt;
  const base::Identity& id = *facts.identity;
  const auto entry = crls.find(id.issuer, id.serial);
  if (!entry) return std::nullopt;
  Revocation r;
  r.reason = base::Reason::cert_revoked;
  r.detail = "client certificate serial " + id.serial + " of issuer \"" + id.issuer +
             "\" revoked by the reloaded CRL";
  if (!entry->revoked_at.empty()) r.detail += " (revoked at " + entry->revoked_at + ")";
  return r;
}

std::optional<Revocation> expire(const filters::Facts& facts,
                                 const std::vector<std::string>& expired,
                                 const policy::Policy& policy,
                                 std::chrono::system_clock::time_point now) {
  if (!facts.decision || facts.decision->rule_id.empty()) return std::nullopt;
  const std::string_view rule = facts.decision->rule_id;
  if (std::find(expired.begin(), expired.end(), rule) == expired.end()) return std::nullopt;
  auto why = redecide(facts, policy, now);
  if (!why) return std::nullopt;  // another rule allows it now
  why->reason = base::Reason::rule_expired;
  std::string at;
  if (const auto* info = policy.find_rule(rule); info != nullptr && info->expires) {
    at = " at " + clock::format_rfc3339(*info->expires);
  }
  why->detail = "rule '" + std::string(rule) + "' expired" + at + "; " + why->detail;
  why->rule = std::string(rule);
  return why;
}

std::vector<std::string> rules_expiring(const policy::Policy& policy,
                                        std::chrono::system_clock::time_point after,
                                        std::chrono::system_clock::time_point until) {
  std::vector<std::string> out;
  for (const auto& r : policy.rules()) {
    if (r.expires && *r.expires > after && *r.expires <= until) out.push_back(r.id);
  }
  return out;
}

std::optional<std::chrono::system_clock::time_point> next_expiry(
    const policy::Policy& policy, std::chrono::system_clock::time_point now) {
  std::optional<std::chrono::system_clock::time_point> out;
  for (const auto& r : policy.rules()) {
    if (r.expires && *r.expires > now && (!out || *r.expires < *out)) out = r.expires;
  }
  return out;
}

}  // namespace egress::core
