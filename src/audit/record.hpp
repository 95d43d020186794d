#pragma once

// CONTRACT between the data path and the audit library: the data path fills these plain structs;
// the audit writer thread encodes them (JSON Lines, "v": 1, hash chain) off the hot path.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "base/identity.hpp"
#include "base/ip_address.hpp"

namespace egress::audit {

using Clock = std::chrono::system_clock;

/// `connection.decision`: written for allow and deny alike, before any upstream connect.
struct ConnectionDecision {
  std::uint64_t conn_id = 0;
  std::string listener;
  base::Endpoint src;
  std::optional<base::Endpoint> dst;       ///< absent when no original destination was found
  std::optional<base::Identity> identity;  ///< absent for plain TCP / no client certificate
  std::string tls_version;                 ///< "TLSv1.3", or empty for plain TCP
  std::string decision;                    ///< "allow" | "deny"
  /// Why: "rule", "default", "deny_destination" from the policy, or a data-path reason such as
  /// "no_original_dst", "loop", "over_limit", "no_client_cert", "cert_verify_failed",
  /// "audit_unavailable".
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
  /// "upstream_timeout", "upstream_unreachable", "upstream_error", ...
  std::string reason;
  std::string detail;
};

/// One part of a reload, under `parts` of a `policy.reload` record.
struct ReloadPartRecord {
  std::string name;    ///< "policy", "tls" or "crl"
  std::string result;  ///< "ok", "skipped" or "failed"
  std::vector<std::string> errors;
  std::string version;                    ///< policy: the version now running
  std::optional<std::size_t> rule_count;  ///< policy: its rules
  std::string next_update;                ///< crl: earliest nextUpdate of the running CRLs
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
