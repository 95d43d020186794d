// The encoder writes into the writer's reused line buffer without allocating (it runs once per
// record on the writer thread; bench/audit_encode_bench.cpp measures it). The name step's fields
// must not change that for the records that do not have them, nor for IPv4 answers.
#include <gtest/gtest.h>

#include <cstdlib>
#include <new>

#include "audit/chain.hpp"
#include "audit/encoder.hpp"

namespace {
thread_local std::size_t allocations = 0;
}  // namespace

// Counts every allocation of this thread; the test binary's other tests are unaffected.
void* operator new(std::size_t size) {
  ++allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

namespace egress::audit {
namespace {

constexpr Origin kOrigin{"egress-gw-01.prod", "3f9c0a7e5b21d864"};

ConnectionDecision typical_decision() {
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
  d.policy_version = "5d41402abc4b2a76b9719d911017c592ae5b7a2e1f0f4ad2b7b3c6a1f0e9d8c7";
  return d;
}

std::size_t allocations_to_encode(const Record& r) {
  std::string line;
  line.reserve(4096);
  const std::size_t before = allocations;
  encode_record(r, ChainFields{1, kGenesisHash, 0}, kOrigin, line);
  const std::size_t n = allocations - before;
  EXPECT_GT(line.size(), 200u);
  return n;
}

TEST(EncoderAllocations, ADecisionWithoutNameFieldsAllocatesNothing) {
  EXPECT_EQ(allocations_to_encode(Record{Clock::now(), typical_decision()}), 0u);
}

TEST(EncoderAllocations, NameFieldsWithIpv4AnswersAllocateNothing) {
  ConnectionDecision d = typical_decision();
  NameFields n;
  n.host = "api.stripe.com";
  n.source = NameSource::sni;
  n.verified = NameVerified::match;
  n.dns_answers = {*base::IpAddress::parse("203.0.113.10"),
                   *base::IpAddress::parse("203.0.113.11")};
  n.ech = true;
  d.name = n;
  EXPECT_EQ(allocations_to_encode(Record{Clock::now(), d}), 0u);
}

// The counter works: without reserve() the line grows, and that is counted.
TEST(EncoderAllocations, TheCounterSeesAGrowingLine) {
  std::string line;
  const std::size_t before = allocations;
  encode_record(Record{Clock::now(), typical_decision()}, ChainFields{1, kGenesisHash, 0}, kOrigin,
                line);
  EXPECT_GT(allocations - before, 0u);
}

}  // namespace
}  // namespace egress::audit
