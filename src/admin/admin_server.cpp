#include "admin/admin_server.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <set>
#include <system_error>

#include "admin/routes.hpp"
#include "base/asio_endpoint.hpp"
#include "net/accept_backoff.hpp"
#include "net/log_throttle.hpp"

namespace egress::admin {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// Shared by the server object and its coroutines, so a coroutine that outlives stop() (it is
// still unwinding on the io_context) never touches freed memory.
struct State {
  State(asio::io_context& io, Handlers h, Limits l)
      : acceptor(io), backoff(io.get_executor()), handlers(std::move(h)), limits(l) {}

  tcp::acceptor acceptor;
  net::AcceptBackoff backoff;
  Handlers handlers;
  Limits limits;
  base::Endpoint local;
  std::set<tcp::socket*> sessions;  // io_context thread only
  bool stopped = false;             // io_context thread only
  // Set by stop() on the caller's thread at once, so that no handler is called after stop()
  // returns even while stop_now() is still queued for the io_context.
  std::atomic<bool> stop_requested{false};

  void stop_now() {
    if (stopped) return;
    stopped = true;
    boost::system::error_code ec;
    acceptor.close(ec);
    backoff.cancel();
    for (auto* s : sessions) s->close(ec);
  }
};

http::response<http::string_body> error_response(http::status status, unsigned version,
                                                 std::string_view text) {
  http::response<http::string_body> res{status, version};
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  res.set(http::field::connection, "close");
  res.body() = std::string(text) + "\n";
  res.keep_alive(false);
  res.prepare_payload();
  return res;
}

asio::awaitable<void> session(std::shared_ptr<State> impl, tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  tcp::socket* registered = &stream.socket();
  impl->sessions.insert(registered);
  struct Unregister {
    State* impl;
    tcp::socket* s;
    ~Unregister() { impl->sessions.erase(s); }
  } unregister{impl.get(), registered};

  beast::flat_buffer buffer(impl->limits.max_header_bytes + impl->limits.max_body_bytes);
  for (unsigned n = 0; n < impl->limits.max_requests_per_connection; ++n) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(impl->limits.max_header_bytes));
    parser.body_limit(impl->limits.max_body_bytes);
    stream.expires_after(impl->limits.read_timeout);
    auto [rec, bytes] = co_await http::async_read(stream, buffer, parser, use_tuple);
    (void)bytes;
    if (rec) {
      std::optional<http::response<http::string_body>> res;
      if (rec == http::error::header_limit || rec == http::error::buffer_overflow) {
        res = error_response(http::status::request_header_fields_too_large, 11,
                             "request header too large");
      } else if (rec == http::error::body_limit) {
        res = error_response(http::status::payload_too_large, 11, "request body too large");
      } else if (rec.category() == http::make_error_code(http::error::bad_target).category() &&
                 rec != http::error::end_of_stream && rec != http::error::partial_message) {
        res = error_response(http::status::bad_request, 11, "malformed request");
      }
      if (res) {
        stream.expires_after(impl->limits.read_timeout);
        co_await http::async_write(stream, *res, use_tuple);
      }
      break;  // timeout, EOF, reset, or an error answered above: close
    }
    const auto& req = parser.get();
    if (impl->stop_requested.load()) break;
    Response r = route(impl->handlers, req.method_string(), req.target());
    http::response<http::string_body> res{static_cast<http::status>(r.status), req.version()};
    res.set(http::field::server, "egressd");
    res.set(http::field::content_type, r.content_type);
    res.set(http::field::cache_control, "no-store");
    if (!r.allow.empty()) res.set(http::field::allow, r.allow);
    res.keep_alive(req.keep_alive());
    res.body() = std::move(r.body);
    res.prepare_payload();
    stream.expires_after(impl->limits.read_timeout);
    boost::system::error_code wec;
    if (req.method() == http::verb::head) {
      http::response<http::empty_body> head{res.result(), res.version()};
      head.base() = res.base();
      http::response_serializer<http::empty_body> sr{head};
      sr.split(true);
      std::tie(wec, std::ignore) = co_await http::async_write_header(stream, sr, use_tuple);
    } else {
      std::tie(wec, std::ignore) = co_await http::async_write(stream, res, use_tuple);
    }
    if (wec || !res.keep_alive()) break;
  }
  boost::system::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream.socket().close(ec);
}

asio::awaitable<void> accept_loop(std::shared_ptr<State> impl) {
  static net::LogThrottle throttle;
  for (;;) {
    auto [ec, socket] = co_await impl->acceptor.async_accept(use_tuple);
    if (impl->stopped) co_return;
    if (ec) {
      if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor) co_return;
      // EMFILE and friends: keep serving what is open, and pause before the next try, as the
      // gateway's listeners do: the connection stays in the backlog, so an immediate retry fails
      // the same way, forever (issue 17 item 7).
      if (const auto held = throttle.admit()) {
        spdlog::warn("admin: accept: {}{}{}", ec.message(),
                     net::out_of_resources(ec) ? " (backing off)" : "", net::suppressed(*held));
      }
      co_await impl->backoff.pause_if_exhausted(ec);
      continue;
    }
    if (impl->sessions.size() >= impl->limits.max_connections) {
      boost::system::error_code ignored;
      socket.close(ignored);
      continue;
    }
    asio::co_spawn(impl->acceptor.get_executor(), session(impl, std::move(socket)),
                   [](std::exception_ptr e) {
                     if (!e) return;
                     static net::LogThrottle throttle;
                     try {
                       std::rethrow_exception(e);
                     } catch (const std::exception& ex) {
                       if (const auto held = throttle.admit()) {
                         spdlog::error("admin: session ended by exception: {}{}", ex.what(),
                                       net::suppressed(*held));
                       }
                     }
                   });
  }
}

}  // namespace

struct AdminServer::Impl {
  std::shared_ptr<State> state;
};

AdminServer::AdminServer(asio::io_context& io, const base::Endpoint& address, Handlers handlers)
    : AdminServer(io, address, std::move(handlers), Limits{}) {}

AdminServer::AdminServer(asio::io_context& io, const base::Endpoint& address, Handlers handlers,
                         Limits limits)
    : impl_(
          std::make_unique<Impl>(Impl{std::make_shared<State>(io, std::move(handlers), limits)})) {
  auto& state = impl_->state;
  const auto ep = base::to_asio(address);
  boost::system::error_code ec;
  const auto fail = [&](const char* what) {
    throw std::system_error(ec, std::string("admin: cannot ") + what + " " + address.to_string());
  };
  state->acceptor.open(ep.protocol(), ec);
  if (ec) fail("open a socket for");
  state->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (address.address.is_v6()) state->acceptor.set_option(asio::ip::v6_only(false), ec);
  state->acceptor.bind(ep, ec);
  if (ec) fail("bind");
  state->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) fail("listen on");
  const auto local = state->acceptor.local_endpoint(ec);
  if (ec) fail("read the address of");
  state->local = *base::Endpoint::from_sockaddr(local.data());
  asio::co_spawn(io, accept_loop(state), asio::detached);
}

AdminServer::~AdminServer() {
  stop();
}

base::Endpoint AdminServer::local_endpoint() const {
  return impl_->state->local;
}

void AdminServer::stop() {
  impl_->state->stop_requested.store(true);
  asio::dispatch(impl_->state->acceptor.get_executor(),
                 [state = impl_->state] { state->stop_now(); });
}

}  // namespace egress::admin
