#include "ctl/replay.hpp"

#include "ctl/record_facts.hpp"

namespace egress::ctl {
namespace {

void set_side(const policy::Decision& d, DecisionSide& side) {
  side.decision = policy::to_string(d.action);
  side.rule.assign(d.rule_id);
}

}  // namespace

ReplayReport replay(const ReplayInput& input, const policy::Policy& proposed,
                    const policy::Policy* baseline) {
  ReplayReport report;
  auto& t = report.totals;
  ChangeTable table(input.max_groups);
  DecisionSide before;
  DecisionSide after;
  std::string dst;
  const auto counts = for_each_policy_decision(input, [&](const audit::DecisionRecord& rec) {
    const auto now = redecide(proposed, rec);
    if (!now) {
      ++t.indeterminate;
      return;
    }
    if (baseline != nullptr) {
      const auto then = redecide(*baseline, rec);
      if (!then) {
        ++t.indeterminate;
        return;
      }
      set_side(*then, before);
    } else {
      before.decision = rec.decision;
      before.rule = rec.rule;
    }
    set_side(*now, after);
    ChangeKind kind;
    if (!classify(before, after, kind)) {
      ++t.unchanged;
      return;
    }
    switch (kind) {
      case ChangeKind::tighten:
        ++t.tighten;
        break;
      case ChangeKind::widen:
        ++t.widen;
        break;
      case ChangeKind::rule_changed:
        ++t.rule_changed;
        break;
    }
    dst = rec.dst->to_string();
    table.add(kind, client_of(rec), dst, rec.host, before, after, rec.ts, rec.ts_text);
  });
  t.records = counts.records;
  t.decisions = counts.decisions;
  t.data_path = counts.data_path;
  t.outside_window = counts.outside_window;
  report.error = counts.error;
  if (!report.error.empty()) return report;
  report.verified = counts.verified;
  report.malformed = counts.malformed;
  report.changes = table.groups();
  report.more_groups = table.more_groups();
  report.more_records = table.more_records();
  return report;
}

}  // namespace egress::ctl
