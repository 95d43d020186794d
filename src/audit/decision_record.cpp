#include "audit/decision_record.hpp"

#include "clock/rfc3339.hpp"

namespace egress::audit {
namespace {

std::optional<base::Endpoint> read_endpoint(const RecordFields::Endpoint& e) {
  if (!e.present || !e.has_port) return std::nullopt;
  const auto addr = base::IpAddress::parse(e.ip);
  if (!addr) return std::nullopt;
  return base::Endpoint{*addr, static_cast<std::uint16_t>(e.port)};
}

std::optional<NameVerified> name_verified(std::string_view s) {
  for (auto v : {NameVerified::match, NameVerified::mismatch, NameVerified::unresolved,
                 NameVerified::not_checked}) {
    if (s == to_string(v)) return v;
  }
  return std::nullopt;
}

// Into `out`, reusing its strings' storage from the last record.
void copy_strings(const std::vector<std::string>& from, std::vector<std::string>& out) {
  out.resize(from.size());
  for (std::size_t i = 0; i < from.size(); ++i) out[i].assign(from[i]);
}

}  // namespace

bool is_decision(const RecordFields& record) noexcept {
  return record.event == "connection.decision";
}

bool is_policy_reason(std::string_view r) noexcept {
  return r == "rule" || r == "default" || r == "deny_destination" || r == "name_mismatch" ||
         r == "name_unresolved";
}

bool read_decision(const RecordFields& f, DecisionRecord& out, std::string& error) {
  if (f.ts.empty()) {
    error = "no ts";
    return false;
  }
  const auto when = clock::parse_rfc3339(f.ts);
  if (!when) {
    error = "ts \"" + f.ts + "\" is not RFC 3339";
    return false;
  }
  out.ts = *when;
  out.ts_text.assign(f.ts);
  const auto client = read_endpoint(f.src);
  if (!client) {
    error = "no valid src {ip, port}";
    return false;
  }
  out.src = client->address;
  out.dst.reset();
  if (f.dst.given) {
    out.dst = read_endpoint(f.dst);
    if (!out.dst) {
      error = "dst is not {ip, port}";
      return false;
    }
  }
  out.has_identity = f.has_identity;
  if (out.has_identity) {
    if (f.bad_identity) {
      error = "identity.uri_sans / dns_sans is not a list of strings";
      return false;
    }
    auto& id = out.identity;
    id.spiffe_id.assign(f.spiffe_id);
    id.common_name.assign(f.cn);
    copy_strings(f.uri_sans, id.uri_sans);
    copy_strings(f.dns_sans, id.dns_sans);
    // The policy treats an identity without a fingerprint as none: keep the record's meaning.
    id.fingerprint_sha256.assign(f.fingerprint_sha256.empty() ? std::string_view("audit-record")
                                                              : f.fingerprint_sha256);
  }
  out.name_step = f.has_name_source;
  out.host.assign(f.host);
  out.name_verified = NameVerified::not_checked;
  out.dns_answers.clear();
  if (out.name_step) {
    const auto parsed = name_verified(f.name_verified);
    if (!parsed) {
      error = "name_source without a valid name_verified";
      return false;
    }
    out.name_verified = *parsed;
    if (f.bad_dns_answers) {
      error = "dns_answers is not a list of IP addresses";
      return false;
    }
    for (const auto& a : f.dns_answers) {
      const auto addr = base::IpAddress::parse(a);
      if (!addr) {
        error = "dns_answers has an entry that is not an IP address";
        return false;
      }
      out.dns_answers.push_back(*addr);
    }
  }
  if (f.decision.empty() || f.reason.empty()) {
    error = "no decision or reason";
    return false;
  }
  out.decision.assign(f.decision);
  out.reason.assign(f.reason);
  out.rule.assign(f.rule);
  out.shadow_decision.assign(f.shadow_decision);
  out.shadow_rule.assign(f.shadow_rule);
  return true;
}

}  // namespace egress::audit
