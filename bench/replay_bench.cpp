// `egressctl policy replay`'s throughput (issue 21: >= 500,000 records/s on one core, chain
// verification included): audit lines as egressd writes them (the real encoder and hash chain,
// connection.decision records with an mTLS identity, a third with the name step's fields, and
// their connection.close), read from a file and decided again with a proposed policy.
#include <benchmark/benchmark.h>
#include <unistd.h>
#include <zlib.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "audit/chain.hpp"
#include "audit/encoder.hpp"
#include "audit/line_reader.hpp"
#include "audit/record_reader.hpp"
#include "ctl/replay.hpp"
#include "policy/loader.hpp"

namespace {

using namespace egress;
using namespace egress::audit;

constexpr Origin kOrigin{"egress-gw-01.prod", "3f9c0a7e5b21d864"};
constexpr int kConnections = 100'000;  // 200,000 records: a decision and a close each

Record decision(int i, Clock::time_point ts) {
  ConnectionDecision d;
  d.conn_id = static_cast<std::uint64_t>(i);
  d.listener = "outbound";
  d.src = base::Endpoint{*base::IpAddress::parse("192.0.2." + std::to_string(2 + i % 200)),
                         static_cast<std::uint16_t>(40000 + i % 20000)};
  d.dst = base::Endpoint{*base::IpAddress::parse("203.0.113." + std::to_string(i % 100)), 443};
  base::Identity id;
  id.spiffe_id = "spiffe://corp.example/ns/team" + std::to_string(i % 50) + "/sa/api";
  id.uri_sans = {id.spiffe_id};
  id.dns_sans = {"api.team" + std::to_string(i % 50) + ".svc.cluster.local"};
  id.common_name = "api";
  id.fingerprint_sha256 = "8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4";
  id.issuer = "CN=Corp Issuing CA,O=Corp";
  id.serial = "0a1b2c3d4e5f";
  id.not_after = "2027-01-01T00:00:00Z";
  d.identity = id;
  d.tls_version = "TLSv1.3";
  NameFields n;
  n.host = "api" + std::to_string(i % 10) + ".partner.example";
  n.source = NameSource::sni;
  n.verified = NameVerified::match;
  n.dns_answers = {d.dst->address};
  d.name = n;
  d.decision = i % 7 == 0 ? "deny" : "allow";
  d.reason = i % 7 == 0 ? "default" : "rule";
  if (i % 7 != 0) {
    d.rule = "team" + std::to_string(i % 50);
    d.rule_file = "20-rules.yaml:12";
  }
  d.policy_version = "5d41402abc4b2a76b9719d911017c592ae5b7a2e1f0f4ad2b7b3c6a1f0e9d8c7";
  return Record{ts, d};
}

Record close(int i, Clock::time_point ts) {
  ConnectionClose c;
  c.conn_id = static_cast<std::uint64_t>(i);
  c.listener = "outbound";
  c.src = *base::Endpoint::parse("192.0.2.2:40000");
  c.dst = *base::Endpoint::parse("203.0.113.10:443");
  c.bytes_up = 1234;
  c.bytes_down = 56789;
  c.duration = std::chrono::microseconds(1500);
  c.closed_by = "client";
  c.reason = "eof";
  return Record{ts, c};
}

// The log, written once per process: what the writer thread would have written.
const std::string& log_path(bool gz) {
  static const auto dir = [] {
    auto d = std::filesystem::temp_directory_path() /
             ("egress-replay-bench-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(std::filesystem::temp_directory_path() /
                                      ("egress-replay-bench-" + std::to_string(::getpid())),
                                  ec);
    });
    std::string text;
    LineHasher hasher;
    std::string prev(kGenesisHash);
    std::uint64_t seq = 0;
    std::string line;
    const auto start = Clock::now() - std::chrono::hours(24 * 7);
    for (int i = 0; i < kConnections; ++i) {
      const auto ts = start + std::chrono::milliseconds(i * 6);
      for (const Record& r : {decision(i, ts), close(i, ts + std::chrono::milliseconds(3))}) {
        line.clear();
        encode_record(r, ChainFields{++seq, prev, 0}, kOrigin, line);
        prev = hasher.hex(line);
        text += line;
        text += '\n';
      }
    }
    std::ofstream(d / "audit.jsonl", std::ios::binary) << text;
    gzFile f = gzopen((d / "audit.jsonl.1.gz").c_str(), "wb");
    gzwrite(f, text.data(), static_cast<unsigned>(text.size()));
    gzclose(f);
    return d;
  }();
  static const std::string plain = (dir / "audit.jsonl").string();
  static const std::string compressed = (dir / "audit.jsonl.1.gz").string();
  return gz ? compressed : plain;
}

// 50 team rules by identity and CIDR (one removed), and a hostname rule: the proposal reviewed.
std::shared_ptr<const policy::Policy> proposed() {
  std::string text = "kind: Settings\ndefault: deny\n";
  for (int t = 1; t < 50; ++t) {
    text += "---\nkind: Rule\nid: team" + std::to_string(t) +
            "\naction: allow\nfrom: [{identity: \"spiffe://corp.example/ns/team" +
            std::to_string(t) + "/sa/*\"}]\nto: [{cidrs: [203.0.113.0/24], ports: [443]}]\n";
  }
  text +=
      "---\nkind: Rule\nid: partner\naction: allow\nfrom: [{source: 192.0.2.0/24}]\n"
      "to: [{hosts: [\"*.partner.example\"], ports: [443]}]\n";
  auto r = policy::load_policy_sources({{"p.yaml", text}});
  if (!r.errors.empty()) std::abort();
  return r.policy;
}

void run(benchmark::State& state, bool gz) {
  const auto& path = log_path(gz);
  const auto p = proposed();
  ctl::ReplayInput input;
  input.files = {path};
  std::uint64_t records = 0;
  for (auto _ : state) {
    const auto report = ctl::replay(input, *p, nullptr);
    if (!report.error.empty() || report.totals.decisions != kConnections) {
      state.SkipWithError(report.error.empty() ? "wrong count" : report.error.c_str());
      return;
    }
    records += report.totals.records;
    benchmark::DoNotOptimize(report.totals.tighten);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(records));
  state.counters["records_per_s"] =
      benchmark::Counter(static_cast<double>(records), benchmark::Counter::kIsRate);
}

// Verified, re-decided, grouped: the whole of `policy replay` but the printing.
void BM_Replay(benchmark::State& state) {
  run(state, false);
}
BENCHMARK(BM_Replay)->Unit(benchmark::kMillisecond);

// The parts: reading lines alone, and reading + parsing + verifying the chain (no decisions).
void BM_ReadLines(benchmark::State& state) {
  std::uint64_t records = 0;
  for (auto _ : state) {
    LineReader r({log_path(false)});
    for (std::string_view line; r.next(line);) ++records;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(records));
}
BENCHMARK(BM_ReadLines)->Unit(benchmark::kMillisecond);

void BM_ReadAndVerify(benchmark::State& state) {
  std::uint64_t records = 0;
  for (auto _ : state) {
    RecordReader r({log_path(false)}, true);
    while (r.next() != nullptr) ++records;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(records));
}
BENCHMARK(BM_ReadAndVerify)->Unit(benchmark::kMillisecond);

// The same from a logrotate'd .gz file.
void BM_ReplayGzip(benchmark::State& state) {
  run(state, true);
}
BENCHMARK(BM_ReplayGzip)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
