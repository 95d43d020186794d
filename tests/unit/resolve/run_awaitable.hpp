#pragma once

// Runs a coroutine on an io_context until it completes (the tests' event loop).

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <exception>
#include <optional>
#include <stdexcept>

namespace egress::resolve::test {

template <typename T>
T run_awaitable(boost::asio::io_context& io, boost::asio::awaitable<T> a) {
  std::optional<T> result;
  std::exception_ptr error;
  boost::asio::co_spawn(io, std::move(a), [&](std::exception_ptr e, T value) {
    error = e;
    result = std::move(value);
  });
  io.restart();
  while (!result && !error) {
    if (io.run_one() == 0) break;
  }
  if (error) std::rethrow_exception(error);
  if (!result) throw std::logic_error("run_awaitable: the event loop ran dry before the coroutine");
  return std::move(*result);
}

}  // namespace egress::resolve::test
