// Audit record cost off the hot path (encoding + hash chain, on the writer thread) and on it
// (AuditLog::submit, the only part a connection pays).
#include <benchmark/benchmark.h>

#include <array>

#include "audit/audit_log.hpp"
#include "audit/chain.hpp"
#include "audit/encoder.hpp"

namespace {

using namespace egress;
using namespace egress::audit;

/// Who writes: a host name and a run id of realistic lengths.
constexpr Origin kOrigin{"egress-gw-01.prod", "3f9c0a7e5b21d864"};

Record typical_decision() {
  ConnectionDecision d;
  d.conn_id = 123456789;
  d.listener = "outbound";
  d.src = *base::Endpoint::parse("192.0.2.2:51234");
  d.dst = *base::Endpoint::parse("203.0.113.10:443");
  base::Identity id;
  id.spiffe_id = "spiffe://corp.example/ns/payments/sa/api";
  id.uri_sans = {id.spiffe_id};
  id.dns_sans = {"api.payments.svc.cluster.local"};
  id.common_name = "api";
  id.fingerprint_sha256 = "8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4";
  id.issuer = "CN=Corp Issuing CA,O=Corp";
  id.serial = "0a1b2c3d4e5f";
  id.not_after = "2027-01-01T00:00:00Z";
  d.identity = id;
  d.tls_version = "TLSv1.3";
  d.decision = "allow";
  d.reason = "rule";
  d.rule = "payments-to-card-networks";
  d.rule_file = "20-rules.yaml:12";
  d.policy_version = "sha256:5d41402abc4b2a76b9719d911017c592";
  return Record{Clock::now(), d};
}

void BM_AuditEncode(benchmark::State& state) {
  const Record r = typical_decision();
  std::string line;
  line.reserve(1024);
  std::uint64_t seq = 1;
  for (auto _ : state) {
    line.clear();
    encode_record(r, ChainFields{seq++, kGenesisHash, 0}, kOrigin, line);
    benchmark::DoNotOptimize(line.data());
  }
  state.counters["bytes_per_record"] = static_cast<double>(line.size());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AuditEncode);

// What the writer thread does per record: encode, then SHA-256 of the line for the next prev.
void BM_AuditEncodeAndHash(benchmark::State& state) {
  const Record r = typical_decision();
  LineHasher hasher;
  std::array<char, 64> prev{};
  prev.fill('0');
  std::string line;
  line.reserve(1024);
  std::uint64_t seq = 1;
  for (auto _ : state) {
    line.clear();
    encode_record(r, ChainFields{seq++, std::string_view(prev.data(), prev.size()), 0}, kOrigin,
                  line);
    hasher.hex(line, prev);
    benchmark::DoNotOptimize(prev.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AuditEncodeAndHash);

// What a connection pays: submit() into the bounded queue (the writer drains to /dev/null).
// Includes copying the record (about ten strings); the data path moves its record instead.
void BM_AuditSubmit(benchmark::State& state) {
  Options o;
  o.path = "/dev/null";
  o.queue_capacity = 1 << 16;
  auto log = open_audit_log(o);
  const Record r = typical_decision();
  for (auto _ : state) {
    log->submit(r);
  }
  log->close();
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AuditSubmit)->UseRealTime();

// The queue alone: a small record whose copy costs little (the data path moves its records in).
void BM_AuditSubmitSmallRecord(benchmark::State& state) {
  Options o;
  o.path = "/dev/null";
  o.queue_capacity = 1 << 16;
  auto log = open_audit_log(o);
  GatewayStop stop;
  stop.reason = "signal";
  const Record r{Clock::now(), stop};
  for (auto _ : state) {
    log->submit(r);
  }
  log->close();
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AuditSubmitSmallRecord)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
