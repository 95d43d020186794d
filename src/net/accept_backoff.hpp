#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/error_code.hpp>
#include <cerrno>
#include <chrono>

namespace egress::net {

/// Whether a failed accept() ran out of a resource (EMFILE, ENFILE, ENOBUFS, ENOMEM). The
/// connection stays in the listen backlog, so the acceptor is readable again at once: retrying
/// without a pause spins a core (issue 17 item 7: 0.7 CPU for one pending scrape). Other accept
/// errors (ECONNABORTED, EPERM from a firewall hook, ...) consume the connection and are safe to
/// retry at once.
inline bool out_of_resources(const boost::system::error_code& ec) noexcept {
  return ec == boost::asio::error::no_descriptors || ec == boost::asio::error::no_buffer_space ||
         ec == boost::asio::error::no_memory ||
         ec == boost::system::error_code(ENFILE, boost::system::system_category());
}

/// The pause of an accept loop after out_of_resources(): long enough that a loop costs nothing
/// while the limit lasts, short enough that a freed descriptor is used within a blink. The
/// kernel keeps the waiting connections in the backlog meanwhile.
inline constexpr std::chrono::milliseconds kAcceptBackoff{100};

/// One accept loop's pause, shared by the gateway's listeners (core/listener.cpp) and the admin
/// endpoint (admin/admin_server.cpp). Cancelled with the timer (closing the loop's executor's
/// objects ends the wait with operation_aborted).
class AcceptBackoff {
 public:
  template <typename Executor>
  explicit AcceptBackoff(const Executor& ex) : timer_(ex) {}

  /// After a failed accept: when `ec` is out_of_resources(), waits kAcceptBackoff and returns
  /// true; otherwise returns false at once.
  boost::asio::awaitable<bool> pause_if_exhausted(const boost::system::error_code& ec) {
    if (!out_of_resources(ec)) co_return false;
    timer_.expires_after(kAcceptBackoff);
    co_await timer_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    co_return true;
  }

  /// Ends a pause early (e.g. on stop).
  void cancel() noexcept { timer_.cancel(); }

 private:
  boost::asio::steady_timer timer_;
};

}  // namespace egress::net
