#pragma once

// A FilterContext the test controls: it answers original_dst(), tls_handshake() and peek() with
// what the test put in, and remembers what was asked.

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <optional>
#include <string>

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

  std::string client_bytes;  ///< what peek() shows (up to max)
  bool client_done = false;  ///< the client sent everything it will

  OriginalDstResult original_dst() override {
    ++original_dst_calls;
    return dst_answer;
  }
  boost::asio::awaitable<tls::HandshakeOutcome> tls_handshake(
      const tls::ServerContext& context, std::chrono::milliseconds deadline) override {
    ++handshakes;
    handshake_context = &context;
    handshake_deadline = deadline;
    co_return handshake_answer;
  }
  boost::asio::awaitable<Peeked> peek(std::size_t max, std::chrono::milliseconds) override {
    Peeked p;
    p.bytes = std::string_view(client_bytes).substr(0, max);
    p.complete = client_done;
    co_return p;
  }
};

/// Runs one step (or anything awaitable) to completion on a fresh io_context.
template <class T>
T run(boost::asio::awaitable<T> a) {
  boost::asio::io_context io;
  auto f = boost::asio::co_spawn(io, std::move(a), boost::asio::use_future);
  io.run();
  return f.get();
}

}  // namespace egress::filters::testing
