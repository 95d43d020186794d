#include "upstream/happy_eyeballs.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>
#include <string>
#include <vector>

namespace egress::upstream {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

/// One attempt: its own socket and timer, and its result once it has one. Shared by the dialler
/// and the attempt's coroutine, which may outlive the dialler (a cancelled loser finishes later).
struct Attempt {
  explicit Attempt(const asio::any_io_executor& ex, const base::Endpoint& dst)
      : socket(ex), timer(ex), dst(dst) {}
  tcp::socket socket;
  asio::steady_timer timer;
  base::Endpoint dst;
  ConnectOptions options;
  std::optional<ConnectResult> result;
};

/// What the attempts tell the dialler: a count of finished attempts, and a timer whose wait
/// their end cancels.
struct Board {
  explicit Board(const asio::any_io_executor& ex) : wake(ex) {}
  asio::steady_timer wake;
  std::size_t finished = 0;
};

asio::awaitable<void> run_attempt(std::shared_ptr<Attempt> a, std::shared_ptr<Board> board) {
  ConnectResult r = co_await connect(a->socket, a->dst, a->options, a->timer);
  a->result = std::move(r);
  ++board->finished;
  board->wake.cancel();
}

}  // namespace

asio::awaitable<DialResult> dial_in_order(tcp::socket& socket, std::span<const base::Endpoint> dsts,
                                          const ConnectOptions& options,
                                          std::chrono::milliseconds attempt_delay) {
  if (dsts.empty())
    co_return DialResult{{base::Reason::upstream_error, "no address to connect to"}, {}};
  if (dsts.size() == 1) {
    // The common case (an IP literal, a name with one allowed answer): upstream::connect's
    // detail unchanged, no coroutine of its own.
    asio::steady_timer timer(socket.get_executor());
    DialResult out;
    out.result = co_await connect(socket, dsts[0], options, timer);
    if (out.result.ok()) out.connected = dsts[0];
    co_return out;
  }

  const auto ex = socket.get_executor();
  const auto until = Clock::now() + options.timeout;
  auto board = std::make_shared<Board>(ex);
  std::vector<std::shared_ptr<Attempt>> attempts;
  std::size_t seen = 0;  // board->finished at the last look
  std::optional<std::size_t> winner;
  bool timed_out = false;

  auto look = [&] {
    seen = board->finished;
    for (std::size_t i = 0; i < attempts.size(); ++i) {
      if (attempts[i]->result && attempts[i]->result->ok()) {
        winner = i;
        return;
      }
    }
  };

  std::size_t next = 0;                         // the next address to try
  Clock::time_point next_start = Clock::now();  // when, unless every attempt so far failed
  for (;;) {
    if (board->finished != seen) look();
    if (winner) break;
    const bool all_failed = board->finished == attempts.size();
    const auto now = Clock::now();
    if (now >= until) {
      timed_out = true;
      break;
    }
    if (next < dsts.size() && (all_failed || now >= next_start)) {
      auto a = std::make_shared<Attempt>(ex, dsts[next++]);
      a->options = options;
      a->options.timeout = std::chrono::ceil<std::chrono::milliseconds>(until - now);
      attempts.push_back(a);
      asio::co_spawn(ex, run_attempt(std::move(a), board), asio::detached);
      next_start = now + attempt_delay;
      continue;
    }
    if (all_failed) break;  // nothing left to try
    // An attempt's end cancels this wait; so do the next attempt's start and the deadline.
    board->wake.expires_at(next < dsts.size() ? std::min(next_start, until) : until);
    co_await board->wake.async_wait(asio::as_tuple(asio::use_awaitable));
  }

  // Cancel and close every attempt but the winner: their coroutines end with operation_aborted.
  for (std::size_t i = 0; i < attempts.size(); ++i) {
    if (winner && *winner == i) continue;
    boost::system::error_code ignored;
    attempts[i]->timer.cancel();
    attempts[i]->socket.close(ignored);
  }
  if (winner) {
    boost::system::error_code ignored;
    socket.close(ignored);
    socket = std::move(attempts[*winner]->socket);
    co_return DialResult{{}, attempts[*winner]->dst};
  }

  DialResult out;
  std::string detail;
  for (const auto& a : attempts) {
    if (!detail.empty()) detail += "; ";
    detail += a->dst.to_string() + ": ";
    detail += a->result ? a->result->detail : std::string("no answer within connect_timeout");
  }
  if (timed_out) {
    out.result.error = base::Reason::upstream_timeout;
  } else {
    out.result.error = attempts.back()->result->error;
  }
  out.result.detail = std::move(detail);
  co_return out;
}

}  // namespace egress::upstream
