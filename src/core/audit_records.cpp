#include "core/audit_records.hpp"

#include "policy/policy.hpp"
#include "policy/store.hpp"

namespace egress::core {

audit::ConnectionDecision decision_record(const Connection& conn, bool allow, base::Reason reason,
                                          std::string detail) {
  audit::ConnectionDecision r;
  r.conn_id = conn.id;
  r.listener = conn.listener.name();
  r.src = conn.src;
  r.dst = conn.dst;
  r.identity = conn.identity;
  r.tls_version = conn.tls_version;
  r.decision = allow ? "allow" : "deny";
  r.reason = std::string(to_string(reason));
  r.detail = std::move(detail);
  if (conn.decision) {
    const policy::Decision& d = *conn.decision;
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
    const auto p =
        conn.policy ? conn.policy : (conn.policy_store ? conn.policy_store->current() : nullptr);
    if (p) r.policy_version = p->version();
  }
  return r;
}

audit::ConnectionClose close_record(const Connection& conn, const RelayResult& relay,
                                    std::chrono::microseconds duration) {
  audit::ConnectionClose r;
  r.conn_id = conn.id;
  r.listener = conn.listener.name();
  r.src = conn.src;
  r.dst = conn.dst.value_or(base::Endpoint{});
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
