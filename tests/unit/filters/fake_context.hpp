#pragma once

// A FilterContext the test controls: it answers original_dst(), tls_handshake() and peek() with
// what the test put in, and remembers what was asked.

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "filters/filter.hpp"

namespace egress::filters::testing {

class FakeContext final : public FilterContext {
 public:
  OriginalDstResult dst_answer;
  int original_dst_calls = 0;

  tls::HandshakeOutcome handshake_answer;
  int handshakes = 0;
  const tls::ServerContext* handshake_context = nullptr;
  std::chrono::milliseconds handshake_deadline{0};
  std::string bytes_at_handshake;  ///< client_bytes when the handshake began

  std::string client_bytes;  ///< what peek() shows (up to max)
  bool client_done = false;  ///< the client sent everything it will
  /// Bytes the client sends later: each peek() first appends the next one to client_bytes (one
  /// segment per wait, as a real peek returns once more bytes are visible).
  std::deque<std::string> arrivals;
  /// Whether a wait with nothing new to show ends in the deadline (false: in the client's end).
  bool wait_times_out = true;
  int peeks = 0;
  std::chrono::milliseconds first_peek_deadline{0};
  std::size_t peek_max = 0;
  std::vector<std::size_t> discards;  ///< each discard(n) asked for
  /// Whether discard() works after a TLS handshake (the CONNECT head read inside mTLS, issue 20).
  bool discard_over_tls = false;

  OriginalDstResult original_dst() override {
    ++original_dst_calls;
    return dst_answer;
  }
  boost::asio::awaitable<tls::HandshakeOutcome> tls_handshake(
      const tls::ServerContext& context, std::chrono::milliseconds deadline) override {
    ++handshakes;
    bytes_at_handshake = client_bytes;
    handshake_context = &context;
    handshake_deadline = deadline;
    co_return handshake_answer;
  }
  boost::asio::awaitable<Peeked> peek(std::size_t max,
                                      std::chrono::milliseconds deadline) override {
    if (peeks++ == 0) first_peek_deadline = deadline;
    peek_max = max;
    if (!arrivals.empty()) {
      client_bytes += arrivals.front();
      arrivals.pop_front();
    }
    Peeked p;
    p.bytes = std::string_view(client_bytes).substr(0, max);
    p.complete = client_done && arrivals.empty();
    // A real peek waits for more than it showed last time; with nothing more to come, the wait
    // ends in the deadline (or the client's end).
    if (!p.complete && p.bytes.size() == shown_ && p.bytes.size() < max) {
      p.timed_out = wait_times_out;
      p.complete = !wait_times_out;
    }
    shown_ = p.bytes.size();
    co_return p;
  }
  /// Drops the first n bytes of client_bytes (false when fewer are there, or after a handshake
  /// unless discard_over_tls).
  bool discard(std::size_t n) override {
    discards.push_back(n);
    shown_ = 0;  // as the real one: the next peek shows the (new) start at once
    if ((handshakes > 0 && !discard_over_tls) || n > client_bytes.size()) return false;
    client_bytes.erase(0, n);
    return true;
  }

 private:
  std::size_t shown_ = 0;
};

/// Runs one step (or anything awaitable) to completion on `io`, the context a FakeLookup posts its
/// answers on.
template <class T>
T run_on(boost::asio::io_context& io, boost::asio::awaitable<T> a) {
  auto f = boost::asio::co_spawn(io, std::move(a), boost::asio::use_future);
  io.restart();
  io.run();
  return f.get();
}

/// Runs one step (or anything awaitable) to completion on a fresh io_context.
template <class T>
T run(boost::asio::awaitable<T> a) {
  boost::asio::io_context io;
  auto f = boost::asio::co_spawn(io, std::move(a), boost::asio::use_future);
  io.run();
  return f.get();
}

}  // namespace egress::filters::testing
