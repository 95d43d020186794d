#include "policy/lint.hpp"

#include <algorithm>
#include <map>
#include <tuple>

#include "clock/rfc3339.hpp"
#include "policy/scope.hpp"

namespace egress::policy {

namespace {

base::Diagnostic warning(const model::Position& at, std::string key, std::string message) {
  base::Diagnostic d;
  d.severity = base::Diagnostic::Severity::warning;
  d.file = at.file;
  d.line = at.line;
  d.column = at.column;
  d.key_path = std::move(key);
  d.message = std::move(message);
  return d;
}

std::string where(const model::Position& p) {
  return p.file + ":" + std::to_string(p.line);
}

// True when every connection `inner` matches is matched by `outer` (conservative: false when
// unsure).
bool covers(const model::PrincipalEntry& outer, const model::PrincipalEntry& inner) {
  if (outer.any) return true;
  if (inner.any) return false;
  if (outer.identity && outer.identity != inner.identity) return false;
  if (outer.dns_name && outer.dns_name != inner.dns_name) return false;
  if (outer.common_name && outer.common_name != inner.common_name) return false;
  if (outer.role && outer.role != inner.role) return false;
  if (outer.source) {
    if (!inner.source) return false;
    if (!AddressSet::from_cidrs(*inner.source).subset_of(AddressSet::from_cidrs(*outer.source))) {
      return false;
    }
  }
  return true;
}

std::vector<base::Diagnostic> sorted(std::vector<base::Diagnostic> v) {
  std::stable_sort(v.begin(), v.end(), [](const base::Diagnostic& a, const base::Diagnostic& b) {
    return std::tie(a.file, a.line, a.column) < std::tie(b.file, b.line, b.column);
  });
  return v;
}

// Suffixes that many unrelated customers share: a wildcard under one allows every tenant.
constexpr std::string_view kSharedCdnSuffixes[] = {
    "cloudfront.net", "azureedge.net", "fastly.net", "akamaiedge.net", "googleusercontent.com",
};

void warn_shared_suffixes(const std::vector<HostPattern>& hosts, const std::string& key,
                          std::vector<base::Diagnostic>& out) {
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    const auto& h = hosts[i];
    if (!h.wildcard) continue;
    for (const auto suffix : kSharedCdnSuffixes) {
      if (h.name == suffix || is_below(h.name, suffix)) {
        out.push_back(warning(h.pos, key + "[" + std::to_string(i) + "]",
                              "\"" + h.written + "\" is a wildcard under the shared CDN suffix " +
                                  std::string(suffix) +
                                  ": it matches every customer of that CDN; name the hosts "
                                  "you mean"));
        break;
      }
    }
  }
}

// True when every name `inner` can match, `outer` matches too (nullopt = any name, or none).
bool hosts_covered(const std::optional<std::vector<HostPattern>>& inner,
                   const std::optional<std::vector<HostPattern>>& outer) {
  if (!outer) return true;
  return inner && hosts_within(*inner, *outer);
}

struct ResolvedRule {
  const model::Rule* rule;
  std::vector<DestinationScope> to;  // non-empty scopes only
};

}  // namespace

std::vector<base::Diagnostic> lint(const model::Model& m,
                                   std::chrono::system_clock::time_point now) {
  std::vector<base::Diagnostic> out;
  if (!m.settings) return out;
  std::map<std::string, const model::Destination*> dests;
  for (const auto& d : m.destinations) dests.emplace(d.name, &d);
  const AddressSet deny_set = AddressSet::from_cidrs(m.settings->deny_destinations)
                                  .subtract(AddressSet::from_cidrs(m.settings->deny_exceptions))
                                  .with_embedded_v4();  // as the compiler's deny set

  for (const auto& d : m.destinations) {
    if (d.hosts) warn_shared_suffixes(*d.hosts, "hosts", out);
  }
  std::vector<ResolvedRule> resolved;
  for (const auto& rule : m.rules) {
    for (std::size_t i = 0; i < rule.to.size(); ++i) {
      if (rule.to[i].hosts)
        warn_shared_suffixes(*rule.to[i].hosts, "to[" + std::to_string(i) + "].hosts", out);
    }
    ResolvedRule rr{&rule, {}};
    for (const auto& to : rule.to) {
      const model::Destination* named = nullptr;
      if (to.destination) {
        auto it = dests.find(*to.destination);
        if (it == dests.end()) continue;
        named = it->second;
      }
      auto scope = resolve_destination(to, named);
      if (!scope.empty()) rr.to.push_back(std::move(scope));
    }
    if (rr.to.empty()) {
      out.push_back(warning(rule.pos, "to",
                            "rule \"" + rule.id +
                                "\" can never match: every destination is carved out by except "
                                "(or its ports or hosts do not overlap)"));
    } else {
      bool all_denied = true;
      for (const auto& s : rr.to) all_denied = all_denied && s.addresses.subset_of(deny_set);
      if (all_denied) {
        out.push_back(warning(rule.pos, "to",
                              "rule \"" + rule.id +
                                  "\" can never match: every destination is inside "
                                  "Settings.deny_destinations, which is denied before any rule"));
      }
    }
    if (rule.expires) {
      if (*rule.expires <= now) {
        out.push_back(warning(rule.expires_pos, "expires",
                              "rule \"" + rule.id + "\" expired at " +
                                  clock::format_rfc3339(*rule.expires) +
                                  " and never matches; remove it"));
      } else if (*rule.expires - now <= std::chrono::hours(24 * 14)) {
        const auto days =
            std::chrono::duration_cast<std::chrono::hours>(*rule.expires - now).count() / 24;
        out.push_back(warning(rule.expires_pos, "expires",
                              "rule \"" + rule.id + "\" expires at " +
                                  clock::format_rfc3339(*rule.expires) + " (in " +
                                  std::to_string(days) + " days)"));
      }
    }
    resolved.push_back(std::move(rr));
  }

  // Allow rules fully shadowed by an enforce-mode deny rule (deny rules are evaluated first).
  // Quadratic: bounded so that a huge generated policy still loads quickly.
  std::size_t denies = 0, allows = 0;
  for (const auto& rr : resolved) (rr.rule->action == Action::deny ? denies : allows)++;
  if (denies * allows > 1'000'000) return sorted(std::move(out));
  std::vector<const ResolvedRule*> enforced_denies;
  for (const auto& d : resolved) {
    if (d.rule->action == Action::deny && !d.rule->report) enforced_denies.push_back(&d);
  }
  for (const auto& a : resolved) {
    if (a.rule->action != Action::allow || a.to.empty()) continue;
    for (const ResolvedRule* dp : enforced_denies) {
      const ResolvedRule& d = *dp;
      if (d.rule->expires && (!a.rule->expires || *d.rule->expires < *a.rule->expires)) continue;
      bool all = true;
      for (const auto& af : a.rule->from) {
        for (const auto& at : a.to) {
          bool one = false;
          for (const auto& df : d.rule->from) {
            if (!covers(df, af)) continue;
            for (const auto& dt : d.to) {
              if (at.addresses.subset_of(dt.addresses) && at.ports.subset_of(dt.ports) &&
                  hosts_covered(at.hosts, dt.hosts)) {
                one = true;
                break;
              }
            }
            if (one) break;
          }
          all = all && one;
          if (!all) break;
        }
        if (!all) break;
      }
      if (all) {
        out.push_back(warning(
            a.rule->pos, "from",
            "allow rule \"" + a.rule->id + "\" is fully shadowed by deny rule \"" + d.rule->id +
                "\" (" + where(d.rule->pos) + "), which is evaluated first; it can never decide"));
        break;
      }
    }
  }
  return sorted(std::move(out));
}

}  // namespace egress::policy
