#include "core/via_tunnel.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <stdexcept>
#include <vector>

#include "base/asio_endpoint.hpp"

namespace egress::core {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using upstream::ConnectResult;

namespace {

constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);

/// Fires at `until` and cancels the socket's pending operations, so the operation it races ends.
asio::awaitable<void> deadline(asio::steady_timer& timer, tcp::socket& socket,
                               Clock::time_point until) {
  timer.expires_at(until);
  auto [ec] = co_await timer.async_wait(kAwait);
  if (ec) co_return;
  boost::system::error_code ignored;
  socket.cancel(ignored);
}

/// Waits for the readiness a TLS call asked for; false when the wait failed.
asio::awaitable<bool> wait_for(tls::TlsSocket& tls, net::IoResult::Status status) {
  auto [ec] = co_await tls.socket().async_wait(
      status == net::IoResult::Status::want_read ? tcp::socket::wait_read : tcp::socket::wait_write,
      kAwait);
  co_return !ec;
}

asio::awaitable<boost::system::error_code> write_all(tls::TlsSocket& tls, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    const auto r =
        tls.write_some(reinterpret_cast<const std::byte*>(data.data()) + done, data.size() - done);
    if (r.status == net::IoResult::Status::done) {
      done += r.bytes;
    } else if (r.status == net::IoResult::Status::error) {
      co_return r.ec;
    } else if (!co_await wait_for(tls, r.status)) {
      co_return asio::error::operation_aborted;
    }
  }
  co_return boost::system::error_code{};
}

}  // namespace

std::string connect_head(const base::Endpoint& dst, std::string_view agent_conn) {
  const std::string authority = dst.to_string();
  return "CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority +
         "\r\nEgressd-Agent-Conn: " + std::string(agent_conn) + "\r\n\r\n";
}

ViaTunnel::ViaTunnel(const config::ViaConfig& via) : address_(via.address) {
  // The loader checked the form: "[v6]:port" or "host:port".
  const auto colon = address_.rfind(':');
  host_ = address_.substr(0, colon);
  if (!host_.empty() && host_.front() == '[') host_ = host_.substr(1, host_.size() - 2);
  port_ = static_cast<std::uint16_t>(std::stoul(address_.substr(colon + 1)));
  ip_ = base::IpAddress::parse(host_);
  options_ = {via.tls.cert, via.tls.key, via.tls.ca, via.tls.server_name};
  auto built = tls::build_client_context(options_);
  if (!built.context) {
    throw std::runtime_error("upstream.via.tls." +
                             (built.error ? built.error->to_string() : std::string("unusable")));
  }
  context_.store(std::move(built.context));
}

std::optional<tls::ContextError> ViaTunnel::reload() {
  std::lock_guard lock(reload_mutex_);
  auto built = tls::build_client_context(options_);
  if (!built.context) return built.error.value_or(tls::ContextError{"", {}, "unusable"});
  context_.store(std::move(built.context));
  return std::nullopt;
}

asio::awaitable<ConnectResult> ViaTunnel::dial(tcp::socket& socket,
                                               std::optional<tls::TlsSocket>& tls,
                                               std::shared_ptr<const tls::ClientContext>& context,
                                               const base::Endpoint& dst,
                                               std::string_view agent_conn,
                                               const upstream::ConnectOptions& options,
                                               asio::steady_timer& timer) const {
  using namespace asio::experimental::awaitable_operators;
  const Clock::time_point until = Clock::now() + options.timeout;
  const std::string gateway = "gateway " + address_;

  std::vector<base::Endpoint> addresses;
  if (ip_) {
    addresses.push_back({*ip_, port_});
  } else {
    // Resolved at each dial: a gateway behind a name may move (a Service, a DNS failover).
    tcp::resolver resolver(socket.get_executor());
    auto result =
        co_await (resolver.async_resolve(host_, std::to_string(port_), kAwait) ||
                      [](asio::steady_timer& t, Clock::time_point u) -> asio::awaitable<void> {
          t.expires_at(u);
          co_await t.async_wait(kAwait);
        }(timer, until));
    if (result.index() == 1) {
      co_return ConnectResult{base::Reason::upstream_timeout,
                              gateway + ": name lookup: no answer within connect_timeout"};
    }
    auto [ec, found] = std::get<0>(std::move(result));
    if (ec) {
      co_return ConnectResult{base::Reason::upstream_unreachable,
                              gateway + ": name lookup: " + ec.message()};
    }
    for (const auto& entry : found) addresses.push_back(base::from_asio(entry.endpoint()));
  }

  ConnectResult connected{base::Reason::upstream_unreachable, gateway + ": no address"};
  for (const auto& address : addresses) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
    if (left.count() <= 0) {
      connected = {base::Reason::upstream_timeout, "no answer within connect_timeout"};
      break;
    }
    const upstream::ConnectOptions attempt{.timeout = left, .mark = options.mark};
    connected = co_await upstream::connect(socket, address, attempt, timer);
    if (connected.ok()) break;
    connected.detail = gateway + " (" + address.to_string() + "): " + connected.detail;
    if (connected.error == base::Reason::upstream_timeout) break;
  }
  if (!connected.ok()) co_return connected;

  tls.reset();
  context = context_.load();
  tls.emplace(socket, context->new_ssl(address_), tls::TlsSocket::Role::client);
  auto shake = co_await (tls->async_handshake() || deadline(timer, socket, until));
  if (shake.index() == 1) {
    co_return ConnectResult{base::Reason::via_error,
                            gateway + ": TLS handshake: no answer within connect_timeout"};
  }
  if (const auto ec = std::get<0>(shake)) {
    co_return ConnectResult{
        base::Reason::via_error,
        gateway + ": TLS handshake: " + tls::client_handshake_error(*tls->native_handle(), ec)};
  }
  timer.cancel();
  if (const auto ec = co_await write_all(*tls, connect_head(dst, agent_conn))) {
    co_return ConnectResult{base::Reason::via_error,
                            gateway + ": writing the CONNECT request: " + ec.message()};
  }
  co_return ConnectResult{};
}

}  // namespace egress::core
