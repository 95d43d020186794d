#pragma once

// `egressctl policy unused`: which rules of a policy (and which of its Role and Destination
// documents) decided nothing in an audit window, each decision record decided again with it.

#include <boost/json/object.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "ctl/decision_stream.hpp"
#include "policy/policy.hpp"

namespace egress::ctl {

/// One rule and what it decided.
struct RuleUse {
  std::string id;
  std::string file;
  int line = 0;
  bool report = false;             ///< mode: report
  std::uint64_t decided = 0;       ///< records whose enforced decision it made
  std::uint64_t would_decide = 0;  ///< records whose differing shadow decision it made
  bool used() const noexcept { return decided + would_decide > 0; }
};

/// A Role or Destination document no deciding rule refers to.
struct UnusedDocument {
  std::string kind;  ///< "Role" | "Destination"
  std::string name;
  std::string file;
  int line = 0;
};

/// The outcome of find_unused().
struct UnusedReport {
  StreamCounts counts;
  std::uint64_t indeterminate = 0;  ///< decisions that need a fact the record lacks
  std::vector<RuleUse> rules;       ///< every rule, in file order
  std::vector<UnusedDocument> unused_documents;
  /// Rules (and documents) that decided nothing: the exit code's "difference".
  std::size_t unused_count() const noexcept;
};

/// Reads `input` once, deciding every policy decision record with `p`.
UnusedReport find_unused(const AuditInput& input, const policy::Policy& p);

/// Text for a terminal, ending with a newline.
std::string to_text(const UnusedReport& r, const std::string& dir, const policy::Policy& p,
                    std::size_t files);

/// {"policy":{dir,version},"verified":bool,"totals":{records,decisions,indeterminate,data_path,
///  outside_window},"rules":[{id,file,line,mode,decided,would_decide}],
///  "unused":{"rules":[id],"roles":[name],"destinations":[name]}}
boost::json::object to_json(const UnusedReport& r, const std::string& dir, const policy::Policy& p);

}  // namespace egress::ctl
