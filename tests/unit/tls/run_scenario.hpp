#pragma once

// Runs one test scenario, a coroutine, on an io_context until it ends.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <exception>
#include <functional>

namespace egress::test {

/// Runs `scenario` on `io` and returns whether it finished; an exception that escaped it is
/// rethrown. The 60 s bound is a safety net against a hang, not a timing assertion:
///   ASSERT_TRUE(run_scenario(io, scenario)) << "the scenario hung";
inline bool run_scenario(boost::asio::io_context& io,
                         const std::function<boost::asio::awaitable<void>()>& scenario) {
  bool finished = false;
  std::exception_ptr failure;
  boost::asio::co_spawn(io, scenario(), [&](std::exception_ptr e) {
    finished = true;
    failure = e;
  });
  io.run_for(std::chrono::seconds(60));
  if (finished && failure) std::rethrow_exception(failure);
  return finished;
}

}  // namespace egress::test
