#include "core/audit_records.hpp"

#include <utility>

#include "policy/policy.hpp"
#include "policy/store.hpp"

namespace egress::core {

audit::ConnectionDecision decision_record(const filters::Facts& facts, base::Outcome outcome,
                                          const policy::PolicyStore* running) {
  audit::ConnectionDecision r;
  r.conn_id = facts.id;
  r.listener = facts.listener.name();
  r.src = facts.src;
  r.dst = facts.dst;
  r.identity = facts.identity;
  r.tls_version = facts.tls_version;
  r.decision = outcome.allow ? "allow" : "deny";
  r.reason = std::string(to_string(outcome.reason));
  r.detail = std::move(outcome.detail);
  if (facts.decision) {
    const policy::Decision& d = *facts.decision;
    r.rule = std::string(d.rule_id);
    if (!d.rule_file.empty())
      r.rule_file = std::string(d.rule_file) + ":" + std::to_string(d.rule_line);
    if (d.shadow_action) {
      r.shadow_decision = std::string(policy::to_string(*d.shadow_action));
      r.shadow_rule = std::string(d.shadow_rule_id);
    }
    r.policy_version = std::string(d.policy_version);
  }
  if (r.policy_version.empty()) {
    // Denied before the policy step (a limit, no destination, loop, TLS): no snapshot was taken;
    // the record names the policy running now.
    const auto p = facts.policy ? facts.policy : (running ? running->current() : nullptr);
    if (p) r.policy_version = p->version();
  }
  return r;
}

audit::ConnectionClose close_record(const filters::Facts& facts, const RelayResult& relay,
                                    std::chrono::microseconds duration) {
  audit::ConnectionClose r;
  r.conn_id = facts.id;
  r.listener = facts.listener.name();
  r.src = facts.src;
  r.dst = facts.dst.value_or(base::Endpoint{});
  r.bytes_up = relay.bytes_up;
  r.bytes_down = relay.bytes_down;
  r.duration = duration;
  r.closed_by = std::string(to_string(relay.closed_by));
  r.reason = std::string(to_string(relay.reason));
  r.detail = relay.detail;
  return r;
}

audit::PolicyReload reload_record(const ReloadReport& report) {
  audit::PolicyReload r;
  r.ok = report.ok();
  r.version = report.policy_version;
  r.rule_count = report.rule_count;
  r.errors = report.errors();
  audit::ReloadPartRecord policy;
  policy.name = "policy";
  policy.result = std::string(to_string(report.policy.result));
  policy.errors = report.policy.errors;
  policy.version = report.policy_version;
  policy.rule_count = report.rule_count;
  r.parts.push_back(std::move(policy));
  if (report.tls) {
    r.parts.push_back({"tls",
                       std::string(to_string(report.tls->result)),
                       report.tls->errors,
                       {},
                       std::nullopt,
                       {}});
  }
  if (report.crl) {
    r.parts.push_back({"crl",
                       std::string(to_string(report.crl->result)),
                       report.crl->errors,
                       {},
                       std::nullopt,
                       report.crl_next_update});
  }
  return r;
}

}  // namespace egress::core
