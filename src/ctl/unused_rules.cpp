#include "ctl/unused_rules.hpp"

#include <boost/json/array.hpp>
#include <set>
#include <sstream>
#include <unordered_map>

#include "ctl/record_facts.hpp"

namespace egress::ctl {

std::size_t UnusedReport::unused_count() const noexcept {
  std::size_t n = unused_documents.size();
  for (const auto& r : rules) n += r.used() ? 0 : 1;
  return n;
}

UnusedReport find_unused(const AuditInput& input, const policy::Policy& p) {
  UnusedReport report;
  std::unordered_map<std::string_view, std::size_t> index;
  for (const auto& info : p.rules()) {
    index.emplace(info.id, report.rules.size());
    report.rules.push_back({info.id, info.file, info.line, info.report, 0, 0});
  }
  report.counts = for_each_policy_decision(input, [&](const audit::DecisionRecord& rec) {
    const auto d = redecide(p, rec);
    if (!d) {
      ++report.indeterminate;
      return;
    }
    if (!d->rule_id.empty()) {
      if (auto it = index.find(d->rule_id); it != index.end()) ++report.rules[it->second].decided;
    }
    if (d->shadow_action && !d->shadow_rule_id.empty()) {
      if (auto it = index.find(d->shadow_rule_id); it != index.end()) {
        ++report.rules[it->second].would_decide;
      }
    }
  });
  if (!report.counts.error.empty()) return report;

  // A Role or Destination is used when a rule that decided refers to it (a Role also through a
  // Role that is used).
  const auto& model = p.model();
  std::set<std::string> roles;
  std::set<std::string> destinations;
  for (const auto& rule : model.rules) {
    const auto it = index.find(rule.id);
    if (it == index.end() || !report.rules[it->second].used()) continue;
    for (const auto& f : rule.from) {
      if (f.role) roles.insert(*f.role);
    }
    for (const auto& t : rule.to) {
      if (t.destination) destinations.insert(*t.destination);
    }
  }
  for (bool grew = true; grew;) {
    grew = false;
    for (const auto& role : model.roles) {
      if (roles.count(role.name) == 0) continue;
      for (const auto& m : role.members) {
        if (m.role && roles.insert(*m.role).second) grew = true;
      }
    }
  }
  for (const auto& role : model.roles) {
    if (roles.count(role.name) == 0) {
      report.unused_documents.push_back({"Role", role.name, role.pos.file, role.pos.line});
    }
  }
  for (const auto& dest : model.destinations) {
    if (destinations.count(dest.name) == 0) {
      report.unused_documents.push_back({"Destination", dest.name, dest.pos.file, dest.pos.line});
    }
  }
  return report;
}

std::string to_text(const UnusedReport& r, const std::string& dir, const policy::Policy& p,
                    std::size_t files) {
  std::ostringstream out;
  const auto& c = r.counts;
  out << "policy unused: " << dir << " (version " << p.version() << ") over " << c.decisions
      << " decision(s) in " << files << " file(s)"
      << (c.verified ? ", hash chain verified" : ", hash chain NOT verified (--no-verify)") << "\n";
  std::size_t unused_rules = 0;
  for (const auto& rule : r.rules) {
    if (rule.used()) continue;
    if (unused_rules++ == 0) out << "rules that decided nothing:\n";
    out << "  " << rule.id << " (" << rule.file << ":" << rule.line
        << (rule.report ? ", report mode: would have decided nothing either" : "") << ")\n";
  }
  bool header = false;
  for (const auto& rule : r.rules) {
    if (!rule.report || rule.would_decide == 0) continue;
    if (!header) out << "report-mode rules, records they would have decided:\n";
    header = true;
    out << "  " << rule.id << " (" << rule.file << ":" << rule.line << "): " << rule.would_decide
        << "\n";
  }
  for (const auto& d : r.unused_documents) {
    out << "unused " << d.kind << " " << d.name << " (" << d.file << ":" << d.line
        << "): no rule that decided refers to it\n";
  }
  if (r.unused_count() == 0) out << "every rule decided something\n";
  if (r.indeterminate > 0) {
    out << "indeterminate: " << r.indeterminate
        << " record(s) lack a fact the policy needs (a name not read or not verified): a "
           "hostname rule listed may have decided some of them\n";
  }
  return out.str();
}

boost::json::object to_json(const UnusedReport& r, const std::string& dir,
                            const policy::Policy& p) {
  boost::json::object o;
  o["policy"] = {{"dir", dir}, {"version", p.version()}};
  o["verified"] = r.counts.verified;
  o["totals"] = {{"records", r.counts.records},
                 {"decisions", r.counts.decisions},
                 {"indeterminate", r.indeterminate},
                 {"data_path", r.counts.data_path},
                 {"outside_window", r.counts.outside_window}};
  boost::json::array rules;
  boost::json::array unused_rules;
  for (const auto& rule : r.rules) {
    rules.push_back({{"id", rule.id},
                     {"file", rule.file},
                     {"line", rule.line},
                     {"mode", rule.report ? "report" : "enforce"},
                     {"decided", rule.decided},
                     {"would_decide", rule.would_decide}});
    if (!rule.used()) unused_rules.emplace_back(rule.id);
  }
  o["rules"] = std::move(rules);
  boost::json::array roles;
  boost::json::array destinations;
  for (const auto& d : r.unused_documents) {
    (d.kind == "Role" ? roles : destinations).emplace_back(d.name);
  }
  o["unused"] = {{"rules", std::move(unused_rules)},
                 {"roles", std::move(roles)},
                 {"destinations", std::move(destinations)}};
  return o;
}

}  // namespace egress::ctl
