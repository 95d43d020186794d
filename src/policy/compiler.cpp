#include <algorithm>
#include <limits>
#include <map>
#include <tuple>

#include "policy/compiled.hpp"
#include "policy/policy.hpp"
#include "policy/scope.hpp"

namespace egress::policy {

namespace {

using detail::Clause;
using detail::ClauseTable;
using detail::Compiled;
using detail::kNone;
using detail::StringAtom;
using detail::StringIds;

// A prefix is a useful anchor when few addresses share it; /0-/7 (v4) and /0-/15 (v6) are
// hit by most lookups and would make their clauses candidates for nearly every connection.
constexpr std::size_t kMaxPrefixBit = 255;

bool specific(const Cidr& c) {
  return c.network.is_v4() ? c.prefix_len >= 8 : c.prefix_len >= 16;
}

bool all_specific(const std::vector<Cidr>& cidrs) {
  if (cidrs.empty() || cidrs.size() > 64) return false;
  for (const auto& c : cidrs) {
    if (!specific(c)) return false;
  }
  return true;
}

class Compiler {
 public:
  explicit Compiler(Compiled& out) : c_(out) {}

  std::int32_t atom(std::vector<StringAtom>& atoms,
                    std::map<std::pair<int, std::string>, int>& seen, PatternSet* patterns,
                    const StringPattern& p) {
    auto key = std::make_pair(static_cast<int>(p.kind), p.text);
    if (auto it = seen.find(key); it != seen.end()) return it->second;
    StringAtom a{p.kind, p.text, -1, -1};
    if (patterns == &c_.identity_patterns && prefix_glob(p, a)) {
      // found by a hash lookup, not by RE2
    } else if (p.kind == PatternKind::regex && patterns) {
      a.pattern = patterns->add(p.text);
    }
    atoms.push_back(std::move(a));
    const int id = static_cast<int>(atoms.size()) - 1;
    seen.emplace(std::move(key), id);
    return id;
  }

  // "prefix/*" or "prefix/**" with no other '*': the same meaning as their RE2 translation
  // (string_pattern.cpp), found by looking up each "up to a '/'" prefix of the ID.
  bool prefix_glob(const StringPattern& p, StringAtom& a) {
    const std::string& w = p.written;
    if (p.kind != PatternKind::regex || w.starts_with("regex:")) return false;
    StringIds* map = nullptr;
    std::string prefix;
    if (w.size() > 3 && w.ends_with("/**") && w.find('*') == w.size() - 2) {
      map = &c_.subtree_globs;
      prefix = w.substr(0, w.size() - 2);
    } else if (w.size() > 2 && w.ends_with("/*") && w.find('*') == w.size() - 1) {
      map = &c_.segment_globs;
      prefix = w.substr(0, w.size() - 1);
    } else {
      return false;
    }
    const std::size_t len = std::min<std::size_t>(prefix.size(), kMaxPrefixBit);
    if (c_.prefix_lengths.size() <= kMaxPrefixBit) c_.prefix_lengths.resize(kMaxPrefixBit + 1);
    c_.prefix_lengths[len] = true;
    const bool fresh = map->find_building(prefix) == nullptr;
    int& id = (*map)[prefix];
    if (fresh) id = c_.prefix_glob_count++;
    a.prefix_glob = id;
    return true;
  }

  // While compiling, a clause's src, dst and ports are numbers into address_sets_ and
  // port_sets_; pack_sets() turns them into offsets in Compiled::sets.
  // Equal sets get one number, so that clauses can be compared by their numbers.
  std::int32_t address_set(AddressSet s) {
    std::vector<std::uint32_t> key;
    key.push_back(static_cast<std::uint32_t>(s.v4().size()));
    for (const auto& iv : s.v4()) key.insert(key.end(), {iv.lo, iv.hi});
    for (const auto& iv : s.v6()) {
      for (const U128 v : {iv.lo, iv.hi}) {
        for (int shift = 96; shift >= 0; shift -= 32)
          key.push_back(static_cast<std::uint32_t>(v >> shift));
      }
    }
    auto [it, fresh] =
        address_ids_.emplace(std::move(key), static_cast<std::int32_t>(address_sets_.size()));
    if (fresh) address_sets_.push_back(std::move(s));
    return it->second;
  }
  std::int32_t port_set(PortSet s) {
    std::vector<std::uint32_t> key;
    for (const auto& r : s.ranges()) key.push_back(std::uint32_t{r.lo} << 16 | r.hi);
    auto [it, fresh] =
        port_ids_.emplace(std::move(key), static_cast<std::int32_t>(port_sets_.size()));
    if (fresh) port_sets_.push_back(std::move(s));
    return it->second;
  }

  // The name table holds one clause per distinct set of conditions (hostname rules usually share
  // theirs: `from: [{any: true}]`, port 443), the latest expiry of those it stands for.
  void add_name_clause(const Clause& cl, const std::vector<Cidr>* src,
                       const std::vector<Cidr>* dst) {
    const auto key = std::make_tuple(cl.identity, cl.dns, cl.cn, cl.role, cl.src, cl.dst, cl.ports);
    auto [it, fresh] = name_clauses_.emplace(key, c_.name_table.clauses.size());
    if (!fresh) {
      auto& kept = name_expiry_[it->second];
      kept = std::max(kept, cl.expires_ns);
      return;
    }
    name_expiry_.push_back(cl.expires_ns);
    c_.name_table.clauses.push_back(cl);
    file(c_.name_table, static_cast<std::uint32_t>(c_.name_table.clauses.size() - 1), src, dst);
  }

  // Fills the from-side conditions of `cl` from a principal entry; returns the source prefixes
  // (an anchor candidate).
  const std::vector<Cidr>* principal(const model::PrincipalEntry& e, Clause& cl,
                                     const std::map<std::string, int>& role_ids) {
    if (e.identity)
      cl.identity = atom(c_.identity_atoms, identity_seen_, &c_.identity_patterns, *e.identity);
    if (e.dns_name) cl.dns = atom(c_.dns_atoms, dns_seen_, nullptr, *e.dns_name);
    if (e.common_name) cl.cn = atom(c_.cn_atoms, cn_seen_, &c_.cn_patterns, *e.common_name);
    if (e.role) cl.role = role_ids.at(*e.role);
    if (e.source) {
      cl.src = address_set(AddressSet::from_cidrs(*e.source));
      return &*e.source;
    }
    return nullptr;
  }

  void file(ClauseTable& t, std::uint32_t n, const std::vector<Cidr>* src_anchor,
            const std::vector<Cidr>* dst_anchor) {
    // The anchor a clause is filed under is checked by the lookup that finds it, so the clause
    // drops that condition (fewer memory touches per candidate). Each clause has one anchor.
    Clause& cl = t.clauses[n];
    auto push = [n](std::vector<std::uint32_t>& v) { v.push_back(n); };
    auto by_id = [&](std::vector<std::vector<std::uint32_t>>& v, std::size_t i) {
      if (v.size() <= i) v.resize(i + 1);
      v[i].push_back(n);
    };
    auto by_cidrs = [&](CidrIndex& index, const std::vector<Cidr>& cidrs, std::int32_t& field) {
      for (const auto& c : cidrs) index.add(c, n);
      if (address_sets_[static_cast<std::size_t>(field)] == AddressSet::from_cidrs(cidrs))
        field = kNone;
    };
    const StringAtom* id = cl.identity != kNone ? &c_.identity_atoms[cl.identity] : nullptr;
    const StringAtom* dns = cl.dns != kNone ? &c_.dns_atoms[cl.dns] : nullptr;
    const StringAtom* cn = cl.cn != kNone ? &c_.cn_atoms[cl.cn] : nullptr;
    if (id && id->kind == PatternKind::exact) {
      push(t.identity_exact[id->text]);
      cl.identity = kNone;
      return;
    }
    if (dns && dns->kind == PatternKind::exact) {
      push(t.dns_exact[dns->text]);
      cl.dns = kNone;
      return;
    }
    if (cn && cn->kind == PatternKind::exact) {
      push(t.cn_exact[cn->text]);
      cl.cn = kNone;
      return;
    }
    if (dst_anchor && all_specific(*dst_anchor)) return by_cidrs(t.dst, *dst_anchor, cl.dst);
    if (src_anchor && all_specific(*src_anchor)) return by_cidrs(t.src, *src_anchor, cl.src);
    if (id) {
      if (id->prefix_glob >= 0) {
        by_id(t.identity_prefix, static_cast<std::size_t>(id->prefix_glob));
      } else {
        by_id(t.identity_pattern, static_cast<std::size_t>(id->pattern));
      }
      cl.identity = kNone;
      return;
    }
    if (cn) {
      by_id(t.cn_pattern, static_cast<std::size_t>(cn->pattern));
      cl.cn = kNone;
      return;
    }
    if (dns) return push(t.dns_suffix[dns->text]);  // the lookup is looser: keep the check
    if (cl.role != kNone) {
      by_id(t.by_role, static_cast<std::size_t>(cl.role));
      cl.role = kNone;
      return;
    }
    if (cl.ports != kNone && port_sets_[static_cast<std::size_t>(cl.ports)].size() <= 1024) {
      t.ports.add(port_sets_[static_cast<std::size_t>(cl.ports)], n);
      cl.ports = kNone;
      return;
    }
    if (dst_anchor && !dst_anchor->empty() && dst_anchor->size() <= 64) {
      return by_cidrs(t.dst, *dst_anchor, cl.dst);
    }
    if (src_anchor && !src_anchor->empty() && src_anchor->size() <= 64) {
      return by_cidrs(t.src, *src_anchor, cl.src);
    }
    t.unanchored.push_back(n);
  }

  // A clause with names is found by them: each exact name, each wildcard's suffix.
  void file_by_hosts(ClauseTable& t, std::uint32_t n, const std::vector<HostPattern>& hosts) {
    for (const auto& h : hosts) (h.wildcard ? t.host_suffix : t.host_exact)[h.name].push_back(n);
  }

  void finish(ClauseTable& t) {
    t.src.build();
    t.dst.build();
    t.ports.build();
    t.identity_exact.freeze();
    t.dns_exact.freeze();
    t.dns_suffix.freeze();
    t.cn_exact.freeze();
    t.host_exact.freeze();
    t.host_suffix.freeze();
    t.identity_pattern.resize(c_.identity_patterns.size());
    t.identity_prefix.resize(static_cast<std::size_t>(c_.prefix_glob_count));
    t.cn_pattern.resize(c_.cn_patterns.size());
    t.by_role.resize(c_.role_count);
  }

  void pack(ClauseTable& t, const std::vector<std::int32_t>& address_at,
            const std::vector<std::int32_t>& port_at) {
    for (Clause& cl : t.clauses) {
      if (cl.src != kNone) cl.src = address_at[static_cast<std::size_t>(cl.src)];
      if (cl.dst != kNone) cl.dst = address_at[static_cast<std::size_t>(cl.dst)];
      if (cl.ports != kNone) cl.ports = port_at[static_cast<std::size_t>(cl.ports)];
    }
  }

  void pack_sets() {
    std::vector<std::int32_t> address_at, port_at;
    for (const auto& s : address_sets_) address_at.push_back(c_.sets.add(s));
    for (const auto& s : port_sets_) port_at.push_back(c_.sets.add(s));
    pack(c_.role_table, address_at, port_at);
    pack(c_.rule_table, address_at, port_at);
    pack(c_.name_table, address_at, port_at);
    c_.sets.freeze();
    address_sets_.clear();
    port_sets_.clear();
  }

  void run(const model::Model& m) {
    const auto& s = *m.settings;
    c_.default_action = s.default_action;
    c_.report_mode = s.report_mode;
    c_.host_verification = s.host_verification;
    // An IPv6 destination that embeds a denied IPv4 address (NAT64, 6to4, ...) is that address.
    c_.deny_set = AddressSet::from_cidrs(s.deny_destinations)
                      .subtract(AddressSet::from_cidrs(s.deny_exceptions))
                      .with_embedded_v4();

    std::map<std::string, int> role_ids;
    for (std::size_t i = 0; i < m.roles.size(); ++i)
      role_ids.emplace(m.roles[i].name, static_cast<int>(i));
    c_.role_count = m.roles.size();
    std::map<std::string, const model::Destination*> dests;
    for (const auto& d : m.destinations) dests.emplace(d.name, &d);

    for (std::size_t r = 0; r < m.roles.size(); ++r) {
      for (const auto& member : m.roles[r].members) {
        Clause cl;
        cl.owner = static_cast<std::uint32_t>(r);
        const auto* src = principal(member, cl, role_ids);
        c_.role_table.clauses.push_back(cl);
        file(c_.role_table, static_cast<std::uint32_t>(c_.role_table.clauses.size() - 1), src,
             nullptr);
      }
    }

    for (std::size_t r = 0; r < m.rules.size(); ++r) {
      const auto& rule = m.rules[r];
      const detail::Category category =
          rule.action == Action::deny
              ? (rule.report ? detail::deny_report : detail::deny_enforce)
              : (rule.report ? detail::allow_report : detail::allow_enforce);
      const std::int64_t expires_ns = rule.expires ? rule.expires->time_since_epoch().count()
                                                   : std::numeric_limits<std::int64_t>::max();
      for (const auto& to : rule.to) {
        const model::Destination* named = to.destination ? dests.at(*to.destination) : nullptr;
        DestinationScope scope = resolve_destination(to, named);
        if (scope.empty()) continue;  // can never match (lint says so)
        const bool any_addr = scope.addresses.is_all();
        const std::vector<Cidr>* dst_anchor = any_addr ? nullptr : scope.anchor;
        const std::int32_t dst_id = any_addr ? kNone : address_set(std::move(scope.addresses));
        const std::int32_t port_id =
            scope.ports == PortSet::all() ? kNone : port_set(std::move(scope.ports));
        for (const auto& from : rule.from) {
          Clause cl;
          cl.owner = static_cast<std::uint32_t>(r);
          cl.category = category;
          cl.expires_ns = expires_ns;
          const auto* src = principal(from, cl, role_ids);
          cl.dst = dst_id;
          cl.ports = port_id;
          if (scope.hosts) {
            cl.needs_name = true;
            add_name_clause(cl, src, dst_anchor);
            c_.rule_table.clauses.push_back(cl);
            file_by_hosts(c_.rule_table,
                          static_cast<std::uint32_t>(c_.rule_table.clauses.size() - 1),
                          *scope.hosts);
            continue;
          }
          c_.rule_table.clauses.push_back(cl);
          file(c_.rule_table, static_cast<std::uint32_t>(c_.rule_table.clauses.size() - 1), src,
               dst_anchor);
        }
      }
    }
    c_.identity_patterns.compile();
    c_.segment_globs.freeze();
    c_.subtree_globs.freeze();
    c_.cn_patterns.compile();
    finish(c_.role_table);
    finish(c_.rule_table);
    finish(c_.name_table);
    for (std::size_t i = 0; i < name_expiry_.size(); ++i)
      c_.name_table.clauses[i].expires_ns = name_expiry_[i];
    pack_sets();
  }

 private:
  Compiled& c_;
  std::map<std::pair<int, std::string>, int> identity_seen_, dns_seen_, cn_seen_;
  std::vector<AddressSet> address_sets_;
  std::vector<PortSet> port_sets_;
  std::map<std::vector<std::uint32_t>, std::int32_t> address_ids_, port_ids_;
  std::map<std::tuple<std::int32_t, std::int32_t, std::int32_t, std::int32_t, std::int32_t,
                      std::int32_t, std::int32_t>,
           std::size_t>
      name_clauses_;
  std::vector<std::int64_t> name_expiry_;  ///< by name-table clause
};

}  // namespace

Policy::~Policy() = default;

std::shared_ptr<const Policy> Policy::compile(model::Model model, VersionInfo version,
                                              std::chrono::system_clock::time_point loaded_at) {
  std::shared_ptr<Policy> p(new Policy());
  p->compiled_ = std::make_unique<detail::Compiled>();
  Compiler(*p->compiled_).run(model);
  for (const auto& r : model.rules) {
    p->rules_.push_back(
        RuleInfo{r.id, r.pos.file, r.pos.line, r.action, r.report, r.expires, r.description});
  }
  p->version_ = version.sha256;
  if (!version.git_commit.empty()) {
    p->version_ += "+git:" + version.git_commit;
    if (version.git_dirty) p->version_ += "+dirty";
  }
  p->info_ = std::move(version);
  p->loaded_at_ = loaded_at;
  p->model_ = std::move(model);
  return p;
}

std::size_t Policy::clause_count() const noexcept {
  return compiled_->rule_table.clauses.size() + compiled_->role_table.clauses.size();
}

const Policy::RuleInfo* Policy::find_rule(std::string_view id) const noexcept {
  for (const auto& r : rules_) {
    if (r.id == id) return &r;
  }
  return nullptr;
}

Action Policy::default_action() const noexcept {
  return compiled_->default_action;
}
bool Policy::report_mode() const noexcept {
  return compiled_->report_mode;
}
HostVerification Policy::host_verification() const noexcept {
  return compiled_->host_verification;
}
bool Policy::has_host_rules() const noexcept {
  return !compiled_->name_table.clauses.empty();
}

}  // namespace egress::policy
