// NameVerifier::verify on a cache hit (issue 19: the name costs a connection little; target well
// under 1 us), awaited from a coroutine as a connection's filter does: one hot name, and names
// drawn at random from 10,000 held (each with 4 addresses, the destination the last of them).
#include <benchmark/benchmark.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <random>
#include <string>
#include <vector>

#include "resolve/name_verifier.hpp"

namespace {

using namespace egress;
namespace asio = boost::asio;

// Answers every name with four addresses, 198.51.100.1-4 (posted, as the resolver does).
class FixedLookup : public resolve::NameLookup {
 public:
  explicit FixedLookup(asio::io_context& io) : io_(io) {}
  void lookup(const std::string&, Callback done) override {
    resolve::Answer a{resolve::Answer::Status::ok, {}, {}};
    for (std::uint32_t i = 1; i <= 4; ++i) {
      a.records.push_back({base::IpAddress::v4(0xC6336400u + i), std::chrono::seconds(300)});
    }
    asio::post(io_, [done = std::move(done), a]() mutable { done(std::move(a)); });
  }

 private:
  asio::io_context& io_;
};

void run_verifies(benchmark::State& state, std::size_t names) {
  asio::io_context io;
  FixedLookup lookup(io);
  resolve::NameVerifier verifier(lookup, {});
  std::vector<std::string> held;
  for (std::size_t i = 0; i < names; ++i) {
    held.push_back("service-" + std::to_string(i) + ".api.example.com");
  }
  const auto destination = base::IpAddress::v4(0xC6336404u);
  std::vector<std::size_t> order(4096);
  std::mt19937 rng(42);
  for (auto& o : order) o = rng() % names;

  auto body = [&]() -> asio::awaitable<void> {
    for (auto& name : held) co_await verifier.verify(name, destination);  // fill the cache
    std::size_t i = 0;
    std::size_t matches = 0;
    for (auto _ : state) {
      auto v = co_await verifier.verify(held[order[i++ & 4095]], destination);
      matches += v.verdict == resolve::Verdict::match;
      benchmark::DoNotOptimize(v);
    }
    if (matches != static_cast<std::size_t>(state.iterations())) state.SkipWithError("a miss");
    if (verifier.lookups() != names) state.SkipWithError("a lookup during the timed loop");
  };
  asio::co_spawn(io, body(), asio::detached);
  io.run();
}

void BM_verify_cache_hit_one_name(benchmark::State& state) {
  run_verifies(state, 1);
}
void BM_verify_cache_hit_10000_names(benchmark::State& state) {
  run_verifies(state, 10000);
}

}  // namespace

BENCHMARK(BM_verify_cache_hit_one_name);
BENCHMARK(BM_verify_cache_hit_10000_names);
BENCHMARK_MAIN();
