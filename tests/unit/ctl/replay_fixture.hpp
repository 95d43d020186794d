#pragma once

// Audit logs for the replay tests, written by the real writer (so the hash chain is real), and
// small policy directories.

#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "../audit/test_util.hpp"
#include "audit/audit_log.hpp"
#include "clock/rfc3339.hpp"

namespace egress::ctl::testing {

using audit::testing::TempDir;

/// One decision as the data path would have written it.
struct Conn {
  std::string ts;  ///< RFC 3339
  std::string src = "192.0.2.2:40000";
  std::string dst;  ///< IP:PORT
  std::string decision;
  std::string reason;
  std::string rule;
  bool name_step = false;
  std::string host;
  audit::NameVerified verified = audit::NameVerified::not_checked;
  std::vector<std::string> answers;
  std::string spiffe_id;
  /// A CONNECT listener's tunnel (issue 20): name_source connect, and the agent's conn_id.
  bool connect = false;
  std::string agent_conn;
};

inline audit::Record make_record(const Conn& c, std::uint64_t id) {
  audit::ConnectionDecision d;
  d.conn_id = id;
  d.listener = "outbound";
  d.src = *base::Endpoint::parse(c.src);
  d.dst = *base::Endpoint::parse(c.dst);
  if (!c.spiffe_id.empty()) {
    base::Identity identity;
    identity.spiffe_id = c.spiffe_id;
    identity.uri_sans = {c.spiffe_id};
    identity.fingerprint_sha256 = "ab";
    d.identity = identity;
    d.tls_version = "TLSv1.3";
  }
  if (c.name_step) {
    audit::NameFields n;
    n.host = c.host;
    n.source = c.host.empty() ? audit::NameSource::none
               : c.connect    ? audit::NameSource::connect
                              : audit::NameSource::sni;
    n.verified = c.verified;
    for (const auto& a : c.answers) n.dns_answers.push_back(*base::IpAddress::parse(a));
    d.name = n;
  }
  if (!c.agent_conn.empty()) d.agent_conn = c.agent_conn;
  d.decision = c.decision;
  d.reason = c.reason;
  d.rule = c.rule;
  d.policy_version = "a";
  return audit::Record{*clock::parse_rfc3339(c.ts), d};
}

/// Writes `conns` through the audit writer to `path` (a new chain), returns its lines.
inline void write_audit(const std::string& path, const std::vector<Conn>& conns) {
  audit::Options o;
  o.path = path;
  o.gateway_id = "gw";
  o.instance_id = "0123456789abcdef";
  auto log = audit::open_audit_log(o);
  std::uint64_t id = 0;
  for (const auto& c : conns) log->submit(make_record(c, ++id));
  log->close();
}

inline void write_file(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

/// gzip `from` into `to` (what logrotate's compress does) and removes `from`.
inline void gzip_file(const std::string& from, const std::string& to) {
  const std::string data = audit::testing::read_file(from);
  gzFile gz = gzopen(to.c_str(), "wb");
  gzwrite(gz, data.data(), static_cast<unsigned>(data.size()));
  gzclose(gz);
  std::filesystem::remove(from);
}

}  // namespace egress::ctl::testing
