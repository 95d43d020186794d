#include "audit/encoder.hpp"

#include <charconv>
#include <chrono>
#include <type_traits>

#include "audit/json_out.hpp"
#include "clock/rfc3339.hpp"

namespace egress::audit {
namespace {

void append_timestamp(std::string& out, Clock::time_point tp) {
  out += '"';
  clock::append_rfc3339_micros(out, tp);
  out += '"';
}

// Dotted quad without inet_ntop's printf machinery (it was a tenth of the encoding time).
void append_ipv4(std::string& out, const base::IpAddress& a) {
  // One octet at a time into its own buffer: GCC 12 at -O3 cannot bound a cursor running over one
  // 16-byte buffer and warns (-Wstringop-overflow), which stopped a -Werror Release build.
  out += '"';
  for (int i = 0; i < 4; ++i) {
    if (i != 0) out += '.';
    char octet[3];
    const char* end =
        std::to_chars(octet, octet + sizeof octet, static_cast<unsigned>(a.bytes()[i])).ptr;
    out.append(octet, static_cast<std::size_t>(end - octet));
  }
  out += '"';
}

// An address as a JSON string: IPv4 without allocating, IPv6 in RFC 5952 form.
void append_ip(std::string& out, const base::IpAddress& a) {
  if (a.is_v4()) {
    append_ipv4(out, a);
  } else {
    append_json_string(out, a.to_string());
  }
}

void put_endpoint(ObjectWriter& w, std::string_view key, const base::Endpoint& ep) {
  std::string& out = w.key(key);
  ObjectWriter o(out);
  append_ip(o.key("ip"), ep.address);
  o.num("port", ep.port);
  o.finish();
}

// The name step's fields, at the top level of the decision (docs/audit.md): only for a
// connection whose decision could depend on a name, so the rest pay one test of an optional.
void put_name(ObjectWriter& w, const NameFields& n) {
  w.str_if("host", n.host);
  w.str("name_source", to_string(n.source));
  w.str("name_verified", to_string(n.verified));
  if (!n.dns_answers.empty()) {
    std::string& out = w.key("dns_answers");
    out += '[';
    for (std::size_t i = 0; i < n.dns_answers.size(); ++i) {
      if (i != 0) out += ',';
      append_ip(out, n.dns_answers[i]);
    }
    out += ']';
  }
  if (n.ech) w.boolean("ech", true);
}

void put_identity(ObjectWriter& w, const base::Identity& id) {
  ObjectWriter o(w.key("identity"));
  o.str("spiffe_id", id.spiffe_id);
  o.str_array("uri_sans", id.uri_sans);
  o.str_array("dns_sans", id.dns_sans);
  o.str("cn", id.common_name);
  o.str("fingerprint_sha256", id.fingerprint_sha256);
  o.str("issuer", id.issuer);
  o.str("serial", id.serial);
  o.str("not_after", id.not_after);
  o.finish();
}

/// "<instance>-<counter>": unique across restarts and replicas (the instance is random per run),
/// while the data path only counts. The instance is hex digits: nothing to escape.
void put_conn_id(ObjectWriter& w, const Origin& origin, std::uint64_t counter) {
  std::string& out = w.key("conn_id");
  out += '"';
  out += origin.instance;
  out += '-';
  char digits[20];
  const char* end = std::to_chars(digits, digits + sizeof digits, counter).ptr;
  out.append(digits, static_cast<std::size_t>(end - digits));
  out += '"';
}

void put_event(ObjectWriter& w, const Origin& origin, const ConnectionDecision& e) {
  put_conn_id(w, origin, e.conn_id);
  w.str("listener", e.listener);
  put_endpoint(w, "src", e.src);
  if (e.proxy_src) put_endpoint(w, "proxy_src", *e.proxy_src);
  if (e.dst) put_endpoint(w, "dst", *e.dst);
  if (e.agent_conn) w.str("agent_conn", *e.agent_conn);
  // An identity without a certificate (all fields empty) is no identity: omit it, as the
  // schema says, rather than write an object with an empty fingerprint.
  if (e.identity && e.identity->present()) put_identity(w, *e.identity);
  w.str_if("tls_version", e.tls_version);
  if (e.name) put_name(w, *e.name);
  w.str("decision", e.decision);
  w.str("reason", e.reason);
  w.str_if("detail", e.detail);
  w.str_if("rule", e.rule);
  w.str_if("rule_file", e.rule_file);
  if (e.shadow_decision) {
    ObjectWriter s(w.key("shadow"));
    s.str("decision", *e.shadow_decision);
    s.str_if("rule", e.shadow_rule);
    s.finish();
  }
  w.str("policy_version", e.policy_version);
}

void put_event(ObjectWriter& w, const Origin& origin, const ConnectionClose& e) {
  put_conn_id(w, origin, e.conn_id);
  w.str("listener", e.listener);
  put_endpoint(w, "src", e.src);
  put_endpoint(w, "dst", e.dst);
  w.num("bytes_up", e.bytes_up);
  w.num("bytes_down", e.bytes_down);
  w.num("duration_us", static_cast<std::uint64_t>(e.duration.count() < 0 ? 0 : e.duration.count()));
  w.str("closed_by", e.closed_by);
  w.str("reason", e.reason);
  w.str_if("detail", e.detail);
  w.str_if("rule", e.rule);
  w.str_if("via_conn", e.via_conn);
}

void put_event(ObjectWriter& w, const Origin&, const PolicyReload& e) {
  w.str("result", e.ok ? "ok" : "failed");
  w.str("version", e.version);
  w.num("rule_count", e.rule_count);
  w.str_array("errors", e.errors);
  if (e.parts.empty()) return;
  ObjectWriter parts(w.key("parts"));
  for (const auto& p : e.parts) {
    ObjectWriter o(parts.key(p.name));
    o.str("result", p.result);
    o.str_if("version", p.version);
    if (p.rule_count) o.num("rule_count", *p.rule_count);
    o.str_if("next_update", p.next_update);
    if (p.redecided) o.num("redecided", *p.redecided);
    if (p.checked) o.num("checked", *p.checked);
    if (p.revoked) o.num("revoked", *p.revoked);
    if (p.redecide_unanswered) o.num("redecide_unanswered", *p.redecide_unanswered);
    if (p.check_unanswered) o.num("check_unanswered", *p.check_unanswered);
    o.str_array("errors", p.errors);
    o.finish();
  }
  parts.finish();
}

void put_event(ObjectWriter& w, const Origin& origin, const GatewayStart& e) {
  w.str("version", e.version);
  w.str("instance", origin.instance);
  w.str("policy_version", e.policy_version);
  w.str_array("listeners", e.listeners);
  w.num("workers", e.workers);
}

void put_event(ObjectWriter& w, const Origin&, const GatewayStop& e) {
  w.str("reason", e.reason);
  w.num("connections_drained", e.connections_drained);
  w.num("connections_forced", e.connections_forced);
}

}  // namespace

std::string_view event_name(const Event& event) noexcept {
  return std::visit(
      [](const auto& e) -> std::string_view {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, ConnectionDecision>) return "connection.decision";
        if constexpr (std::is_same_v<T, ConnectionClose>) return "connection.close";
        if constexpr (std::is_same_v<T, PolicyReload>) return "policy.reload";
        if constexpr (std::is_same_v<T, GatewayStart>) return "gateway.start";
        if constexpr (std::is_same_v<T, GatewayStop>) return "gateway.stop";
      },
      event);
}

std::string format_timestamp(Clock::time_point tp) {
  std::string out;
  clock::append_rfc3339_micros(out, tp);
  return out;
}

void encode_record(const Record& record, const ChainFields& chain, const Origin& origin,
                   std::string& out) {
  ObjectWriter w(out);
  w.num("v", kSchemaVersion);
  w.num("seq", chain.seq);
  w.str("prev", chain.prev);
  append_timestamp(w.key("ts"), record.ts);
  w.str("event", event_name(record.event));
  w.str("gateway", origin.gateway);
  std::visit([&](const auto& e) { put_event(w, origin, e); }, record.event);
  if (chain.records_dropped > 0) w.num("records_dropped", chain.records_dropped);
  w.finish();
}

}  // namespace egress::audit
