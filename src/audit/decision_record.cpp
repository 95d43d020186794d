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

// Into `out`, reusing its strings' storage from the last record.
bool read_strings(const object& o, std::string_view key, std::vector<std::string>& out) {
  const auto* v = o.if_contains(key);
  if (v == nullptr) {
    out.clear();
    return true;
  }
  if (!v->is_array()) return false;
  const auto& a = v->get_array();
  out.resize(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!a[i].is_string()) return false;
    out[i].assign(a[i].get_string().data(), a[i].get_string().size());
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
  // One pass over the record's keys: a lookup per field would scan the ~20 keys each time.
  const boost::json::value* ts = nullptr;
  const boost::json::value* src = nullptr;
  const boost::json::value* dst = nullptr;
  const boost::json::value* identity = nullptr;
  const boost::json::value* name_source = nullptr;
  const boost::json::value* host = nullptr;
  const boost::json::value* verified = nullptr;
  const boost::json::value* answers = nullptr;
  const boost::json::value* decision = nullptr;
  const boost::json::value* reason = nullptr;
  const boost::json::value* rule = nullptr;
  const boost::json::value* shadow = nullptr;
  for (const auto& kv : o) {
    const std::string_view k(kv.key().data(), kv.key().size());
    const boost::json::value* v = &kv.value();
    if (k == "ts")
      ts = v;
    else if (k == "src")
      src = v;
    else if (k == "dst")
      dst = v;
    else if (k == "identity")
      identity = v;
    else if (k == "name_source")
      name_source = v;
    else if (k == "host")
      host = v;
    else if (k == "name_verified")
      verified = v;
    else if (k == "dns_answers")
      answers = v;
    else if (k == "decision")
      decision = v;
    else if (k == "reason")
      reason = v;
    else if (k == "rule")
      rule = v;
    else if (k == "shadow")
      shadow = v;
  }
  const auto text = [](const boost::json::value* v, std::string& to) {
    if (v == nullptr || !v->is_string()) {
      to.clear();
      return false;
    }
    to.assign(v->get_string().data(), v->get_string().size());
    return true;
  };
  if (!text(ts, out.ts_text)) {
    error = "no ts";
    return false;
  }
  const auto when = clock::parse_rfc3339(out.ts_text);
  if (!when) {
    error = "ts \"" + out.ts_text + "\" is not RFC 3339";
    return false;
  }
  out.ts = *when;
  const auto client = read_endpoint(src);
  if (!client) {
    error = "no valid src {ip, port}";
    return false;
  }
  out.src = client->address;
  out.dst.reset();
  if (dst != nullptr) {
    out.dst = read_endpoint(dst);
    if (!out.dst) {
      error = "dst is not {ip, port}";
      return false;
    }
  }
  out.has_identity = identity != nullptr && identity->is_object();
  if (out.has_identity) {
    const auto& i = identity->get_object();
    auto& id = out.identity;
    assign(i, "spiffe_id", id.spiffe_id);
    assign(i, "cn", id.common_name);
    assign(i, "fingerprint_sha256", id.fingerprint_sha256);
    assign(i, "issuer", id.issuer);
    assign(i, "serial", id.serial);
    assign(i, "not_after", id.not_after);
    if (!read_strings(i, "uri_sans", id.uri_sans) || !read_strings(i, "dns_sans", id.dns_sans)) {
      error = "identity.uri_sans / dns_sans is not a list of strings";
      return false;
    }
    // The policy treats an identity without a fingerprint as none: keep the record's meaning.
    if (id.fingerprint_sha256.empty()) id.fingerprint_sha256 = "audit-record";
  }
  out.name_step = name_source != nullptr;
  text(host, out.host);
  out.name_verified = NameVerified::not_checked;
  out.dns_answers.clear();
  if (out.name_step) {
    const auto parsed = verified != nullptr && verified->is_string()
                            ? name_verified(std::string_view(verified->get_string().data(),
                                                             verified->get_string().size()))
                            : std::nullopt;
    if (!parsed) {
      error = "name_source without a valid name_verified";
      return false;
    }
    out.name_verified = *parsed;
    if (answers != nullptr) {
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
  if (!text(decision, out.decision) || !text(reason, out.reason)) {
    error = "no decision or reason";
    return false;
  }
  text(rule, out.rule);
  out.shadow_decision.clear();
  out.shadow_rule.clear();
  if (shadow != nullptr && shadow->is_object()) {
    assign(shadow->get_object(), "decision", out.shadow_decision);
    assign(shadow->get_object(), "rule", out.shadow_rule);
  }
  return true;
}

}  // namespace egress::audit
