#include "audit/decision_record.hpp"

#include "clock/rfc3339.hpp"

namespace egress::audit {
namespace {

using boost::json::object;

const boost::json::string* string_field(const object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? &v->get_string() : nullptr;
}

bool assign(const object& o, std::string_view key, std::string& out) {
  const auto* s = string_field(o, key);
  if (s == nullptr) {
    out.clear();
    return false;
  }
  out.assign(s->data(), s->size());
  return true;
}

bool read_strings(const object& o, std::string_view key, std::vector<std::string>& out) {
  out.clear();
  const auto* v = o.if_contains(key);
  if (v == nullptr) return true;
  if (!v->is_array()) return false;
  for (const auto& e : v->get_array()) {
    if (!e.is_string()) return false;
    out.emplace_back(e.get_string());
  }
  return true;
}

std::optional<base::Endpoint> read_endpoint(const boost::json::value* v) {
  if (v == nullptr || !v->is_object()) return std::nullopt;
  const auto* ip = string_field(v->get_object(), "ip");
  const auto* port = v->get_object().if_contains("port");
  if (ip == nullptr || port == nullptr) return std::nullopt;
  std::int64_t p = -1;
  if (port->is_int64()) p = port->get_int64();
  if (port->is_uint64() && port->get_uint64() <= 65535)
    p = static_cast<std::int64_t>(port->get_uint64());
  if (p < 0 || p > 65535) return std::nullopt;
  const auto addr = base::IpAddress::parse(std::string_view(ip->data(), ip->size()));
  if (!addr) return std::nullopt;
  return base::Endpoint{*addr, static_cast<std::uint16_t>(p)};
}

std::optional<NameVerified> name_verified(std::string_view s) {
  for (auto v : {NameVerified::match, NameVerified::mismatch, NameVerified::unresolved,
                 NameVerified::not_checked}) {
    if (s == to_string(v)) return v;
  }
  return std::nullopt;
}

}  // namespace

bool is_decision(const boost::json::object& record) noexcept {
  const auto* e = string_field(record, "event");
  return e != nullptr && *e == "connection.decision";
}

bool is_policy_reason(std::string_view r) noexcept {
  return r == "rule" || r == "default" || r == "deny_destination" || r == "name_mismatch" ||
         r == "name_unresolved";
}

bool read_decision(const boost::json::object& o, DecisionRecord& out, std::string& error) {
  if (!assign(o, "ts", out.ts_text)) {
    error = "no ts";
    return false;
  }
  const auto ts = clock::parse_rfc3339(out.ts_text);
  if (!ts) {
    error = "ts \"" + out.ts_text + "\" is not RFC 3339";
    return false;
  }
  out.ts = *ts;
  const auto src = read_endpoint(o.if_contains("src"));
  if (!src) {
    error = "no valid src {ip, port}";
    return false;
  }
  out.src = src->address;
  out.dst.reset();
  if (const auto* dst = o.if_contains("dst")) {
    out.dst = read_endpoint(dst);
    if (!out.dst) {
      error = "dst is not {ip, port}";
      return false;
    }
  }
  const auto* id = o.if_contains("identity");
  out.has_identity = id != nullptr && id->is_object();
  if (out.has_identity) {
    const auto& i = id->get_object();
    auto& identity = out.identity;
    assign(i, "spiffe_id", identity.spiffe_id);
    assign(i, "cn", identity.common_name);
    assign(i, "fingerprint_sha256", identity.fingerprint_sha256);
    assign(i, "issuer", identity.issuer);
    assign(i, "serial", identity.serial);
    assign(i, "not_after", identity.not_after);
    if (!read_strings(i, "uri_sans", identity.uri_sans) ||
        !read_strings(i, "dns_sans", identity.dns_sans)) {
      error = "identity.uri_sans / dns_sans is not a list of strings";
      return false;
    }
    // The policy treats an identity without a fingerprint as none: keep the record's meaning.
    if (identity.fingerprint_sha256.empty()) identity.fingerprint_sha256 = "audit-record";
  }
  out.name_step = o.if_contains("name_source") != nullptr;
  assign(o, "host", out.host);
  out.name_verified = NameVerified::not_checked;
  out.dns_answers.clear();
  if (out.name_step) {
    const auto* v = string_field(o, "name_verified");
    const auto parsed = v ? name_verified(std::string_view(v->data(), v->size())) : std::nullopt;
    if (!parsed) {
      error = "name_source without a valid name_verified";
      return false;
    }
    out.name_verified = *parsed;
    if (const auto* answers = o.if_contains("dns_answers")) {
      if (!answers->is_array()) {
        error = "dns_answers is not a list";
        return false;
      }
      for (const auto& a : answers->get_array()) {
        const auto addr = a.is_string() ? base::IpAddress::parse(std::string_view(
                                              a.get_string().data(), a.get_string().size()))
                                        : std::nullopt;
        if (!addr) {
          error = "dns_answers has an entry that is not an IP address";
          return false;
        }
        out.dns_answers.push_back(*addr);
      }
    }
  }
  if (!assign(o, "decision", out.decision) || !assign(o, "reason", out.reason)) {
    error = "no decision or reason";
    return false;
  }
  assign(o, "rule", out.rule);
  out.shadow_decision.clear();
  out.shadow_rule.clear();
  if (const auto* sh = o.if_contains("shadow"); sh != nullptr && sh->is_object()) {
    assign(sh->get_object(), "decision", out.shadow_decision);
    assign(sh->get_object(), "rule", out.shadow_rule);
  }
  return true;
}

}  // namespace egress::audit
