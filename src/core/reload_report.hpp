#pragma once

// What one reload (SIGHUP) did, part by part: the policy, the listeners' TLS material (cert, key,
// client_ca) and their CRLs. One value feeds the policy.reload audit record, the log, the metrics
// and GET /policy, so they cannot disagree (issue 17, item 2: the record used to say ok before
// the TLS reload had even run).

#include <boost/json/object.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tls/context.hpp"

namespace egress::core {

/// One part's outcome. Worse results win when listeners are combined: failed > skipped > ok.
enum class PartResult {
  ok,       ///< read, validated and now running
  skipped,  ///< fine as far as it was read, but not applied: another part of the same
            ///< listener's TLS context failed, and a context is swapped whole
  failed,   ///< unusable: the running state of this part stays (its errors say why)
};
std::string_view to_string(PartResult r) noexcept;

struct ReloadPart {
  PartResult result = PartResult::ok;
  std::vector<std::string> errors;
};

/// The live connections a successful policy reload re-decided (policy.on_change: reevaluate).
struct LiveRedecision {
  std::uint64_t redecided = 0;  ///< relayed connections decided again with the new policy
  std::uint64_t revoked = 0;    ///< of those, now denied and closed (policy_revoked)
  unsigned unanswered = 0;      ///< workers that did not answer in time (not counted above)
};

/// The live client certificates a successful CRL reload checked (whatever policy.on_change).
struct LiveCertCheck {
  std::uint64_t checked = 0;  ///< relayed connections with a client certificate of that listener
  std::uint64_t revoked = 0;  ///< of those, revoked by the new CRL and closed (cert_revoked)
  unsigned unanswered = 0;    ///< workers that did not answer in time (not counted above)
};

/// The outcome of one reload. `tls` and `crl` are present only when a listener uses them.
struct ReloadReport {
  std::chrono::system_clock::time_point at{};
  ReloadPart policy;
  std::string policy_version;  ///< the policy running after the reload
  std::size_t rule_count = 0;  ///< its rules
  std::optional<ReloadPart> tls;
  std::optional<ReloadPart> crl;
  /// The earliest nextUpdate of the CRLs running after the reload (RFC 3339); empty when none.
  std::string crl_next_update;
  /// Present when live connections were re-decided (the policy part ok, on_change: reevaluate).
  std::optional<LiveRedecision> live;
  /// Present when a listener's CRL was reloaded (its part ok) while the gateway ran.
  std::optional<LiveCertCheck> crl_live;

  /// True when every part is ok.
  bool ok() const noexcept;
  /// Every part's errors, policy first, then tls, then crl.
  std::vector<std::string> errors() const;

  /// Adds one TLS listener's reload: `error` is what ContextStore::reload() returned (nullopt:
  /// swapped in), `where` prefixes its message ("listeners[0].tls"), `has_crl` says whether the
  /// listener has a crl. An error of option "crl" fails the crl part and skips the tls part; any
  /// other error fails the tls part and skips the crl part.
  void add_listener(std::string_view where, const std::optional<tls::ContextError>& error,
                    bool has_crl);
};

/// One listener's TLS reload error as logged and recorded: "listeners[0].tls.crl: FILE: why".
std::string listener_error(std::string_view where, const tls::ContextError& error);

/// GET /policy's `last_reload`: {"result", "at", "errors", "parts": {"policy": {...}, ...}}; the
/// same shape as the policy.reload record's fields (docs/audit.md).
boost::json::object to_json(const ReloadReport& report);

/// /readyz's reason when the running CRLs are past their nextUpdate at `now`: every client
/// certificate is then refused (OpenSSL fails an expired CRL), which must not look ready.
/// `next_update` is RFC 3339 (empty: no CRL, or none with a nextUpdate); `where` names the
/// listener. nullopt when still current.
std::optional<std::string> crl_not_ready_reason(std::string_view where,
                                                std::string_view next_update,
                                                std::chrono::system_clock::time_point now);

}  // namespace egress::core
