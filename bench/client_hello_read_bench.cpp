// Reading the SNI of a ClientHello (src/peek): the per-connection CPU the hostname filter adds
// before a TLS connection is decided (issue 19). The ClientHellos are OpenSSL's own, written into
// a memory BIO, grown with ALPN to 2 KiB (a post-quantum key share's size class) and 6 KiB; one
// record as most clients send it, 3 records, and 3 TCP segments read as they arrive (the prefix
// grows, the reader frames only the new bytes).
//
//   build/bench/client_hello_read_bench
//
// The time per iteration is the time per ClientHello.

#include <openssl/ssl.h>

#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "peek/client_hello_reader.hpp"
#include "peek/http_host_reader.hpp"

namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes openssl_client_hello(std::size_t alpn_bytes) {
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()),
                                                        &SSL_CTX_free);
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), &SSL_free);
  SSL_set_tlsext_host_name(ssl.get(), "api.payments.example.com");
  Bytes alpn;
  while (alpn.size() < alpn_bytes) {
    const std::size_t n = std::min<std::size_t>(200, alpn_bytes - alpn.size() - 1);
    if (n == 0) break;
    alpn.push_back(static_cast<std::uint8_t>(n));
    for (std::size_t i = 0; i < n; ++i) alpn.push_back(static_cast<std::uint8_t>('a' + i % 26));
  }
  if (!alpn.empty())
    SSL_set_alpn_protos(ssl.get(), alpn.data(), static_cast<unsigned>(alpn.size()));
  BIO* rbio = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl.get(), rbio, wbio);
  SSL_connect(ssl.get());
  Bytes out(static_cast<std::size_t>(BIO_ctrl_pending(wbio)));
  BIO_read(wbio, out.data(), static_cast<int>(out.size()));
  return out;
}

// A ClientHello of about `size` bytes on the wire, in one record.
Bytes hello_of_size(std::size_t size) {
  const std::size_t base = openssl_client_hello(0).size();
  Bytes b = openssl_client_hello(size - base - 6);  // the ALPN extension's own header and lengths
  if (egress::peek::read_client_hello(b).status != egress::peek::PeekStatus::done)
    throw std::runtime_error("the benchmark's ClientHello does not read");
  return b;
}

// The same handshake message in `count` records.
Bytes reframed(const Bytes& one_record, std::size_t count) {
  const Bytes message(one_record.begin() + 5, one_record.end());
  const std::size_t fragment = (message.size() + count - 1) / count;
  Bytes out;
  for (std::size_t at = 0; at < message.size(); at += fragment) {
    const std::size_t n = std::min(fragment, message.size() - at);
    out.insert(out.end(),
               {22, 3, 1, static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n)});
    out.insert(out.end(), message.begin() + static_cast<std::ptrdiff_t>(at),
               message.begin() + static_cast<std::ptrdiff_t>(at + n));
  }
  return out;
}

void report(benchmark::State& state, const Bytes& b) {
  state.counters["bytes"] = static_cast<double>(b.size());
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * b.size()));
}

void BM_ClientHello_OneRecord(benchmark::State& state) {
  const Bytes b = hello_of_size(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    egress::peek::ClientHelloReader reader;
    benchmark::DoNotOptimize(reader.read(b).sni.data());
  }
  report(state, b);
}
BENCHMARK(BM_ClientHello_OneRecord)->Arg(2048)->Arg(6144);

void BM_ClientHello_ThreeRecords(benchmark::State& state) {
  const Bytes b = reframed(hello_of_size(static_cast<std::size_t>(state.range(0))), 3);
  for (auto _ : state) {
    egress::peek::ClientHelloReader reader;
    benchmark::DoNotOptimize(reader.read(b).sni.data());
  }
  report(state, b);
}
BENCHMARK(BM_ClientHello_ThreeRecords)->Arg(2048)->Arg(6144);

void BM_ClientHello_ThreeSegments(benchmark::State& state) {
  const Bytes b = hello_of_size(static_cast<std::size_t>(state.range(0)));
  const std::span<const std::uint8_t> all(b);
  for (auto _ : state) {
    egress::peek::ClientHelloReader reader;
    reader.read(all.first(1448));
    reader.read(all.first(std::min<std::size_t>(b.size(), 2 * 1448)));
    benchmark::DoNotOptimize(reader.read(all).sni.data());
  }
  report(state, b);
}
BENCHMARK(BM_ClientHello_ThreeSegments)->Arg(2048)->Arg(6144);

void BM_HttpHost_FirstRequest(benchmark::State& state) {
  const std::string head =
      "GET /v1/charges?limit=10 HTTP/1.1\r\nHost: api.payments.example.com\r\n"
      "User-Agent: curl/7.88.1\r\nAccept: */*\r\nAuthorization: Bearer 0123456789abcdef\r\n\r\n";
  for (auto _ : state) {
    egress::peek::HttpHostReader reader;
    benchmark::DoNotOptimize(reader.read(head).host.host.data());
  }
  state.counters["bytes"] = static_cast<double>(head.size());
}
BENCHMARK(BM_HttpHost_FirstRequest);

}  // namespace

BENCHMARK_MAIN();
