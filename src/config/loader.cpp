// The gateway config loader: YAML (with positions) → GatewayConfig. Strict: every unknown key,
// missing required key and bad value is an error naming file:line:col and the key path, and all
// of them are reported at once.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <tuple>
#include <utility>

#include "config/config.hpp"
#include "config/duration.hpp"
#include "config/size.hpp"
#include "peek/hostname.hpp"
#include "resolve/resolver.hpp"
#include "tls/client_context.hpp"
#include "yaml/reader.hpp"

namespace egress::config {

std::string_view to_string(DestinationMode m) noexcept {
  switch (m) {
    case DestinationMode::tproxy:
      return "tproxy";
    case DestinationMode::connect:
      return "connect";
    case DestinationMode::original_dst:
      break;
  }
  return "original_dst";
}

namespace {

using yaml::Map;

// The config's getters on top of the shared reader: non-empty strings, durations, endpoints and
// paths (relative to the config file's directory).
class Loader {
 public:
  Loader(std::string file, std::filesystem::path base_dir, std::vector<base::Diagnostic>& errors)
      : r(std::move(file), errors), base_dir_(std::move(base_dir)) {}

  yaml::Reader r;

  std::optional<std::string> string(const YAML::Node& v, const std::string& path) {
    auto s = r.string(v, path);
    if (s && s->empty()) {
      r.error(v, path, "must not be empty");
      return std::nullopt;
    }
    return s;
  }

  std::optional<std::chrono::milliseconds> duration(const YAML::Node& v, const std::string& path) {
    auto s = r.scalar(v, path, "a duration");
    if (!s) return std::nullopt;
    auto d = parse_duration(*s);
    if (!d) {
      r.error(v, path, "\"" + *s + "\" is not a duration (e.g. 500ms, 5s, 2m, 1h)");
    }
    return d;
  }

  // A duration that must not be 0s.
  std::optional<std::chrono::milliseconds> positive_duration(const YAML::Node& v,
                                                             const std::string& path) {
    auto d = duration(v, path);
    if (d && d->count() == 0) {
      r.error(v, path, "must be greater than 0s");
      return std::nullopt;
    }
    return d;
  }

  // A duration in [min, max]; min 0 means "greater than 0s".
  std::optional<std::chrono::milliseconds> duration_in(const YAML::Node& v, const std::string& path,
                                                       std::chrono::milliseconds min,
                                                       std::chrono::milliseconds max) {
    auto d = min.count() == 0 ? positive_duration(v, path) : duration(v, path);
    if (d && (*d < min || *d > max)) {
      r.error(v, path,
              "must be " +
                  (min.count() == 0
                       ? "greater than 0s and at most " + format_duration(max)
                       : "between " + format_duration(min) + " and " + format_duration(max)) +
                  ", got " + format_duration(*d));
      return std::nullopt;
    }
    return d;
  }

  // A size (512B, 16KiB, 1MiB) in [min, max].
  std::optional<std::uint64_t> size(const YAML::Node& v, const std::string& path, std::uint64_t min,
                                    std::uint64_t max) {
    auto s = r.scalar(v, path, "a size");
    if (!s) return std::nullopt;
    auto n = parse_size(*s);
    if (!n) {
      r.error(v, path, "\"" + *s + "\" is not a size (e.g. 512B, 16KiB, 1MiB)");
      return std::nullopt;
    }
    if (*n < min || *n > max) {
      r.error(v, path,
              "must be between " + format_size(min) + " and " + format_size(max) + ", got " + *s);
      return std::nullopt;
    }
    return n;
  }

  std::optional<base::Endpoint> endpoint(const YAML::Node& v, const std::string& path) {
    auto s = r.scalar(v, path, "an address:port");
    if (!s) return std::nullopt;
    auto e = base::Endpoint::parse(*s);
    if (!e) {
      r.error(v, path,
              "\"" + *s + "\" is not an address:port (e.g. \"0.0.0.0:15001\", \"[::]:15001\")");
    }
    return e;
  }

  std::optional<std::filesystem::path> path(const YAML::Node& v, const std::string& key_path) {
    auto s = string(v, key_path);
    if (!s) return std::nullopt;
    std::filesystem::path p(*s);
    if (p.is_relative()) p = base_dir_ / p;
    return p.lexically_normal();
  }

 private:
  std::filesystem::path base_dir_;
};

void load_tls(Loader& l, const YAML::Node& node, const std::string& path,
              tls::ListenerTlsOptions& out) {
  auto& r = l.r;
  Map m(r, node, path, "tls",
        {"mode", "cert", "key", "client_ca", "crl", "crl_check", "min_version", "handshake_timeout",
         "allow_insecure_key_permissions", "session_cache_size"});
  if (!m.ok()) return;
  if (auto v = m.find("mode")) {
    if (auto x = r.one_of<tls::Mode>(*v, m.path("mode"),
                                     {{"required", tls::Mode::required},
                                      {"optional", tls::Mode::optional},
                                      {"off", tls::Mode::off}})) {
      out.mode = *x;
    }
  }
  for (auto [key, field] : {std::pair{"cert", &out.cert}, std::pair{"key", &out.key},
                            std::pair{"client_ca", &out.client_ca}, std::pair{"crl", &out.crl}}) {
    if (auto v = m.find(key)) {
      if (auto x = l.path(*v, m.path(key))) *field = *x;
    }
  }
  if (auto v = m.find("crl_check")) {
    if (auto x = r.one_of<tls::CrlCheck>(
            *v, m.path("crl_check"),
            {{"leaf", tls::CrlCheck::leaf}, {"chain", tls::CrlCheck::chain}})) {
      out.crl_check = *x;
    }
    // Strict like an unknown key: a revocation setting that checks nothing is a mistake.
    if (!m.find("crl")) r.error(*v, m.path("crl_check"), "has no effect without tls.crl");
  }
  if (auto v = m.find("min_version")) {
    if (auto x = r.one_of<tls::MinVersion>(
            *v, m.path("min_version"),
            {{"1.2", tls::MinVersion::tls1_2}, {"1.3", tls::MinVersion::tls1_3}})) {
      out.min_version = *x;
    }
  }
  if (auto v = m.find("handshake_timeout")) {
    if (auto d = l.positive_duration(*v, m.path("handshake_timeout"))) out.handshake_timeout = *d;
  }
  if (auto v = m.find("allow_insecure_key_permissions")) {
    if (auto b = r.boolean(*v, m.path("allow_insecure_key_permissions"))) {
      out.allow_insecure_key_permissions = *b;
    }
  }
  if (auto v = m.find("session_cache_size")) {
    if (auto n = r.integer<std::size_t>(*v, m.path("session_cache_size"), 0,
                                        tls::kMaxSessionCacheSize)) {
      out.session_cache_size = *n;
    }
  }
  if (out.mode != tls::Mode::off) {
    for (std::string_view key : {"cert", "key", "client_ca"}) {
      if (!m.find(key)) {
        r.error(node, m.path(key),
                "required when tls.mode is " +
                    std::string(out.mode == tls::Mode::required ? "required" : "optional"));
      }
    }
  }
}

// The bounds of docs/config.md: a peek longer than a minute holds a pending slot for nothing a
// client would still wait for; 512 B holds the smallest real ClientHello, and 1 MiB bounds what
// one undecided connection may make the gateway buffer.
constexpr std::chrono::milliseconds kMaxPeekTimeout{60'000};
constexpr std::uint64_t kMinPeekBytes = 512;
constexpr std::uint64_t kMaxPeekBytes = 1024 * 1024;
// A lookup longer than 30s outlives any client's connect timeout; answers held past an hour
// would keep verifying an address the name gave up long ago.
constexpr std::chrono::milliseconds kMaxDnsTimeout{30'000};
constexpr std::chrono::milliseconds kMaxMinTtl{3'600'000};
// A CONNECT head is one short request; a client that takes minutes to send it holds a pending
// slot for nothing (issue 20: at most 300s).
constexpr std::chrono::milliseconds kMaxConnectRequestTimeout{300'000};

void load_peek(Loader& l, const YAML::Node& node, const std::string& path, PeekConfig& out) {
  Map m(l.r, node, path, "peek", {"timeout", "max_bytes"});
  if (auto v = m.find("timeout")) {
    if (auto d =
            l.duration_in(*v, m.path("timeout"), std::chrono::milliseconds(0), kMaxPeekTimeout)) {
      out.timeout = *d;
    }
  }
  if (auto v = m.find("max_bytes")) {
    if (auto n = l.size(*v, m.path("max_bytes"), kMinPeekBytes, kMaxPeekBytes)) {
      out.max_bytes = static_cast<std::size_t>(*n);
    }
  }
}

void load_dns(Loader& l, const YAML::Node& node, const std::string& path, DnsConfig& out) {
  auto& r = l.r;
  Map m(r, node, path, "dns", {"servers", "min_ttl", "timeout"});
  if (auto v = m.find("servers")) {
    if (auto items = r.list(*v, m.path("servers"), false)) {
      std::vector<std::size_t> written_at;  // the item index of each entry of out.servers
      for (std::size_t i = 0; i < items->size(); ++i) {
        const auto& item = (*items)[i];
        const std::string item_path = yaml::index_path(m.path("servers"), i);
        auto s = r.scalar(item, item_path, "an address with an optional port");
        if (!s) continue;
        // The resolver's own check, so a server the config accepts is one the resolver takes.
        auto server = resolve::normalise_server(*s);
        if (!server) {
          r.error(item, item_path,
                  "\"" + *s +
                      "\" is not an IP address with an optional port (e.g. \"203.0.113.53:53\", "
                      "\"[2001:db8::53]:53\", \"203.0.113.53\" for port 53)");
          continue;
        }
        const auto dup = std::find(out.servers.begin(), out.servers.end(), *server);
        if (dup != out.servers.end()) {
          const auto first = written_at[static_cast<std::size_t>(dup - out.servers.begin())];
          r.error(item, item_path,
                  "duplicate server " + *server + " (also " +
                      yaml::index_path(m.path("servers"), first) + ")");
          continue;
        }
        out.servers.push_back(*server);
        written_at.push_back(i);
      }
    }
  }
  if (auto v = m.find("min_ttl")) {
    if (auto d = l.duration(*v, m.path("min_ttl"))) {
      if (*d > kMaxMinTtl) {
        r.error(*v, m.path("min_ttl"),
                "must be at most " + format_duration(kMaxMinTtl) + ", got " + format_duration(*d));
      } else if (d->count() % 1000 != 0) {
        // DNS TTLs are whole seconds (RFC 2181 section 8).
        r.error(*v, m.path("min_ttl"), "must be whole seconds, got " + format_duration(*d));
      } else {
        out.min_ttl = std::chrono::duration_cast<std::chrono::seconds>(*d);
      }
    }
  }
  if (auto v = m.find("timeout")) {
    if (auto d =
            l.duration_in(*v, m.path("timeout"), std::chrono::milliseconds(0), kMaxDnsTimeout)) {
      out.timeout = *d;
    }
  }
}

void load_proxy_protocol(Loader& l, const YAML::Node& node, const std::string& path,
                         ProxyProtocolConfig& out) {
  auto& r = l.r;
  Map m(r, node, path, "proxy_protocol", {"trusted"});
  if (!m.ok()) return;
  const auto v = m.require("trusted");
  if (!v) return;
  const std::string list_path = m.path("trusted");
  // Required and non-empty: a listener that trusts no balancer would refuse every header and
  // require none, which is the listener without proxy_protocol; saying so is clearer.
  if (!v->IsSequence() || v->size() == 0) {
    r.error(*v, list_path, "must be a non-empty list of CIDRs (the load balancers' addresses)");
    return;
  }
  for (std::size_t i = 0; i < v->size(); ++i) {
    const auto& item = (*v)[i];
    const std::string item_path = yaml::index_path(list_path, i);
    auto s = r.scalar(item, item_path, "a CIDR");
    if (!s) continue;
    // The policy's own parser: the same spellings as a rule's `source:`, host bits refused.
    auto c = policy::parse_cidr(*s);
    if (!c.cidr) {
      r.error(item, item_path, c.error);
      continue;
    }
    out.trusted.push_back(*c.cidr);
  }
}

void load_listener(Loader& l, const YAML::Node& node, const std::string& path,
                   ListenerConfig& out) {
  auto& r = l.r;
  Map m(r, node, path, "a listener",
        {"name", "address", "destination", "max_connections", "tls", "peek", "proxy_protocol",
         "connect_request_timeout"});
  if (auto v = m.require("name")) {
    if (auto s = l.string(*v, m.path("name"))) {
      const bool ok = std::all_of(s->begin(), s->end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '_' || c == '.';
      });
      if (ok) {
        out.name = *s;
      } else {
        r.error(*v, m.path("name"),
                "\"" + *s + "\" may contain only letters, digits, '-', '_', '.'");
      }
    }
  }
  if (auto v = m.require("address")) {
    if (auto e = l.endpoint(*v, m.path("address"))) {
      if (e->port == 0) {
        r.error(*v, m.path("address"), "port must not be 0");
      } else {
        out.address = *e;
      }
    }
  }
  if (auto v = m.find("destination")) {
    if (auto x = r.one_of<DestinationMode>(*v, m.path("destination"),
                                           {{"original_dst", DestinationMode::original_dst},
                                            {"tproxy", DestinationMode::tproxy},
                                            {"connect", DestinationMode::connect}})) {
      out.destination = *x;
    }
  }
  if (auto v = m.find("max_connections")) {
    if (auto n = r.integer<std::uint64_t>(*v, m.path("max_connections"), 0, 10'000'000)) {
      out.max_connections = *n;
    }
  }
  if (auto v = m.find("tls")) load_tls(l, *v, m.path("tls"), out.tls);
  if (auto v = m.find("peek")) load_peek(l, *v, m.path("peek"), out.peek);
  if (auto v = m.find("proxy_protocol")) {
    load_proxy_protocol(l, *v, m.path("proxy_protocol"), out.proxy_protocol.emplace());
  }
  if (auto v = m.find("connect_request_timeout")) {
    if (auto d = l.duration_in(*v, m.path("connect_request_timeout"), std::chrono::milliseconds(0),
                               kMaxConnectRequestTimeout)) {
      out.connect_request_timeout = *d;
    }
    // Strict like an unknown key: a transparent listener reads no request, so the timeout would
    // bound nothing (and its author probably meant the listener to be a CONNECT one).
    if (out.destination != DestinationMode::connect) {
      r.error(*v, m.path("connect_request_timeout"),
              "only valid with destination: connect (this listener's destination is " +
                  std::string(to_string(out.destination)) + ")");
    }
  }
}

void load_audit(Loader& l, const YAML::Node& node, const std::string& path, audit::Options& out) {
  using audit::Options;
  auto& r = l.r;
  Map m(r, node, path, "audit",
        {"path", "write_ahead", "on_overflow", "on_error", "fsync", "fsync_interval",
         "queue_capacity", "gateway_id"});
  if (auto v = m.find("path")) {
    if (auto s = l.string(*v, m.path("path"))) {
      if (*s == "-") {
        out.path = "-";
      } else if (auto x = l.path(*v, m.path("path"))) {
        out.path = x->string();
      }
    }
  }
  if (auto v = m.find("write_ahead")) {
    if (auto b = r.boolean(*v, m.path("write_ahead"))) out.write_ahead = *b;
  }
  if (auto v = m.find("on_overflow")) {
    if (auto x = r.one_of<Options::Overflow>(
            *v, m.path("on_overflow"),
            {{"block", Options::Overflow::block}, {"drop", Options::Overflow::drop}})) {
      out.on_overflow = *x;
    }
  }
  if (auto v = m.find("on_error")) {
    if (auto x = r.one_of<Options::OnError>(*v, m.path("on_error"),
                                            {{"fail_closed", Options::OnError::fail_closed},
                                             {"continue", Options::OnError::continue_}})) {
      out.on_error = *x;
    }
  }
  if (auto v = m.find("fsync")) {
    if (auto x = r.one_of<Options::Fsync>(
            *v, m.path("fsync"),
            {{"none", Options::Fsync::none}, {"interval", Options::Fsync::interval}})) {
      out.fsync = *x;
    }
  }
  if (auto v = m.find("fsync_interval")) {
    if (auto d = l.positive_duration(*v, m.path("fsync_interval"))) out.fsync_interval = *d;
  }
  if (auto v = m.find("queue_capacity")) {
    if (auto n = r.integer<std::size_t>(*v, m.path("queue_capacity"), 1, 16'777'216)) {
      out.queue_capacity = *n;
    }
  }
  if (auto v = m.find("gateway_id")) {
    // Written into every record: printable ASCII keeps it one token for a SIEM's joins.
    if (auto s = l.string(*v, m.path("gateway_id"))) {
      const bool printable =
          std::all_of(s->begin(), s->end(), [](char c) { return c > ' ' && c < 0x7f; });
      if (s->size() > 253 || !printable) {
        r.error(*v, m.path("gateway_id"),
                "must be 1 to 253 printable ASCII characters without spaces, got \"" + *s + "\"");
      } else {
        out.gateway_id = *s;
      }
    }
  }
}

// `upstream.via.address`: "name:port", "ipv4:port" or "[ipv6]:port"; why not, or empty.
std::string via_address_error(const std::string& s) {
  const std::string example =
      " (e.g. \"gateway.corp.example:15443\", \"192.0.2.10:15443\", \"[2001:db8::10]:15443\")";
  if (!s.empty() && s.front() == '[') {
    const auto e = base::Endpoint::parse(s);
    if (!e || !e->address.is_v6()) return "\"" + s + "\" is not a host:port" + example;
    return e->port == 0 ? "port must not be 0" : "";
  }
  const auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == s.size()) {
    return "\"" + s + "\" is not a host:port" + example;
  }
  const std::string host = s.substr(0, colon);
  const std::string port = s.substr(colon + 1);
  if (host.find(':') != std::string::npos) {
    return "\"" + s + "\": an IPv6 address is written in brackets" + example;
  }
  if (port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      std::stoul(port) == 0 || std::stoul(port) > 65535) {
    return "\"" + s + "\": the port must be 1 to 65535";
  }
  if (base::IpAddress::parse(host)) return "";
  // "10.1" or "0x7f.1" would be an address to some resolvers and a name to others: refused.
  if (peek::is_ip_literal(host)) {
    return "\"" + host + "\" is not a dotted-quad IPv4 address nor a host name";
  }
  if (const auto why = peek::hostname_error(host); !why.empty()) {
    return "\"" + host + "\" is not a host name: " + std::string(why);
  }
  return "";
}

void load_via(Loader& l, const YAML::Node& node, const std::string& path, ViaConfig& out) {
  auto& r = l.r;
  Map m(r, node, path, "upstream.via", {"address", "tunnel", "tls"});
  if (!m.ok()) return;
  if (auto v = m.require("address")) {
    if (auto s = l.string(*v, m.path("address"))) {
      if (const auto why = via_address_error(*s); why.empty()) {
        out.address = *s;
      } else {
        r.error(*v, m.path("address"), why);
      }
    }
  }
  if (auto v = m.require("tunnel")) {
    if (auto x = r.one_of<ViaConfig::Tunnel>(*v, m.path("tunnel"),
                                             {{"connect", ViaConfig::Tunnel::connect}})) {
      out.tunnel = *x;
    }
  }
  const auto t = m.require("tls");
  if (!t) return;
  Map tm(r, *t, m.path("tls"), "upstream.via.tls", {"cert", "key", "ca", "server_name"});
  if (!tm.ok()) return;
  std::vector<std::pair<std::string, YAML::Node>> found;
  bool complete = true;
  for (auto [key, field] : {std::pair{"cert", &out.tls.cert}, std::pair{"key", &out.tls.key},
                            std::pair{"ca", &out.tls.ca}}) {
    auto v = tm.require(key);
    auto x = v ? l.path(*v, tm.path(key)) : std::nullopt;
    if (x) {
      *field = *x;
      found.emplace_back(key, *v);
    } else {
      complete = false;
    }
  }
  auto sn = tm.require("server_name");
  auto name = sn ? l.string(*sn, tm.path("server_name")) : std::nullopt;
  if (name) {
    // What the gateway's certificate must carry: a DNS name (X509_check_host) or an IP address.
    if (!base::IpAddress::parse(*name) && !peek::is_valid_hostname(*name)) {
      r.error(*sn, tm.path("server_name"),
              "\"" + *name + "\" is neither a host name nor an IP address: " +
                  std::string(peek::hostname_error(*name)));
      complete = false;
    } else {
      out.tls.server_name = *name;
    }
  } else {
    complete = false;
  }
  if (!complete) return;
  // The material is read now, so an unreadable or mismatched file stops the start (and a
  // `--check`), not the first connection.
  const auto built =
      tls::build_client_context({out.tls.cert, out.tls.key, out.tls.ca, out.tls.server_name});
  if (built.error) {
    const auto& e = *built.error;
    const auto it = std::find_if(found.begin(), found.end(),
                                 [&](const auto& f) { return f.first == e.option; });
    const YAML::Node& at = it != found.end() ? it->second : *t;
    const std::string key = e.option.empty() ? m.path("tls") : tm.path(e.option);
    r.error(at, key, (e.file.empty() ? "" : e.file.string() + ": ") + e.message);
  }
}

void load_upstream(Loader& l, const YAML::Node& node, const std::string& path,
                   UpstreamConfig& out) {
  auto& r = l.r;
  Map m(r, node, path, "upstream",
        {"connect_timeout", "idle_timeout", "max_duration", "mark", "via"});
  if (auto v = m.find("via")) load_via(l, *v, m.path("via"), out.via.emplace());
  if (auto v = m.find("connect_timeout")) {
    if (auto d = l.positive_duration(*v, m.path("connect_timeout"))) out.connect_timeout = *d;
  }
  if (auto v = m.find("idle_timeout")) {
    if (auto d = l.positive_duration(*v, m.path("idle_timeout"))) out.idle_timeout = *d;
  }
  if (auto v = m.find("max_duration")) {
    if (auto d = l.duration(*v, m.path("max_duration"))) out.max_duration = *d;
  }
  if (auto v = m.find("mark")) {
    if (auto n = r.integer<std::uint32_t>(*v, m.path("mark"), 0, 0xffffffffu)) out.mark = *n;
  }
}

void load_limits(Loader& l, const YAML::Node& node, const std::string& path, GatewayConfig& cfg) {
  auto& r = l.r;
  Map m(r, node, path, "limits",
        {"max_connections", "max_pending", "per_source", "per_source_ipv6_prefix"});
  for (auto [key, field] :
       {std::pair{"max_connections", &cfg.max_connections},
        std::pair{"max_pending", &cfg.max_pending}, std::pair{"per_source", &cfg.per_source}}) {
    if (auto v = m.find(key)) {
      if (auto n = r.integer<std::uint64_t>(*v, m.path(key), 0, 10'000'000)) *field = *n;
    }
  }
  if (auto v = m.find("per_source_ipv6_prefix")) {
    if (auto n = r.integer<unsigned>(*v, m.path("per_source_ipv6_prefix"), 1, 128)) {
      cfg.per_source_ipv6_prefix = *n;
    }
  }
}

void load_root(Loader& l, const YAML::Node& root, GatewayConfig& cfg) {
  auto& r = l.r;
  Map m(r, root, "", "the config",
        {"workers", "listeners", "upstream", "dns", "policy", "audit", "admin", "limits",
         "drain_timeout"});
  if (!m.ok()) return;
  if (auto v = m.find("workers")) {
    if (auto n = r.integer<unsigned>(*v, m.path("workers"), 1, 1024)) cfg.workers = *n;
  }
  std::vector<yaml::Position> listener_pos;
  if (auto v = m.require("listeners")) {
    if (!v->IsSequence() || v->size() == 0) {
      r.error(*v, "listeners", "must be a non-empty list of listeners");
    } else {
      for (std::size_t i = 0; i < v->size(); ++i) {
        ListenerConfig lc;
        load_listener(l, (*v)[i], yaml::index_path("listeners", i), lc);
        listener_pos.push_back(r.position((*v)[i]));
        cfg.listeners.push_back(std::move(lc));
      }
    }
  }
  if (auto v = m.find("upstream")) load_upstream(l, *v, "upstream", cfg.upstream);
  if (auto v = m.find("dns")) load_dns(l, *v, "dns", cfg.dns);
  // An agent (upstream.via) may run without a policy of its own: it then forwards every
  // connection to its gateway, which decides (docs/config.md, "The egressd agent").
  const bool agent = cfg.upstream.via.has_value();
  if (auto v = agent ? m.find("policy") : m.require("policy")) {
    Map p(r, *v, "policy", "policy", {"dir", "on_change"});
    if (auto d = agent ? p.find("dir") : p.require("dir")) {
      if (auto x = l.path(*d, p.path("dir"))) cfg.policy_dir = *x;
    }
    if (auto o = p.find("on_change")) {
      if (auto x = r.one_of<PolicyOnChange>(
              *o, p.path("on_change"),
              {{"reevaluate", PolicyOnChange::reevaluate}, {"keep", PolicyOnChange::keep}})) {
        cfg.policy_on_change = *x;
      }
    }
  }
  if (auto v = m.find("audit")) load_audit(l, *v, "audit", cfg.audit);
  if (auto v = m.find("admin")) {
    Map a(r, *v, "admin", "admin", {"address"});
    if (auto x = a.find("address")) {
      if (auto e = l.endpoint(*x, a.path("address"))) cfg.admin_address = *e;
    }
  }
  if (auto v = m.find("limits")) load_limits(l, *v, "limits", cfg);
  if (auto v = m.find("drain_timeout")) {
    if (auto d = l.duration(*v, "drain_timeout")) cfg.drain_timeout = *d;
  }

  // An agent carries what its transparent listeners capture; a CONNECT listener dials the
  // addresses its own chain allowed (Happy Eyeballs), which the tunnel does not: refused rather
  // than have one listener of an agent bypass its gateway.
  if (cfg.upstream.via) {
    for (std::size_t i = 0; i < cfg.listeners.size(); ++i) {
      if (cfg.listeners[i].destination == DestinationMode::connect) {
        r.error(listener_pos[i], yaml::index_path("listeners", i) + ".destination",
                "connect cannot be used with upstream.via (an agent's listeners are original_dst "
                "or tproxy; its gateway is the CONNECT listener)");
      }
    }
  }

  // Cross-field checks: unique names and addresses; a "[::]:P" listener becomes IPv6-only when
  // an IPv4 listener shares its port (both bind with SO_REUSEPORT; see docs/config.md).
  for (std::size_t i = 0; i < cfg.listeners.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      const auto& a = cfg.listeners[i];
      const auto& b = cfg.listeners[j];
      const std::string path = yaml::index_path("listeners", i);
      if (!a.name.empty() && a.name == b.name) {
        r.error(listener_pos[i], path + ".name",
                "duplicate listener name \"" + a.name + "\" (also listeners[" + std::to_string(j) +
                    "])");
      }
      if (a.address.port != 0 && a.address == b.address) {
        r.error(listener_pos[i], path + ".address",
                "duplicate address " + a.address.to_string() + " (also listeners[" +
                    std::to_string(j) + "])");
      }
    }
  }
  for (std::size_t i = 0; i < cfg.listeners.size(); ++i) {
    auto& a = cfg.listeners[i];
    if (a.address.address.is_v6() && a.address.address.is_unspecified()) {
      for (const auto& b : cfg.listeners) {
        if (b.address.address.is_v4() && b.address.port == a.address.port) a.v6_only = true;
      }
    }
    const auto& adm = cfg.admin_address;
    const bool overlaps = a.address.port == adm.port &&
                          (a.address.address == adm.address || a.address.address.is_unspecified() ||
                           adm.address.is_unspecified());
    if (a.address.port != 0 && overlaps) {
      r.error(listener_pos[i], yaml::index_path("listeners", i) + ".address",
              "conflicts with admin.address " + adm.to_string());
    }
  }
}

}  // namespace

LoadResult parse_config(std::string_view text, const std::filesystem::path& file) {
  LoadResult result;
  std::filesystem::path base = file.parent_path();
  if (base.empty()) base = ".";
  std::error_code ec;
  auto abs = std::filesystem::absolute(base, ec);
  if (!ec) base = abs;
  std::vector<base::Diagnostic> errors;
  Loader l(file.string(), base, errors);

  GatewayConfig cfg;
  cfg.file = file;
  cfg.workers = std::max(1u, std::thread::hardware_concurrency());
  cfg.admin_address = *base::Endpoint::parse("127.0.0.1:9901");
  cfg.audit.path = (base / "audit.jsonl").string();
  // The guard runs first: yaml-cpp never sees deep nesting, an alias bomb or endless documents.
  if (const auto docs = l.r.load_all(std::string(text))) {
    if (docs->empty() || (*docs)[0].IsNull()) {
      l.r.error(yaml::Position{}, "", "the config is empty");
    } else {
      load_root(l, (*docs)[0], cfg);
    }
    for (std::size_t i = 1; i < docs->size(); ++i) {
      if ((*docs)[i].IsNull()) continue;  // a trailing "---"
      l.r.error((*docs)[i], "", "a second YAML document; the config is one document");
    }
  }
  if (!errors.empty()) {
    std::stable_sort(errors.begin(), errors.end(), [](const auto& a, const auto& b) {
      return std::tie(a.line, a.column) < std::tie(b.line, b.column);
    });
    result.errors = std::move(errors);
    return result;
  }
  result.config = std::move(cfg);
  return result;
}

LoadResult load_config(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    LoadResult r;
    base::Diagnostic d;
    d.file = file.string();
    d.message = std::string("cannot read the config file: ") + std::strerror(errno);
    r.errors.push_back(std::move(d));
    return r;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse_config(text.str(), file);
}

}  // namespace egress::config
