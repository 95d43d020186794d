#include "ctl/replay_report.hpp"

#include <boost/json/array.hpp>
#include <sstream>

namespace egress::ctl {
namespace {

boost::json::value nullable(const std::string& s) {
  return s.empty() ? boost::json::value(nullptr) : boost::json::value(s);
}

boost::json::object side_json(const DecisionSide& d) {
  return {{"decision", d.decision}, {"rule", nullable(d.rule)}};
}

std::string side_text(const DecisionSide& d) {
  return d.decision + (d.rule.empty() ? " (no rule)" : " (rule " + d.rule + ")");
}

const char* kind_title(ChangeKind k) {
  switch (k) {
    case ChangeKind::tighten:
      return "tighten (allow -> deny)";
    case ChangeKind::widen:
      return "widen (deny -> allow)";
    case ChangeKind::rule_changed:
      return "rule changed (same decision, another rule)";
  }
  return "";
}

std::uint64_t kind_total(const ReplayTotals& t, ChangeKind k) {
  switch (k) {
    case ChangeKind::tighten:
      return t.tighten;
    case ChangeKind::widen:
      return t.widen;
    case ChangeKind::rule_changed:
      return t.rule_changed;
  }
  return 0;
}

std::string against(const ReplaySubject& s) {
  return s.baseline_dir.empty() ? std::string("the recorded decisions")
                                : s.baseline_dir + " (version " + s.baseline_version + ")";
}

// A Markdown table cell: `|` would end it, a newline would end the row.
std::string cell(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '|') {
      out += "\\|";
    } else if (c == '\n' || c == '\r') {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::string code(std::string_view text) {
  return text.empty() ? std::string("–") : "`" + cell(text) + "`";
}

constexpr ChangeKind kKinds[] = {ChangeKind::tighten, ChangeKind::widen, ChangeKind::rule_changed};

}  // namespace

boost::json::object to_json(const ReplayReport& r, const ReplaySubject& s) {
  boost::json::object o;
  o["proposed"] = {{"dir", s.proposed_dir}, {"version", s.proposed_version}};
  if (s.baseline_dir.empty()) {
    o["baseline"] = nullptr;
  } else {
    o["baseline"] = {{"dir", s.baseline_dir}, {"version", s.baseline_version}};
  }
  o["verified"] = r.verified;
  const auto& t = r.totals;
  o["totals"] = {{"records", t.records},
                 {"decisions", t.decisions},
                 {"tighten", t.tighten},
                 {"widen", t.widen},
                 {"rule_changed", t.rule_changed},
                 {"indeterminate", t.indeterminate},
                 {"unchanged", t.unchanged},
                 {"data_path", t.data_path},
                 {"outside_window", t.outside_window}};
  boost::json::array changes;
  for (const auto& g : r.changes) {
    boost::json::object c;
    c["kind"] = to_string(g.kind);
    c["client"] = g.client;
    c["dst"] = g.dst;
    if (!g.host.empty()) c["host"] = g.host;
    c["old"] = side_json(g.before);
    c["new"] = side_json(g.after);
    c["count"] = g.count;
    c["first_seen"] = g.first_seen;
    c["last_seen"] = g.last_seen;
    changes.push_back(std::move(c));
  }
  o["changes"] = std::move(changes);
  o["more_groups"] = r.more_groups;
  o["more_records"] = r.more_records;
  return o;
}

std::string to_text(const ReplayReport& r, const ReplaySubject& s) {
  std::ostringstream out;
  const auto& t = r.totals;
  out << "policy replay: " << s.proposed_dir << " (version " << s.proposed_version << ") against "
      << against(s) << "\n";
  out << "  " << t.records << " record(s) in " << s.files << " file(s)"
      << (r.verified ? ", hash chain verified" : ", hash chain NOT verified (--no-verify)");
  if (t.outside_window > 0) out << ", " << t.outside_window << " outside --since/--until";
  out << "\n  " << t.decisions << " decision(s): " << t.tighten << " tighten, " << t.widen
      << " widen, " << t.rule_changed << " rule_changed, " << t.unchanged << " unchanged, "
      << t.indeterminate << " indeterminate, " << t.data_path
      << " decided by the data path (not re-decided)\n";
  for (const auto kind : kKinds) {
    if (kind_total(t, kind) == 0) continue;
    out << kind_title(kind) << ": " << kind_total(t, kind) << " record(s)\n";
    for (const auto& g : r.changes) {
      if (g.kind != kind) continue;
      out << "  " << g.count << "  " << g.client << " -> " << g.dst;
      if (!g.host.empty()) out << " (" << g.host << ")";
      out << ": " << side_text(g.before) << " -> " << side_text(g.after) << "  first "
          << g.first_seen << ", last " << g.last_seen << "\n";
    }
  }
  if (r.more_groups > 0) {
    out << "and " << r.more_groups << " more group(s) (" << r.more_records
        << " record(s)) not listed (--max-groups)\n";
  }
  if (t.indeterminate > 0) {
    out << "indeterminate: " << t.indeterminate
        << " record(s) lack a fact the policy needs to decide them (a name that was not read, or "
           "a name that was not verified)\n";
  }
  if (r.malformed > 0) out << "skipped " << r.malformed << " line(s) that are not JSON records\n";
  return out.str();
}

std::string to_markdown(const ReplayReport& r, const ReplaySubject& s) {
  std::ostringstream out;
  const auto& t = r.totals;
  const bool changed = t.tighten + t.widen + t.rule_changed > 0;
  out << "### Policy replay: " << (changed ? "this change alters decisions" : "no change") << "\n\n"
      << "Proposed `" << cell(s.proposed_version) << "` against "
      << (s.baseline_dir.empty() ? std::string("the recorded decisions")
                                 : "`" + cell(s.baseline_version) + "`")
      << ", " << t.decisions << " decision(s) in " << s.files << " audit file(s)"
      << (r.verified ? " (hash chain verified)" : " (hash chain **not** verified)") << ".\n\n"
      << "| tighten (allow → deny) | widen (deny → allow) | rule changed | indeterminate | "
         "unchanged |\n"
      << "|---:|---:|---:|---:|---:|\n"
      << "| " << t.tighten << " | " << t.widen << " | " << t.rule_changed << " | "
      << t.indeterminate << " | " << t.unchanged << " |\n";
  for (const auto kind : kKinds) {
    if (kind_total(t, kind) == 0) continue;
    out << "\n#### " << cell(kind_title(kind)) << "\n\n"
        << "| records | client | destination | host | old | new | first seen | last seen |\n"
        << "|---:|---|---|---|---|---|---|---|\n";
    for (const auto& g : r.changes) {
      if (g.kind != kind) continue;
      out << "| " << g.count << " | " << code(g.client) << " | " << code(g.dst) << " | "
          << code(g.host) << " | " << cell(side_text(g.before)) << " | " << cell(side_text(g.after))
          << " | " << g.first_seen << " | " << g.last_seen << " |\n";
    }
  }
  if (r.more_groups > 0) {
    out << "\nand " << r.more_groups << " more group(s) (" << r.more_records
        << " record(s)) not listed.\n";
  }
  if (t.indeterminate > 0) {
    out << "\n"
        << t.indeterminate
        << " record(s) are indeterminate: they lack a fact the proposed policy needs (a name "
           "that was not read or not verified).\n";
  }
  return out.str();
}

}  // namespace egress::ctl
