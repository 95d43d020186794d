#pragma once

// The HTTP/1.1 answers of a `destination: connect` listener (issue 20): what a CONNECT client (curl
// --proxy, the egressd agent) reads on its stream before the tunnel, or instead of it.

#include <string>
#include <string_view>

namespace egress::core {

/// What one answer says. Every field but `status` may be empty.
struct ConnectAnswerFields {
  /// 200 (the tunnel), 400/405/431 (a refused request), 403 (a deny), 502/504 (the dial failed).
  int status = 200;
  /// The connection's id as the audit records write it ("<instance>-<counter>"): the
  /// Egressd-Decision field of every answer, so the agent's records join the gateway's.
  std::string_view conn_id{};
  std::string_view reason{};          ///< the audited reason ("rule", "name_unresolved", ...)
  std::string_view rule{};            ///< the deciding rule's id, if any
  std::string_view policy_version{};  ///< the deciding policy's version, if any
  std::string_view detail{};          ///< the audited detail (a refused request: the reader's)
  std::string_view authority{};       ///< "host:port" as the client asked, if known
};

/// The reason phrase of `status` ("Forbidden"), "Error" for a status this listener never sends.
std::string_view connect_status_text(int status) noexcept;

/// The answer's bytes: the status line, `Egressd-Decision: <conn_id>` (when known), and for every
/// status but 200 `Egressd-Reason`, `Content-Type: text/plain`, `Content-Length` and
/// `Connection: close` with a one-line body saying why; `Egressd-Reason` repeats that line, since
/// curl shows a refused CONNECT's fields (`-v`) but not its body:
///   403: "egressd: CONNECT api.example.com:443 denied: rule 'X' (policy V)"
///        "egressd: CONNECT 10.0.0.5:443 denied: deny_destination (10.0.0.5) (policy V)"
///   400/405/431: "egressd: bad CONNECT request: <detail>"
///   502/504: "egressd: CONNECT h:443 failed: upstream_refused (<detail>)"
/// The fields come from the client (a name, the reader's detail quoting its bytes): control
/// characters and backslashes in them are written as \xNN in the body and left out of header
/// values, so no field can end a line or add one.
std::string connect_answer(const ConnectAnswerFields& a);

}  // namespace egress::core
