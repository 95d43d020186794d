// Policy::evaluate: the hot path. See compiled.hpp for the layout it walks.
#include <algorithm>
#include <limits>

#include "peek/hostname.hpp"
#include "policy/compiled.hpp"
#include "policy/policy.hpp"

namespace egress::policy {

namespace {

using detail::Clause;
using detail::ClauseTable;
using detail::Compiled;
using detail::kNone;
using detail::Scratch;
using detail::StringAtom;

constexpr std::uint32_t kNoRule = std::numeric_limits<std::uint32_t>::max();

// The first matching rule of each category, and whether it matched only through `hosts` (the
// name decided it).
struct Best {
  std::uint32_t owner[4] = {kNoRule, kNoRule, kNoRule, kNoRule};
  bool needs_name[4] = {false, false, false, false};

  void offer(const Clause& cl) noexcept {
    if (cl.owner < owner[cl.category]) {
      owner[cl.category] = cl.owner;
      needs_name[cl.category] = cl.needs_name;
    } else if (cl.owner == owner[cl.category] && !cl.needs_name) {
      needs_name[cl.category] = false;
    }
  }
};

// The identity's URI values: the SPIFFE ID and every other URI SAN.
template <class F>
void for_each_uri(const base::Identity* id, F&& f) {
  if (id == nullptr) return;
  if (!id->spiffe_id.empty()) f(std::string_view(id->spiffe_id));
  for (const auto& u : id->uri_sans) {
    if (u != id->spiffe_id) f(std::string_view(u));
  }
}

bool sorted_contains(const std::vector<int>& v, int x) noexcept {
  return std::binary_search(v.begin(), v.end(), x);
}

class Evaluation {
 public:
  Evaluation(const Compiled& c, const ConnectionFacts& f, Scratch& s) : c_(c), f_(f), s_(s) {
    s_.identity_hits.clear();
    s_.prefix_hits.clear();
    s_.cn_hits.clear();
    s_.roles.clear();
    s_.dns_count = 0;
    s_.uris.clear();
    for_each_uri(f.identity, [&](std::string_view u) {
      s_.uris.emplace_back(u, detail::StringIndex::hash_of(u));
      c.identity_patterns.match(u, s_.identity_hits);
    });
    sort_unique(s_.identity_hits);
    if (c.prefix_glob_count > 0) {
      for (const auto& uri : s_.uris) match_prefix_globs(uri.first);
      sort_unique(s_.prefix_hits);
    }
    if (f.identity) {
      if (!f.identity->common_name.empty())
        c.cn_patterns.match(f.identity->common_name, s_.cn_hits);
      sort_unique(s_.cn_hits);
      for (const auto& name : f.identity->dns_sans) {
        if (s_.dns.size() <= s_.dns_count) s_.dns.emplace_back();
        normalize_dns_name(name, s_.dns[s_.dns_count++]);
      }
    }
    s_.host.clear();
    if (!f.host.empty()) peek::normalize_hostname_into(f.host, s_.host);
  }

  // Stage 1: which roles the client is a member of.
  void match_roles() {
    for_each_candidate(c_.role_table, [&](std::uint32_t n) {
      const Clause& cl = c_.role_table.clauses[n];
      if (matches(cl)) s_.roles.push_back(cl.owner);
    });
    std::sort(s_.roles.begin(), s_.roles.end());
  }

  // Stage 2: the first matching rule (file order) of each category. With a name and hostname
  // rules, twice: trusting the client's name (`by_name`), and requiring a verified name for
  // allow rules' hosts (`verified`, a subset, so its owners are never smaller). Without, no
  // clause with hosts is a candidate and one pass fills `by_name` alone.
  template <bool WithNames>
  void match_rules(Best& by_name, Best& verified) {
    const std::int64_t now = f_.now.time_since_epoch().count();
    const bool name_ok = f_.name_verification == NameVerification::match;
    for_each_candidate(c_.rule_table, [&](std::uint32_t n) {
      const Clause& cl = c_.rule_table.clauses[n];
      if constexpr (!WithNames) {
        if (cl.owner >= by_name.owner[cl.category]) return;
        if (now >= cl.expires_ns) return;  // past `expires`: never matches
        if (matches(cl)) by_name.owner[cl.category] = cl.owner;
      } else {
        if (cl.owner > verified.owner[cl.category]) return;
        // Another clause of a rule already found only matters when it frees the rule from
        // needing the name.
        if (cl.owner == verified.owner[cl.category] &&
            (cl.needs_name ||
             (!verified.needs_name[cl.category] &&
              (cl.owner != by_name.owner[cl.category] || !by_name.needs_name[cl.category])))) {
          return;
        }
        if (now >= cl.expires_ns) return;  // past `expires`: never matches
        if (!matches(cl)) return;
        by_name.offer(cl);
        // A deny rule's names match on the claim alone: claiming a denied name is denied.
        if (!cl.needs_name || name_ok || cl.category == detail::deny_enforce ||
            cl.category == detail::deny_report) {
          verified.offer(cl);
        }
      }
    });
  }

  // may_depend_on_name: some clause of `t` (the name table) matches and has not expired.
  bool any_match(const ClauseTable& t) {
    const std::int64_t now = f_.now.time_since_epoch().count();
    bool found = false;
    for_each_candidate(t, [&](std::uint32_t n) {
      if (found) return;
      const Clause& cl = t.clauses[n];
      found = now < cl.expires_ns && matches(cl);
    });
    return found;
  }

 private:
  // For each '/' of the ID, the text up to and including it is a candidate prefix; the rest must
  // be one non-empty segment ("/*") or non-empty segments ("/**").
  void match_prefix_globs(std::string_view id) {
    const bool tail_ok = !id.empty() && id.back() != '/';
    const std::size_t last_empty_segment = id.rfind("//");
    for (std::size_t slash = id.find('/'); slash != std::string_view::npos && slash + 1 < id.size();
         slash = id.find('/', slash + 1)) {
      if (!c_.prefix_lengths[std::min<std::size_t>(slash + 1, c_.prefix_lengths.size() - 1)]) {
        continue;
      }
      const std::string_view prefix = id.substr(0, slash + 1);
      const std::string_view rest = id.substr(slash + 1);
      if (!c_.segment_globs.empty() && rest.find('/') == std::string_view::npos) {
        if (const int* id = c_.segment_globs.find(prefix)) s_.prefix_hits.push_back(*id);
      }
      if (!c_.subtree_globs.empty() && tail_ok &&
          (last_empty_segment == std::string_view::npos || last_empty_segment < slash)) {
        if (const int* id = c_.subtree_globs.find(prefix)) s_.prefix_hits.push_back(*id);
      }
    }
  }

  static void sort_unique(std::vector<int>& v) {
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
  }

  bool identity_matches(const StringAtom& a) const noexcept {
    if (a.prefix_glob >= 0) return sorted_contains(s_.prefix_hits, a.prefix_glob);
    if (a.kind == PatternKind::regex) return sorted_contains(s_.identity_hits, a.pattern);
    for (const auto& uri : s_.uris) {
      if (uri.first == a.text) return true;
    }
    return false;
  }

  bool dns_matches(const StringAtom& a) const noexcept {
    for (std::size_t i = 0; i < s_.dns_count; ++i) {
      const std::string& name = s_.dns[i];
      if (a.kind == PatternKind::exact) {
        if (name == a.text) return true;
      } else if (name.size() > a.text.size() + 1 && name.ends_with(a.text) &&
                 name[name.size() - a.text.size() - 1] == '.') {
        return true;
      }
    }
    return false;
  }

  bool cn_matches(const StringAtom& a) const noexcept {
    if (f_.identity == nullptr || f_.identity->common_name.empty()) return false;
    if (a.kind == PatternKind::regex) return sorted_contains(s_.cn_hits, a.pattern);
    return f_.identity->common_name == a.text;
  }

  bool matches(const Clause& cl) const noexcept {
    if (cl.dst != kNone && !c_.sets.contains_address(cl.dst, f_.dst)) return false;
    if (cl.ports != kNone && !c_.sets.contains_port(cl.ports, f_.dst_port)) return false;
    if (cl.src != kNone && !c_.sets.contains_address(cl.src, f_.src)) return false;
    if (cl.role != kNone && !std::binary_search(s_.roles.begin(), s_.roles.end(),
                                                static_cast<std::uint32_t>(cl.role))) {
      return false;
    }
    if (cl.identity != kNone && !identity_matches(c_.identity_atoms[cl.identity])) return false;
    if (cl.dns != kNone && !dns_matches(c_.dns_atoms[cl.dns])) return false;
    if (cl.cn != kNone && !cn_matches(c_.cn_atoms[cl.cn])) return false;
    return true;
  }

  template <class F>
  void visit(const detail::StringIndex& index, std::string_view key, F& f) const {
    visit(index, key, detail::StringIndex::hash_of(key), f);
  }
  template <class F>
  void visit(const detail::StringIndex& index, std::string_view key, std::size_t hash, F& f) const {
    if (const auto* list = index.find(key, hash)) {
      for (auto n : *list) f(n);
    }
  }

  template <class F>
  void for_each_candidate(const ClauseTable& t, F&& f) const {
    for (const auto& [uri, hash] : s_.uris) visit(t.identity_exact, uri, hash, f);
    for (int p : s_.identity_hits) {
      for (auto n : t.identity_pattern[static_cast<std::size_t>(p)]) f(n);
    }
    for (int p : s_.prefix_hits) {
      for (auto n : t.identity_prefix[static_cast<std::size_t>(p)]) f(n);
    }
    for (std::size_t i = 0; i < s_.dns_count; ++i) {
      const std::string_view name = s_.dns[i];
      visit(t.dns_exact, name, f);
      if (t.dns_suffix.empty()) continue;
      // *.example.com matches any name with a label before ".example.com".
      for (std::size_t dot = name.find('.'); dot != std::string_view::npos;
           dot = name.find('.', dot + 1)) {
        visit(t.dns_suffix, name.substr(dot + 1), f);
      }
    }
    if (f_.identity && !f_.identity->common_name.empty()) {
      visit(t.cn_exact, f_.identity->common_name, f);
    }
    if (!s_.host.empty()) {
      const std::string_view host = s_.host;
      if (!t.host_exact.empty()) visit(t.host_exact, host, f);
      if (!t.host_suffix.empty()) {
        // *.example.com matches any name with a label before ".example.com".
        for (std::size_t dot = host.find('.'); dot != std::string_view::npos;
             dot = host.find('.', dot + 1)) {
          visit(t.host_suffix, host.substr(dot + 1), f);
        }
      }
    }
    for (int p : s_.cn_hits) {
      for (auto n : t.cn_pattern[static_cast<std::size_t>(p)]) f(n);
    }
    for (auto r : s_.roles) {
      for (auto n : t.by_role[r]) f(n);
    }
    t.dst.for_each_match(f_.dst, f);
    t.src.for_each_match(f_.src, f);
    for (auto n : t.ports.lookup(f_.dst_port)) f(n);
    for (auto n : t.unanchored) f(n);
  }

  const Compiled& c_;
  const ConnectionFacts& f_;
  Scratch& s_;
};

struct Outcome {
  Action action;
  Reason reason;
  std::uint32_t rule;
  bool needs_name = false;

  bool same(const Outcome& o) const noexcept { return action == o.action && rule == o.rule; }
};

// The enforced outcome of one view (report-mode rules ignored), or its shadow (report-mode rules
// count as enforced; an enforced rule of the same action still decides first).
[[gnu::always_inline]] inline Outcome pick(const Best& b, Action default_action,
                                           bool shadow) noexcept {
  using namespace detail;
  auto first = [&](Category enforce, Category report) {
    return shadow && b.owner[enforce] == kNoRule ? report : enforce;
  };
  const Category deny = first(deny_enforce, deny_report);
  const Category allow = first(allow_enforce, allow_report);
  if (b.owner[deny] != kNoRule)
    return {Action::deny, Reason::rule, b.owner[deny], b.needs_name[deny]};
  if (b.owner[allow] != kNoRule)
    return {Action::allow, Reason::rule, b.owner[allow], b.needs_name[allow]};
  return {default_action, Reason::default_action, kNoRule, false};
}

// The enforced and shadow outcomes when the client sent a name and some rule has hosts: per
// Settings.host_verification, with what the Decision says about the name.
void decide_with_names(const Compiled& c, const ConnectionFacts& facts, const Best& by_name,
                       const Best& verified, Outcome& enforced, Outcome& shadow, Decision& d,
                       const std::vector<Policy::RuleInfo>& rules) noexcept {
  const Outcome trusted = pick(by_name, c.default_action, false);
  const Outcome checked = pick(verified, c.default_action, false);
  switch (c.host_verification) {
    case HostVerification::strict:
      enforced = checked;
      shadow = pick(verified, c.default_action, true);
      break;
    case HostVerification::report:
      enforced = trusted;
      shadow = pick(verified, c.default_action, true);
      break;
    case HostVerification::off:
      enforced = trusted;
      shadow = pick(by_name, c.default_action, true);
      break;
  }
  if (c.host_verification != HostVerification::off && !trusted.same(checked)) {
    d.verification_changed = true;
    if (trusted.rule != kNoRule) d.unverified_rule_id = rules[trusted.rule].id;
    // Strict denied what an allow rule's names would have allowed: say why.
    const bool failed = facts.name_verification == NameVerification::mismatch ||
                        facts.name_verification == NameVerification::unresolved;
    if (c.host_verification == HostVerification::strict && failed &&
        enforced.action == Action::deny && enforced.reason == Reason::default_action &&
        trusted.action == Action::allow) {
      enforced.reason = facts.name_verification == NameVerification::mismatch
                            ? Reason::name_mismatch
                            : Reason::name_unresolved;
    }
  }
}

}  // namespace

Decision Policy::evaluate(const ConnectionFacts& facts) const noexcept {
  Decision d;
  d.policy_version = version_;
  const Compiled& c = *compiled_;
  try {
    Outcome enforced{c.default_action, Reason::default_action, kNoRule};
    Outcome shadow = enforced;
    if (c.deny_set.contains(facts.dst)) {
      enforced = shadow = {Action::deny, Reason::deny_destination, kNoRule};
    } else {
      static thread_local Scratch scratch;
      Evaluation ev(c, facts, scratch);
      ev.match_roles();
      Best by_name, verified;
      if (facts.host.empty() || c.name_table.clauses.empty()) {
        ev.match_rules<false>(by_name, by_name);
        enforced = pick(by_name, c.default_action, false);
        shadow = pick(by_name, c.default_action, true);
      } else {
        ev.match_rules<true>(by_name, verified);
        decide_with_names(c, facts, by_name, verified, enforced, shadow, d, rules_);
      }
    }
    if (c.report_mode) {
      // Whole-gateway dry run: everything is allowed; the real decision is the shadow.
      shadow = enforced;
      enforced.action = Action::allow;
    }
    d.action = enforced.action;
    d.reason = enforced.reason;
    d.name_used = enforced.needs_name;
    if (enforced.rule != kNoRule) {
      const RuleInfo& r = rules_[enforced.rule];
      d.rule_id = r.id;
      d.rule_file = r.file;
      d.rule_line = r.line;
    }
    if (shadow.action != enforced.action || shadow.rule != enforced.rule) {
      d.shadow_action = shadow.action;
      if (shadow.rule != kNoRule) d.shadow_rule_id = rules_[shadow.rule].id;
    }
  } catch (...) {
    d = Decision{};
    d.action = Action::deny;
    d.reason = Reason::default_action;
    d.policy_version = version_;
  }
  return d;
}

bool Policy::may_depend_on_name(const ConnectionFacts& facts) const noexcept {
  const Compiled& c = *compiled_;
  if (c.name_table.clauses.empty()) return false;
  try {
    if (c.deny_set.contains(facts.dst)) return false;
    static thread_local Scratch scratch;
    Evaluation ev(c, facts, scratch);
    ev.match_roles();
    return ev.any_match(c.name_table);
  } catch (...) {
    return true;
  }
}

}  // namespace egress::policy
