#pragma once

// `policy replay`'s report as text (a terminal), JSON (stable, documented in docs/policy.md) and
// Markdown (a pull-request comment).

#include <boost/json/object.hpp>
#include <string>

#include "ctl/replay.hpp"

namespace egress::ctl {

/// What was compared, for the report's header.
struct ReplaySubject {
  std::string proposed_dir;
  std::string proposed_version;
  std::string baseline_dir;  ///< empty: the recorded decisions
  std::string baseline_version;
  std::size_t files = 0;
};

/// {"proposed":{dir,version},"baseline":{dir,version}|null,"verified":bool,
///  "totals":{records,decisions,tighten,widen,rule_changed,indeterminate,unchanged,data_path,
///  outside_window},"changes":[{kind,client,dst,host?,old:{decision,rule},new:{decision,rule},
///  count,first_seen,last_seen}],"more_groups":N,"more_records":N}
boost::json::object to_json(const ReplayReport& r, const ReplaySubject& s);

/// Several lines for a terminal, ending with a newline.
std::string to_text(const ReplayReport& r, const ReplaySubject& s);

/// A Markdown section: a totals table and a table per kind of change.
std::string to_markdown(const ReplayReport& r, const ReplaySubject& s);

}  // namespace egress::ctl
