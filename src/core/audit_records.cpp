#include "core/audit_records.hpp"

#include <utility>

#include "policy/policy.hpp"
#include "policy/store.hpp"

namespace egress::core {

namespace {

audit::NameSource to_audit(filters::NameSource s) noexcept {
  switch (s) {
    case filters::NameSource::sni:
      return audit::NameSource::sni;
    case filters::NameSource::http_host:
      return audit::NameSource::http_host;
    case filters::NameSource::connect:
      return audit::NameSource::connect;
    case filters::NameSource::none:
      break;
  }
  return audit::NameSource::none;
}

audit::NameVerified to_audit(policy::NameVerification v) noexcept {
  switch (v) {
    case policy::NameVerification::match:
      return audit::NameVerified::match;
    case policy::NameVerification::mismatch:
      return audit::NameVerified::mismatch;
    case policy::NameVerification::unresolved:
      return audit::NameVerified::unresolved;
    case policy::NameVerification::not_checked:
      break;
  }
  return audit::NameVerified::not_checked;
}

}  // namespace

audit::ConnectionDecision decision_record(const filters::Facts& facts, base::Outcome outcome,
                                          const policy::PolicyStore* running) {
  audit::ConnectionDecision r;
  r.conn_id = facts.id;
  r.listener = facts.listener.name();
  r.src = facts.src;
  r.proxy_src = facts.proxied_by;
  r.dst = facts.dst;
  if (facts.connect) r.agent_conn = facts.connect->agent_conn;
  r.identity = facts.identity;
  r.tls_version = facts.tls_version;
  r.decision = outcome.allow ? "allow" : "deny";
  r.reason = std::string(to_string(outcome.reason));
  r.detail = std::move(outcome.detail);
  if (facts.name) {
    const filters::NameFacts& n = *facts.name;
    r.name =
        audit::NameFields{n.host, to_audit(n.source), to_audit(n.verified), n.dns_answers, n.ech};
    // Why the name is unresolved or absent ("DNS: NXDOMAIN", "timeout after 1000 ms"), when the
    // outcome has nothing more precise to say.
    if (r.detail.empty()) r.detail = n.detail;
  }
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
  if (report.live) {
    policy.redecided = report.live->redecided;
    policy.revoked = report.live->revoked;
    if (report.live->unanswered > 0) policy.redecide_unanswered = report.live->unanswered;
  }
  r.parts.push_back(std::move(policy));
  if (report.tls) {
    audit::ReloadPartRecord tls;
    tls.name = "tls";
    tls.result = std::string(to_string(report.tls->result));
    tls.errors = report.tls->errors;
    r.parts.push_back(std::move(tls));
  }
  if (report.crl) {
    audit::ReloadPartRecord crl;
    crl.name = "crl";
    crl.result = std::string(to_string(report.crl->result));
    crl.errors = report.crl->errors;
    crl.next_update = report.crl_next_update;
    if (report.crl_live) {
      crl.checked = report.crl_live->checked;
      crl.revoked = report.crl_live->revoked;
      if (report.crl_live->unanswered > 0) crl.check_unanswered = report.crl_live->unanswered;
    }
    r.parts.push_back(std::move(crl));
  }
  return r;
}

}  // namespace egress::core
