#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/audit_log.hpp"
#include "base/diagnostic.hpp"
#include "base/ip_address.hpp"
#include "policy/address_set.hpp"
#include "tls/options.hpp"

namespace egress::config {

/// How a listener learns where the client meant to go.
enum class DestinationMode : std::uint8_t {
  original_dst,  ///< REDIRECT: getsockopt(SO_ORIGINAL_DST / IP6T_SO_ORIGINAL_DST)
  tproxy,        ///< TPROXY: the accepted socket's local address (listener sets IP_TRANSPARENT)
  /// An explicit tunnel (issue 20): the client asks with an HTTP/1.1 `CONNECT host:port` request
  /// (inside its mTLS when tls.mode is required); egressd answers 200 and relays, or refuses.
  connect,
};

/// "original_dst" | "tproxy" | "connect"
std::string_view to_string(DestinationMode) noexcept;

/// `listeners[].peek`: how long and how far a connection whose decision can depend on a name
/// waits for the client's first bytes (the SNI of its ClientHello, the Host of its HTTP/1.x
/// request). Passed as it is to the name step of the listener's filter chain.
struct PeekConfig {
  /// Waiting for the name ends after this (0 < timeout <= 60s); the decision is then made
  /// without a name (`name_source: none`).
  std::chrono::milliseconds timeout{1000};
  /// The most bytes read for the name: a ClientHello (record headers included) or a request
  /// head (512 B to 1 MiB). A larger ClientHello is denied `client_hello_invalid`.
  std::size_t max_bytes = 16 * 1024;
};

/// `dns:`: the gateway's own resolver, which verifies a client's name against the address it
/// connects to. One for the gateway; resolver_options() and verifier_options()
/// (config/dns_options.hpp) turn it into the options of src/resolve.
struct DnsConfig {
  /// Normalised "ip:port" / "[v6]:port" (resolve::normalise_server), in the order written.
  /// Empty: the nameservers of /etc/resolv.conf.
  std::vector<std::string> servers;
  /// Answers are held for max(TTL, min_ttl): 0s to 1h, whole seconds.
  std::chrono::seconds min_ttl{60};
  /// A whole lookup (A and AAAA, every try and server) ends by then: 0 < timeout <= 30s.
  std::chrono::milliseconds timeout{2000};
};

/// `listeners[].proxy_protocol`: the listener sits behind load balancers that put a PROXY protocol
/// header (v1 or v2) before each client's bytes. From a source in `trusted` the header is required
/// and names the client (and the destination); from any other source a header is refused.
struct ProxyProtocolConfig {
  /// The balancers' addresses: a non-empty list of prefixes (policy's CIDR forms; a bare address
  /// is a /32 or /128).
  std::vector<policy::Cidr> trusted;
};

/// One entry of `listeners:`.
struct ListenerConfig {
  std::string name;  ///< unique; appears in audit records and metric labels
  base::Endpoint address;
  DestinationMode destination = DestinationMode::original_dst;
  /// Only for an IPv6 unspecified address ("[::]:P"): true = IPV6_V6ONLY. Computed by the
  /// loader: set when another listener binds an IPv4 address on the same port, otherwise the
  /// "[::]" listener is dual-stack.
  bool v6_only = false;
  /// Per-listener connection limit; 0 = only the global limit applies.
  std::uint64_t max_connections = 0;
  tls::ListenerTlsOptions tls;
  PeekConfig peek;
  /// Absent: no PROXY protocol (a header is client data, as any other bytes).
  std::optional<ProxyProtocolConfig> proxy_protocol;
  /// `listeners[].connect_request_timeout` (destination: connect only): the CONNECT request head
  /// must have ended by then, counted from the connect step's start (after the TLS handshake,
  /// which tls.handshake_timeout bounds); otherwise the connection is closed, denied
  /// connect_request_timeout. 0 < t <= 300s.
  std::chrono::milliseconds connect_request_timeout{10'000};
};

/// `upstream.via.tls`: the agent's client certificate towards the gateway, and what it trusts.
struct ViaTlsConfig {
  std::filesystem::path cert;  ///< PEM chain, the agent's identity at the gateway
  std::filesystem::path key;
  std::filesystem::path ca;  ///< the gateway's certificate must verify against these
  std::string server_name;   ///< SNI sent and the name the gateway's certificate must carry
};

/// `upstream.via` (issue 20, the egressd agent): every allowed connection is carried to a
/// central egressd through a tunnel instead of dialled directly.
struct ViaConfig {
  /// "host:port" as written: a name (resolved when dialling) or an IP literal ("[v6]:port").
  std::string address;
  /// `tunnel`: the only kind is `connect` (HTTP/1.1 CONNECT over mTLS).
  enum class Tunnel : std::uint8_t { connect } tunnel = Tunnel::connect;
  ViaTlsConfig tls;
};

/// `upstream:`
struct UpstreamConfig {
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds idle_timeout{3'600'000};
  std::chrono::milliseconds max_duration{0};  ///< 0 = unlimited
  std::uint32_t mark = 0;                     ///< SO_MARK on upstream sockets, 0 = none
  /// Absent: each allowed connection is dialled to its destination (a gateway). Present: this
  /// egressd is an agent (see ViaConfig).
  std::optional<ViaConfig> via;
};

/// policy.on_change: what a successful policy reload does to live relayed connections.
enum class PolicyOnChange {
  reevaluate,  ///< decide each again with the new policy; close those it denies (policy_revoked)
  keep,        ///< leave them running under the decision they began with
};

/// The whole gateway config, validated. Paths are absolute (see docs/config.md: relative paths
/// are resolved against the directory of the config file).
struct GatewayConfig {
  std::filesystem::path file;  ///< the config file itself
  unsigned workers = 1;
  std::vector<ListenerConfig> listeners;
  UpstreamConfig upstream;
  DnsConfig dns;
  /// Empty only in an agent's config (upstream.via set, `policy.dir` absent): no local policy,
  /// every connection is forwarded to the gateway.
  std::filesystem::path policy_dir;
  PolicyOnChange policy_on_change = PolicyOnChange::reevaluate;
  audit::Options audit;
  base::Endpoint admin_address;           ///< default 127.0.0.1:9901
  std::uint64_t max_connections = 10000;  ///< global; 0 = unlimited
  /// limits.max_pending: connections accepted and not yet decided (TLS handshake, peek), all
  /// listeners together; 0 = unlimited. See docs/config.md for the default.
  std::uint64_t max_pending = 1024;
  /// limits.per_source: live connections (pending or relayed) from one source; 0 = unlimited.
  std::uint64_t per_source = 0;
  /// limits.per_source_ipv6_prefix: IPv6 sources are counted per prefix of this length.
  unsigned per_source_ipv6_prefix = 128;
  std::chrono::milliseconds drain_timeout{30000};
};

/// A config, or every error found (never both).
struct LoadResult {
  std::optional<GatewayConfig> config;
  std::vector<base::Diagnostic> errors;  ///< "file:line:col: error: key.path: message"
};

/// Reads and validates `file`. Every unknown key and bad value is reported, all at once.
LoadResult load_config(const std::filesystem::path& file);

/// Validates YAML text as if read from `file` (used by load_config and by tests). Relative paths
/// resolve against `file`'s directory.
LoadResult parse_config(std::string_view text, const std::filesystem::path& file);

}  // namespace egress::config
