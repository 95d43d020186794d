#pragma once

// The egressd agent's way upstream (issue 20, section 2, `upstream.via`): each allowed connection
// is carried to the central gateway in its own mTLS connection, opened with an HTTP/1.1 CONNECT
// to the connection's original destination.

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "base/ip_address.hpp"
#include "config/config.hpp"
#include "tls/client_context.hpp"
#include "tls/tls_socket.hpp"
#include "upstream/connect.hpp"

namespace egress::core {

/// The gateway of `upstream.via` and the agent's client TLS context for it. Shared by every
/// worker (immutable; the context's session cache is thread-safe).
class ViaTunnel {
 public:
  /// Reads the TLS material; throws std::runtime_error naming the key and file when it cannot
  /// (the config loader checked it already; this is a file changed since).
  explicit ViaTunnel(const config::ViaConfig& via);

  /// SIGHUP: reads the same files again and, when they build a context, swaps it in (a new
  /// session cache with it: no session of the old certificate is resumed). On failure the
  /// running context stays and the error says which option and file. Any thread.
  std::optional<tls::ContextError> reload();

  /// "gateway.corp.example:15443", as configured.
  const std::string& address() const noexcept { return address_; }

  /// Dials the gateway for one connection to `dst`: resolves its name (an IP literal as is; a
  /// name with the system's resolver, each address in its order until one connects), connects
  /// `socket` with options.mark and options.timeout, runs the mTLS client handshake in `tls`
  /// (resuming the last session with this gateway) and writes
  /// `CONNECT <dst> HTTP/1.1` / `Host: <dst>` / `Egressd-Agent-Conn: <agent_conn>` (the conn_id
  /// as this agent audits it, "<instance>-<counter>"). The whole dial
  /// ends within options.timeout. Failures: the name lookup → upstream_unreachable; the TCP
  /// connect → upstream_refused / upstream_timeout / upstream_unreachable / upstream_error; the
  /// handshake or the write → via_error; every detail names the gateway. The gateway's answer is
  /// read by the relay (ViaStream), so the workload's bytes follow the head at once.
  /// `context` receives the client context the session was made with: keep it as long as `tls`
  /// (its session cache outlives the SSL's tickets that way).
  boost::asio::awaitable<upstream::ConnectResult> dial(
      boost::asio::ip::tcp::socket& socket, std::optional<tls::TlsSocket>& tls,
      std::shared_ptr<const tls::ClientContext>& context, const base::Endpoint& dst,
      std::string_view agent_conn, const upstream::ConnectOptions& options,
      boost::asio::steady_timer& timer) const;

 private:
  std::string address_;
  std::string host_;  ///< without brackets
  std::uint16_t port_ = 0;
  std::optional<base::IpAddress> ip_;  ///< set when host_ is an IP literal
  tls::ClientTlsOptions options_;
  std::mutex reload_mutex_;
  std::atomic<std::shared_ptr<const tls::ClientContext>> context_;
};

/// `CONNECT <dst> HTTP/1.1\r\nHost: <dst>\r\nEgressd-Agent-Conn: <agent_conn>\r\n\r\n`
/// ("[v6]:port" for IPv6).
std::string connect_head(const base::Endpoint& dst, std::string_view agent_conn);

}  // namespace egress::core
