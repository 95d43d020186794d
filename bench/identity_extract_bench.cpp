// Identity extraction from a parsed client certificate: the per-connection cost the tls_identity
// stage adds on top of the handshake (run once per verified connection), and check_names, which
// the verify callback runs on every full handshake.
//
//   build/bench/identity_extract_bench
//
// The certificates are made in memory (ECDSA P-256, shaped like certs/make-dev-certs.sh's
// payments.pem and a certificate with more names), so the benchmark needs no files.

#include <string>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "tls/identity.hpp"
#include "tls/openssl_ptr.hpp"

namespace {

using egress::tls::EvpPkeyPtr;
using egress::tls::GeneralNamesPtr;
using egress::tls::X509Ptr;

void add_name(X509_NAME* name, int nid, const std::string& value) {
  X509_NAME_add_entry_by_NID(name, nid, MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(value.data()),
                             static_cast<int>(value.size()), -1, 0);
}

// A leaf signed by an intermediate-like issuer, with these SANs (type, value) and this CN.
X509Ptr make_leaf(const std::vector<std::pair<int, std::string>>& sans, const std::string& cn) {
  EvpPkeyPtr issuer_key(EVP_EC_gen("P-256"));
  EvpPkeyPtr key(EVP_EC_gen("P-256"));
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), X509_VERSION_3);
  ASN1_INTEGER_set_uint64(X509_get_serialNumber(cert.get()), 0x1a0063d579396087ULL);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 825L * 24 * 3600);
  X509_NAME* subject = X509_get_subject_name(cert.get());
  add_name(subject, NID_organizationName, "corp.example");
  add_name(subject, NID_organizationalUnitName, "payments");
  add_name(subject, NID_commonName, cn);
  X509_NAME* issuer = X509_get_issuer_name(cert.get());
  add_name(issuer, NID_organizationName, "egressd dev");
  add_name(issuer, NID_commonName, "egressd dev intermediate CA");
  GeneralNamesPtr names(sk_GENERAL_NAME_new_null());
  for (const auto& [type, value] : sans) {
    ASN1_IA5STRING* s = ASN1_IA5STRING_new();
    ASN1_STRING_set(s, value.data(), static_cast<int>(value.size()));
    GENERAL_NAME* gn = GENERAL_NAME_new();
    GENERAL_NAME_set0_value(gn, type, s);
    sk_GENERAL_NAME_push(names.get(), gn);
  }
  X509_add1_ext_i2d(cert.get(), NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT);
  X509_set_pubkey(cert.get(), key.get());
  X509_sign(cert.get(), issuer_key.get(), EVP_sha256());
  return cert;
}

X509Ptr payments_like() {
  return make_leaf({{GEN_URI, "spiffe://corp.example/ns/payments/sa/api"}}, "payments-api");
}

X509Ptr many_names() {
  return make_leaf({{GEN_URI, "https://etl.analytics.corp.example/"},
                    {GEN_DNS, "etl.analytics.corp.example"},
                    {GEN_DNS, "etl-0.analytics.svc.cluster.local"},
                    {GEN_DNS, "etl-1.analytics.svc.cluster.local"},
                    {GEN_DNS, "etl-2.analytics.svc.cluster.local"},
                    {GEN_URI, "spiffe://corp.example/ns/analytics/sa/etl"}},
                   "analytics-etl");
}

void BM_ExtractIdentity_OneSpiffeId(benchmark::State& state) {
  X509Ptr cert = payments_like();
  for (auto _ : state) {
    auto result = egress::tls::extract_identity(*cert);
    benchmark::DoNotOptimize(result);
  }
}
BENCHMARK(BM_ExtractIdentity_OneSpiffeId);

void BM_ExtractIdentity_SixSans(benchmark::State& state) {
  X509Ptr cert = many_names();
  for (auto _ : state) {
    auto result = egress::tls::extract_identity(*cert);
    benchmark::DoNotOptimize(result);
  }
}
BENCHMARK(BM_ExtractIdentity_SixSans);

void BM_CheckNames_OneSpiffeId(benchmark::State& state) {
  X509Ptr cert = payments_like();
  for (auto _ : state) {
    benchmark::DoNotOptimize(egress::tls::check_names(*cert));
  }
}
BENCHMARK(BM_CheckNames_OneSpiffeId);

void BM_SpiffeIdSyntax(benchmark::State& state) {
  const std::string id = "spiffe://corp.example/ns/payments/sa/api";
  for (auto _ : state) {
    benchmark::DoNotOptimize(egress::tls::spiffe_id_error(id));
  }
}
BENCHMARK(BM_SpiffeIdSyntax);

}  // namespace

BENCHMARK_MAIN();
