#include "ctl/decision_stream.hpp"

#include "audit/record_reader.hpp"
#include "clock/rfc3339.hpp"

namespace egress::ctl {
namespace {

bool in_window(const AuditInput& in, std::chrono::system_clock::time_point ts) {
  return !(in.since && ts < *in.since) && !(in.until && ts >= *in.until);
}

}  // namespace

StreamCounts for_each_policy_decision(const AuditInput& input,
                                      const std::function<void(const audit::DecisionRecord&)>& fn) {
  StreamCounts c;
  audit::RecordReader reader(input.files, input.verify);
  audit::DecisionRecord rec;
  std::string error;
  while (const auto* record = reader.next()) {
    if (!audit::is_decision(*record)) {
      // Other events count toward `records` when their time is in the window.
      if (!input.since && !input.until) {
        ++c.records;
        continue;
      }
      const auto when = clock::parse_rfc3339(record->ts);
      if (when && !in_window(input, *when)) {
        ++c.outside_window;
      } else {
        ++c.records;
      }
      continue;
    }
    if (!audit::read_decision(*record, rec, error)) {
      c.error = reader.file() + ":" + std::to_string(reader.line_number()) +
                ": not a valid connection.decision record: " + error;
      return c;
    }
    if (!in_window(input, rec.ts)) {
      ++c.outside_window;
      continue;
    }
    ++c.records;
    ++c.decisions;
    if (!rec.dst || !audit::is_policy_reason(rec.reason)) {
      ++c.data_path;
      continue;
    }
    fn(rec);
  }
  if (const auto& b = reader.chain().broken) {
    c.error =
        "the audit chain is broken (" + std::string(audit::to_string(b->kind)) + "): " + b->message;
    return c;
  }
  if (!reader.error().empty()) {
    c.error = reader.error();
    return c;
  }
  c.verified = input.verify;
  c.malformed = reader.malformed();
  return c;
}

}  // namespace egress::ctl
