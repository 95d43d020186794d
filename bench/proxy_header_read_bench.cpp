// Reading a PROXY protocol header (src/peek): the per-connection CPU a listener behind a load
// balancer adds before anything else (issue 20, section 3). The headers are HAProxy 2.6's, as
// captured for the unit tests: v2 over TLS with every TLV and a CRC32C (155 bytes), v2 TCP over
// IPv6 (52 bytes), v1 TCP4; and the v1 line read as it arrives one byte at a time (the reader is
// pure, so each call reads the prefix again: the worst case a slow sender can cause).
//
//   build/bench/proxy_header_read_bench
//
// The time per iteration is the time per header.

#include <cstdint>
#include <stdexcept>
#include <string_view>
#include <vector>

#include <benchmark/benchmark.h>

#include "peek/proxy_header.hpp"

namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes hex(std::string_view text) {
  Bytes out;
  for (std::size_t i = 0; i + 1 < text.size(); i += 2) {
    const auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
    out.push_back(static_cast<std::uint8_t>(nibble(text[i]) * 16 + nibble(text[i + 1])));
  }
  return out;
}

const Bytes& checked(const Bytes& b) {
  if (egress::peek::read_proxy_header(b).status != egress::peek::PeekStatus::done)
    throw std::runtime_error("the benchmark's header does not read");
  return b;
}

const Bytes kV2Tls =
    checked(hex("0d0a0d0a000d0a515549540a2111008b7f0000017f000001936842690300047e"
                "83a16802000f6170692e6578616d706c652e636f6d05000f3132372e302e302e"
                "313a33373733362000510700000000210007544c5376312e3322000a776f726b"
                "6c6f61642d61250005454332353624001165636473612d776974682d53484132"
                "3536230016544c535f4145535f3235365f47434d5f534841333834"));
const Bytes kV2Tcp6 =
    checked(hex("0d0a0d0a000d0a515549540a2121002400000000000000000000000000000001"
                "00000000000000000000000000000001ba32426a"));
const Bytes kV1Tcp4 =
    checked(hex("50524f58592054435034203132372e302e302e31203132372e302e302e312033"
                "343535382031373030330d0a"));

void read_whole(benchmark::State& state, const Bytes& header) {
  for (auto _ : state) {
    auto r = egress::peek::read_proxy_header(header);
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * header.size()));
}

void BM_ProxyV2TlsTlvsCrc(benchmark::State& state) {
  read_whole(state, kV2Tls);
}
void BM_ProxyV2Tcp6(benchmark::State& state) {
  read_whole(state, kV2Tcp6);
}
void BM_ProxyV1Tcp4(benchmark::State& state) {
  read_whole(state, kV1Tcp4);
}

void BM_ProxyV1Tcp4ByteAtATime(benchmark::State& state) {
  const std::span<const std::uint8_t> line(kV1Tcp4);
  for (auto _ : state) {
    for (std::size_t n = 1; n <= line.size(); ++n) {
      auto r = egress::peek::read_proxy_header(line.first(n));
      benchmark::DoNotOptimize(r);
    }
  }
}

BENCHMARK(BM_ProxyV2TlsTlvsCrc);
BENCHMARK(BM_ProxyV2Tcp6);
BENCHMARK(BM_ProxyV1Tcp4);
BENCHMARK(BM_ProxyV1Tcp4ByteAtATime);

}  // namespace

BENCHMARK_MAIN();
