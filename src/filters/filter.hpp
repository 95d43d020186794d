#pragma once

// The contract between the session (core) and the steps of a listener's chain. A filter reads and
// attaches facts, may ask for a few things through FilterContext, and returns at most one
// Outcome. It never sees sockets, timers or metrics.

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/identity.hpp"
#include "base/ip_address.hpp"
#include "base/outcome.hpp"
#include "base/reason.hpp"
#include "filters/connection_limits.hpp"
#include "filters/listener_info.hpp"
#include "policy/facts.hpp"
#include "tls/handshake.hpp"

namespace egress::policy {
class Policy;
}

namespace egress::tls {
class ServerContext;
}

namespace egress::filters {

/// Where the name a connection's decision may use came from (the audit's `name_source`).
enum class NameSource : std::uint8_t {
  none,       ///< no name: none was sent, or none came before peek.timeout
  sni,        ///< the server_name of the TLS ClientHello
  http_host,  ///< the Host of the first plaintext HTTP/1.x request
  connect,    ///< the host of a CONNECT request (egressd resolved it: verified by construction)
};

/// The name step's findings: the name as the client sent it, and whether egressd's own DNS
/// answers for it list the destination address.
struct NameFacts {
  std::string host;  ///< as sent (SNI lowercased by the reader); empty: none
  NameSource source = NameSource::none;
  policy::NameVerification verified = policy::NameVerification::not_checked;
  /// The addresses held for the name when it was verified (the audit's `dns_answers`).
  std::vector<base::IpAddress> dns_answers;
  /// Why the name is unresolved, or what the peek saw instead of a name ("timeout after 1000
  /// ms"); empty otherwise.
  std::string detail;
  bool ech = false;  ///< the ClientHello carried encrypted_client_hello (outer SNI decided)
};

/// What a CONNECT request asked for, on a `destination: connect` listener (issue 20). Set by the
/// connect step, which consumes the request head (the upstream never sees it).
struct ConnectFacts {
  /// The authority's host when it is a DNS name (normalised: lowercase, no trailing dot); empty
  /// when it is an IP literal (facts.dst is then that address and port).
  std::string name;
  std::uint16_t port = 0;
  /// The `Egressd-Agent-Conn` field (the agent's conn_id, for joining the two records).
  std::optional<std::string> agent_conn;
  /// A refused request (connect_request_invalid): the status to answer, 400, 405 or 431, and
  /// `detail` its one-line body. 0 otherwise.
  int status = 0;
  std::string detail;
  /// The addresses to dial, in the resolver's order (IPv6 and IPv4 interleaved as it gave them),
  /// each one the policy allowed with this connection's facts: the session dials these and no
  /// other (Happy Eyeballs), never a second lookup. For an IP literal: that one address. Empty
  /// before the decision and on a deny. facts.dst is the first of them.
  std::vector<base::IpAddress> dial;
};

/// Everything known about one connection: what the session learned at accept, what the steps
/// attached, and the decision. Owned by the session's connection; steps get it by reference.
struct Facts {
  Facts(std::uint64_t id, const ListenerInfo& listener) : id(id), listener(listener) {}
  Facts(const Facts&) = delete;
  Facts& operator=(const Facts&) = delete;

  const std::uint64_t id;
  const ListenerInfo& listener;
  base::Endpoint src;  ///< the client (v4-mapped normalised to IPv4)
  /// The real TCP peer when a trusted load balancer's PROXY header named the client (`src` is
  /// then the header's source): the audit's `proxy_src`. Absent without a PROXY header.
  std::optional<base::Endpoint> proxied_by;
  base::Endpoint local;                    ///< the accepted socket's local address
  std::optional<base::Endpoint> dst;       ///< the original destination, once known
  std::optional<base::Identity> identity;  ///< a verified client certificate's identity
  std::string tls_version;                 ///< "TLSv1.3" etc., empty for plain TCP
  /// The TLS handshake's result when one ran: Reason{} when it succeeded, else its deny reason
  /// (the session counts it in egressd_tls_handshakes_total).
  std::optional<base::Reason> tls_handshake;
  /// What the name step found (issue 19); absent when the step did not run (no hostname rule
  /// could match this connection, or the listener has no name step).
  std::optional<NameFacts> name;
  /// What the CONNECT request asked for (destination: connect listeners only).
  std::optional<ConnectFacts> connect;

  /// The connection's limit slots (admission step): given back when the facts are destroyed,
  /// the pending one when the chain has decided.
  ConnectionLimits::Ticket slots;

  /// The policy snapshot that decided (keeps `decision`'s string views alive): taken once, by the
  /// policy step, when it evaluates. Null for a connection denied before that step.
  std::shared_ptr<const policy::Policy> policy;
  /// Set by the policy step.
  std::optional<policy::Decision> decision;
};

/// The result of asking the kernel where a redirected connection was going.
struct OriginalDstResult {
  std::optional<base::Endpoint> destination;
  int error = 0;  ///< errno when destination is empty
};

/// What a peek at the client's first bytes saw. The bytes are not consumed: the upstream receives
/// them all the same.
struct Peeked {
  /// The client's first bytes seen so far (at most the `max` asked for). Valid until the next
  /// peek or the end of the chain.
  std::string_view bytes;
  /// No more bytes will become visible to a peek: the client ended its stream or the connection
  /// failed, or (TLS) the bytes fill the first record, past which SSL_peek does not look.
  bool complete = false;
  /// The deadline passed before more bytes came.
  bool timed_out = false;
};

/// What a filter may ask of the connection besides its facts. Implemented by the session over a
/// real connection, and by fakes in tests.
class FilterContext {
 public:
  /// The kernel's original destination of the client's socket (SO_ORIGINAL_DST, or
  /// IP6T_SO_ORIGINAL_DST for an IPv6 client).
  virtual OriginalDstResult original_dst() = 0;

  /// A server-side TLS handshake over the client's connection with `context`, raced against
  /// `deadline`. After success the connection's bytes are the decrypted stream (peek and relay
  /// read through the TLS session).
  virtual boost::asio::awaitable<tls::HandshakeOutcome> tls_handshake(
      const tls::ServerContext& context, std::chrono::milliseconds deadline) = 0;

  /// Waits until more of the client's first bytes than the last peek returned are visible (or
  /// `max` are, or the stream ended, or `deadline` passed) and returns up to `max` of them,
  /// without consuming them: MSG_PEEK on plain TCP, SSL_peek over TLS.
  virtual boost::asio::awaitable<Peeked> peek(std::size_t max,
                                              std::chrono::milliseconds deadline) = 0;

  /// Reads and drops the first `n` bytes of the client's stream, bytes a peek has shown (so they
  /// are queued and this never waits): a PROXY protocol header, which is the balancer's and not
  /// the client's, or a CONNECT request head, so neither a later step nor the upstream sees it.
  /// After a TLS handshake the bytes are the decrypted stream's (SSL_read of exactly the `n`
  /// bytes SSL_peek showed: the CONNECT head inside the client's mTLS); before it, the socket's.
  /// False when fewer than `n` bytes could be read. Afterwards (n = 0 included) the next peek
  /// does not wait for more than the earlier peeks showed: it returns what is visible from the
  /// new start of the stream.
  virtual bool discard(std::size_t n) = 0;

 protected:
  ~FilterContext() = default;
};

/// One step of a listener's chain (original_dst, admission, loop_guard, tls_identity, name, policy,
/// ...), in the spirit of Envoy's Network::ListenerFilter but as a coroutine. Filter objects
/// belong to one worker (no locking needed) and are shared by all of that worker's connections
/// on a listener.
class ConnectionFilter {
 public:
  virtual ~ConnectionFilter() = default;

  /// Short name for logs ("original_dst").
  virtual std::string_view name() const noexcept = 0;

  /// Looks at (and may attach facts to) a connection. nullopt passes it on to the next step; an
  /// Outcome ends the chain with it (a deny from a guard, allow or deny from the decider). Waiting
  /// (a TLS handshake, a peek) is a co_await on `context`; must not throw for I/O errors.
  virtual boost::asio::awaitable<std::optional<base::Outcome>> on_connection(
      Facts& facts, FilterContext& context) = 0;
};

}  // namespace egress::filters
