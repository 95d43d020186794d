#pragma once

// The audit log's records: the data path fills these plain structs; the audit writer thread
// encodes them (JSON Lines, "v": 1, hash chain) off the hot path.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/identity.hpp"
#include "base/ip_address.hpp"

namespace egress::audit {

using Clock = std::chrono::system_clock;

/// Where the name of a connection came from (`name_source`).
enum class NameSource : std::uint8_t {
  sni,        ///< "sni": the ClientHello's server_name (the outer one under ECH)
  http_host,  ///< "http_host": the Host of the first HTTP/1.x request
  none,       ///< "none": the name step ran and found no name (no SNI, timeout, not TLS/HTTP)
  connect,    ///< "connect": the host of a CONNECT request, resolved by egressd (issue 20)
};

/// What DNS said of the name against the destination address (`name_verified`).
enum class NameVerified : std::uint8_t {
  match,        ///< "match": the destination is among the name's answers
  mismatch,     ///< "mismatch": the name resolves, but not to the destination
  unresolved,   ///< "unresolved": the name has no address (NXDOMAIN, SERVFAIL, timeout, ...)
  not_checked,  ///< "not_checked": no name, or host_verification: off
};

/// "sni" | "http_host" | "none" | "connect"
constexpr std::string_view to_string(NameSource s) noexcept {
  switch (s) {
    case NameSource::connect:
      return "connect";
    case NameSource::sni:
      return "sni";
    case NameSource::http_host:
      return "http_host";
    case NameSource::none:
      return "none";
  }
  return "none";
}

/// "match" | "mismatch" | "unresolved" | "not_checked"
constexpr std::string_view to_string(NameVerified v) noexcept {
  switch (v) {
    case NameVerified::match:
      return "match";
    case NameVerified::mismatch:
      return "mismatch";
    case NameVerified::unresolved:
      return "unresolved";
    case NameVerified::not_checked:
      return "not_checked";
  }
  return "not_checked";
}

/// What the name step (issue 19) found, for a connection whose decision could depend on a name:
/// the step ran, so `name_source` and `name_verified` are written, and `host`, `dns_answers` and
/// `ech` when they hold something. A connection no hostname rule could match has none of them.
struct NameFields {
  std::string host;  ///< the name as the client sent it; empty: none (`host` absent)
  NameSource source = NameSource::none;
  NameVerified verified = NameVerified::not_checked;
  /// The addresses of the name the decision used (held answers and a fresh lookup's); empty:
  /// none (no name, not checked, unresolved), and `dns_answers` is absent.
  std::vector<base::IpAddress> dns_answers;
  bool ech = false;  ///< the ClientHello offered ECH (decided on the outer SNI); false: absent
};

/// `connection.decision`: written for allow and deny alike, before any upstream connect.
struct ConnectionDecision {
  std::uint64_t conn_id = 0;
  std::string listener;
  base::Endpoint src;
  /// The TCP peer that sent a trusted PROXY header (the load balancer) when `src` is the
  /// header's client; absent otherwise.
  std::optional<base::Endpoint> proxy_src;
  std::optional<base::Endpoint> dst;  ///< absent when no original destination was found
  /// The `Egressd-Agent-Conn` of a CONNECT request (issue 20): the conn_id the egressd agent that
  /// opened the tunnel gave the connection, as sent (visible ASCII, at most 128 bytes); absent
  /// when none was sent.
  std::optional<std::string> agent_conn;
  std::optional<base::Identity> identity;  ///< absent for plain TCP / no client certificate
  std::string tls_version;                 ///< "TLSv1.3", or empty for plain TCP
  std::optional<NameFields> name;          ///< absent when the name step did not run
  std::string decision;                    ///< "allow" | "deny"
  /// Why: "rule", "default", "deny_destination" from the policy, or a data-path reason such as
  /// "no_original_dst", "loop", "over_limit", "no_client_cert", "cert_verify_failed",
  /// "audit_unavailable", "client_hello_invalid", "http_request_invalid", "name_mismatch",
  /// "name_unresolved".
  std::string reason;
  std::string detail;     ///< human detail (OpenSSL's message, errno text), optional
  std::string rule;       ///< deciding rule id, if any
  std::string rule_file;  ///< "file:line" of the rule, if any
  std::optional<std::string> shadow_decision;  ///< present only when it differs
  std::string shadow_rule;
  std::string policy_version;
};

/// `connection.close`: one per connection that was allowed (and for denied ones, none: the
/// decision record is the whole story).
struct ConnectionClose {
  std::uint64_t conn_id = 0;
  std::string listener;
  base::Endpoint src;
  base::Endpoint dst;
  std::uint64_t bytes_up = 0;    ///< client → upstream
  std::uint64_t bytes_down = 0;  ///< upstream → client
  std::chrono::microseconds duration{0};
  std::string closed_by;  ///< "client" | "upstream" | "gateway"
  /// "eof", "reset", "idle_timeout", "max_duration", "drain", "upstream_refused",
  /// "upstream_timeout", "upstream_unreachable", "upstream_error", "host_changed",
  /// "policy_revoked", ...
  std::string reason;
  std::string detail;
  /// policy_revoked: the rule of the reloaded policy that now denies the connection (empty when
  /// no rule did: the default, deny_destinations).
  std::string rule;
  /// The egressd agent (upstream.via): the gateway's conn_id for this connection, from its
  /// answer's Egressd-Decision (its decision record has this record's conn_id as agent_conn).
  /// Empty when no answer was read or it named none.
  std::string via_conn;
};

/// One part of a reload, under `parts` of a `policy.reload` record.
struct ReloadPartRecord {
  std::string name;    ///< "policy", "tls" or "crl"
  std::string result;  ///< "ok", "skipped" or "failed"
  std::vector<std::string> errors;
  std::string version;                    ///< policy: the version now running
  std::optional<std::size_t> rule_count;  ///< policy: its rules
  std::string next_update;                ///< crl: earliest nextUpdate of the running CRLs
  /// policy, when live connections were re-decided (policy.on_change: reevaluate): relayed
  /// connections decided again, those now denied and closed, and the workers that did not
  /// answer in time (their connections are not counted).
  std::optional<std::uint64_t> redecided;
  std::optional<std::uint64_t> revoked;  ///< crl: certificates now revoked, connections closed
  std::optional<unsigned> redecide_unanswered;
  /// crl, when a listener's CRL reloaded: live client certificates checked against it (revoked
  /// above says how many it revokes), and the workers that did not answer in time.
  std::optional<std::uint64_t> checked;
  std::optional<unsigned> check_unanswered;
};

/// `policy.reload`: one per reload (SIGHUP), for every part it reloaded.
struct PolicyReload {
  bool ok = false;                  ///< every part ok
  std::string version;              ///< the version now running
  std::vector<std::string> errors;  ///< every part's errors
  std::size_t rule_count = 0;
  std::vector<ReloadPartRecord> parts;  ///< in order policy, tls, crl; empty: no `parts`
};

/// `gateway.start`
struct GatewayStart {
  std::string version;  ///< egressd's own version
  std::string policy_version;
  std::vector<std::string> listeners;  ///< "name=address" each
  unsigned workers = 0;
};

/// `gateway.stop`
struct GatewayStop {
  std::string reason;  ///< "signal", "error"
  std::uint64_t connections_drained = 0;
  std::uint64_t connections_forced = 0;
};

using Event =
    std::variant<ConnectionDecision, ConnectionClose, PolicyReload, GatewayStart, GatewayStop>;

/// One record as submitted: the event and the moment it happened.
struct Record {
  Clock::time_point ts = Clock::now();
  Event event;
};

}  // namespace egress::audit
