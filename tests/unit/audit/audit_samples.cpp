// Writes one audit file holding every event type, in its fullest and its sparest form, through
// the real writer (open_audit_log), for validate_schema.py to check against docs/audit.schema.json.
#include <iostream>
#include <thread>

#include "audit/audit_log.hpp"
#include "audit/writer.hpp"

using namespace egress;
using namespace egress::audit;

namespace {

// Policy versions as egressd writes them (docs/policy.md, "Policy version"): the files' SHA-256,
// then the git commit in a work tree.
constexpr const char* kStartVersion =
    "5d41402abc4b2a76b9719d911017c592ae5b7a2e1f0f4ad2b7b3c6a1f0e9d8c7"
    "+git:21d052c7205a8429d7827b530eff3c90b1c9d541";
constexpr const char* kReloadVersion =
    "a20feee7e146c1b9d3f5e7a9b1c3d5e7f9a1b3c5d7e9f1a3b5c7d9e1f3a5085a";

base::Identity full_identity() {
  base::Identity id;
  id.spiffe_id = "spiffe://corp.example/ns/payments/sa/api";
  id.uri_sans = {id.spiffe_id, "https://corp.example/\"quoted\"\n"};
  id.dns_sans = {"api.payments.corp.example"};
  id.common_name = "api \xC3\xA9\x01\xFF";
  id.fingerprint_sha256 = "8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4";
  id.issuer = "CN=Corp Issuing CA,O=Corp";
  id.serial = "0a1b2c";
  id.not_after = "2027-01-01T00:00:00Z";
  return id;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: audit_samples OUT.jsonl\n";
    return 2;
  }
  Options options;
  options.path = argv[1];
  auto log = open_audit_log(options);

  GatewayStart start;
  start.version = "0.1.0";
  start.policy_version = kStartVersion;
  start.listeners = {"outbound=0.0.0.0:15001", "tproxy=[::]:15002"};
  start.workers = 2;
  log->submit(Record{Clock::now(), start});

  ConnectionDecision full;
  full.conn_id = 1;
  full.listener = "outbound";
  full.src = *base::Endpoint::parse("192.0.2.2:40000");
  full.proxy_src = *base::Endpoint::parse("192.0.2.50:51000");  // behind a load balancer
  full.dst = *base::Endpoint::parse("[2001:db8::10]:443");
  full.identity = full_identity();
  full.tls_version = "TLSv1.3";
  full.decision = "deny";
  full.reason = "rule";
  full.detail = "matched \"deny\" rule";
  full.rule = "block-payments";
  full.rule_file = "20-rules.yaml:12";
  full.shadow_decision = "allow";
  full.shadow_rule = "payments-to-card-networks";
  full.policy_version = kStartVersion;
  log->submit(Record{Clock::now(), full});

  ConnectionDecision sparse;
  sparse.conn_id = 2;
  sparse.listener = "outbound";
  sparse.src = *base::Endpoint::parse("192.0.2.3:40001");
  sparse.decision = "deny";
  sparse.reason = "no_original_dst";
  log->submit(Record{Clock::now(), sparse});

  ConnectionDecision allowed = full;
  allowed.conn_id = 3;
  allowed.identity.reset();
  allowed.tls_version.clear();
  allowed.detail.clear();
  allowed.decision = "allow";
  allowed.rule = "payments-to-card-networks";
  allowed.shadow_decision.reset();
  allowed.shadow_rule.clear();
  log->submit(Record{Clock::now(), allowed});

  // The name step's fields (issue 19): every one of them, then a step that found no name.
  ConnectionDecision named = allowed;
  named.conn_id = 5;
  named.tls_version = "TLSv1.3";
  named.name = NameFields{};
  named.name->host = "api.stripe.com";
  named.name->source = NameSource::sni;
  named.name->verified = NameVerified::match;
  named.name->dns_answers = {*base::IpAddress::parse("2001:db8::10"),
                             *base::IpAddress::parse("203.0.113.10")};
  named.name->ech = true;
  log->submit(Record{Clock::now(), named});
  ConnectionDecision spoofed = named;
  spoofed.conn_id = 6;
  spoofed.decision = "deny";
  spoofed.reason = "name_mismatch";
  spoofed.rule.clear();
  spoofed.rule_file.clear();
  spoofed.name->verified = NameVerified::mismatch;
  spoofed.name->dns_answers = {*base::IpAddress::parse("198.51.100.7")};
  spoofed.name->ech = false;
  log->submit(Record{Clock::now(), spoofed});
  ConnectionDecision nameless = allowed;
  nameless.conn_id = 7;
  nameless.decision = "deny";
  nameless.reason = "default";
  nameless.rule.clear();
  nameless.rule_file.clear();
  nameless.name = NameFields{};  // the step ran: no SNI, no Host before peek.timeout
  log->submit(Record{Clock::now(), nameless});
  // A CONNECT listener's tunnel from an egressd agent (issue 20): the name the request named,
  // resolved by egressd, and the agent's conn_id.
  ConnectionDecision tunnel = allowed;
  tunnel.conn_id = 8;
  tunnel.listener = "connect";
  tunnel.agent_conn = "0a1b2c3d4e5f6789-42";
  tunnel.name = NameFields{};
  tunnel.name->host = "api.stripe.com";
  tunnel.name->source = NameSource::connect;
  tunnel.name->verified = NameVerified::match;
  tunnel.name->dns_answers = {*base::IpAddress::parse("203.0.113.10"),
                              *base::IpAddress::parse("203.0.113.66")};
  tunnel.detail = "1 of 2 addresses allowed; denied: 203.0.113.66 rule 'block-x'";
  log->submit(Record{Clock::now(), tunnel});

  ConnectionClose close;
  close.conn_id = 3;
  close.listener = "outbound";
  close.src = allowed.src;
  close.dst = *allowed.dst;
  close.bytes_up = 512;
  close.bytes_down = 1 << 20;
  close.duration = std::chrono::microseconds{2500};
  close.closed_by = "upstream";
  close.reason = "eof";
  log->submit(Record{Clock::now(), close});
  close.conn_id = 4;
  close.closed_by = "gateway";
  close.reason = "upstream_refused";
  close.detail = "connect: Connection refused";
  log->submit(Record{Clock::now(), close});
  close.conn_id = 5;
  close.reason = "host_changed";
  close.detail = "request 2: Host \"admin.example\" is not allowed (request 1: \"api.example\")";
  log->submit(Record{Clock::now(), close});
  close.conn_id = 6;
  close.reason = "policy_revoked";
  close.detail = "now denied by rule 'block-payments' (policy " + std::string(kReloadVersion) + ")";
  close.rule = "block-payments";
  log->submit(Record{Clock::now(), close});
  close.conn_id = 7;
  close.reason = "via_denied";
  close.closed_by = "upstream";
  close.detail =
      "HTTP/1.1 403 Forbidden: egressd: CONNECT 203.0.113.5:443 denied: deny_destination";
  close.rule.clear();
  close.via_conn = "5b21d8643f9c0a7e-77";
  log->submit(Record{Clock::now(), close});

  PolicyReload ok;
  ok.ok = true;
  ok.version = kReloadVersion;
  ok.rule_count = 12;
  ok.parts = {{"policy", "ok", {}, kReloadVersion, 12, {}, {}, {}, {}, {}, {}},
              {"tls", "ok", {}, {}, std::nullopt, {}, {}, {}, {}, {}, {}},
              {"crl", "ok", {}, {}, std::nullopt, "2027-01-01T00:00:00Z", {}, {}, {}, {}, {}}};
  log->submit(Record{Clock::now(), ok});
  ok.parts[0].redecided = 120;
  ok.parts[0].revoked = 3;
  ok.parts[0].redecide_unanswered = 1;
  ok.parts[2].checked = 40;
  ok.parts[2].revoked = 1;
  ok.parts[2].check_unanswered = 1;
  log->submit(Record{Clock::now(), ok});
  PolicyReload failed;
  failed.version = kReloadVersion;
  failed.errors = {"10-rules.yaml:3:5: rules[0].form: unknown key"};
  failed.rule_count = 12;
  failed.parts = {{"policy", "failed", failed.errors, kReloadVersion, 12, {}, {}, {}, {}, {}, {}},
                  {"tls", "skipped", {}, {}, std::nullopt, {}, {}, {}, {}, {}, {}},
                  {"crl",
                   "failed",
                   {"listeners[0].tls.crl: crl.pem: no CRL in file"},
                   {},
                   std::nullopt,
                   {},
                   {},
                   {},
                   {},
                   {},
                   {}}};
  failed.errors.push_back("listeners[0].tls.crl: crl.pem: no CRL in file");
  log->submit(Record{Clock::now(), failed});

  GatewayStop stop;
  stop.reason = "signal";
  stop.connections_drained = 3;
  log->submit(Record{Clock::now(), stop});
  log->close();

  // records_dropped: a queue of one in drop mode, flooded while its writer is busy.
  Options drop = options;
  drop.on_overflow = Options::Overflow::drop;
  drop.queue_capacity = 1;
  auto flooded = open_audit_log(drop);
  for (std::uint64_t i = 0; i < 2000 && flooded->stats().records_dropped == 0; ++i) {
    ConnectionDecision d = sparse;
    d.conn_id = 100 + i;
    flooded->submit(Record{Clock::now(), d});
  }
  const auto dropped = flooded->stats().records_dropped;
  // Let the queue drain so the next record is not dropped too: it carries the count.
  while (flooded->stats().queue_depth > 0) std::this_thread::yield();
  flooded->submit(Record{Clock::now(), stop});
  flooded->close();
  std::cout << "dropped " << dropped << "\n";
  return 0;
}
