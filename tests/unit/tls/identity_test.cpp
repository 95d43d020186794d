#include "tls/identity.hpp"

#include <cstdio>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "test_certs.hpp"

namespace egress::tls {
namespace {

using test::load_leaf;
using Strings = std::vector<std::string>;

// `openssl x509 -noout <flag>` on a dev certificate, "key=value" → lowercase value without ':'.
std::string openssl_cli_field(const std::string& name, const std::string& flag) {
  const std::string cmd =
      "openssl x509 -in '" + test::cert_file(name + ".pem").string() + "' -noout " + flag;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(cmd.c_str(), "r"), &::pclose);
  if (!pipe) return {};
  char buf[512] = {};
  if (std::fgets(buf, sizeof buf, pipe.get()) == nullptr) return {};
  std::string line(buf);
  std::string out;
  for (char c : line.substr(line.find('=') + 1)) {
    if (c == ':' || c == '\n') continue;
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

struct DevCertCase {
  std::string name;
  std::string spiffe_id;
  Strings uri_sans;
  Strings dns_sans;
  std::string common_name;
  std::string issuer;
  NameProblem problem = NameProblem::none;
};

// Test names show the certificate, not the struct's bytes.
void PrintTo(const DevCertCase& c, std::ostream* os) {
  *os << c.name;
}

const std::string kIntermediate = "CN=egressd dev intermediate CA,O=egressd dev";

class DevCertIdentity : public ::testing::TestWithParam<DevCertCase> {};

TEST_P(DevCertIdentity, ExtractsEveryName) {
  const DevCertCase& c = GetParam();
  X509Ptr cert = load_leaf(c.name);
  const IdentityResult r = extract_identity(*cert);
  EXPECT_EQ(r.problem, c.problem) << r.detail;
  if (c.problem == NameProblem::none) {
    EXPECT_EQ(r.identity.spiffe_id, c.spiffe_id);
  }
  EXPECT_EQ(r.identity.uri_sans, c.uri_sans);
  EXPECT_EQ(r.identity.dns_sans, c.dns_sans);
  EXPECT_EQ(r.identity.common_name, c.common_name);
  EXPECT_EQ(r.identity.issuer, c.issuer);
  // Cross-checked against the openssl CLI, not against our own code.
  EXPECT_EQ(r.identity.fingerprint_sha256, openssl_cli_field(c.name, "-fingerprint -sha256"));
  EXPECT_EQ(r.identity.serial, openssl_cli_field(c.name, "-serial"));
  EXPECT_EQ(r.identity.fingerprint_sha256.size(), 64u);
  EXPECT_TRUE(r.identity.present());
}

INSTANTIATE_TEST_SUITE_P(
    DevPki, DevCertIdentity,
    ::testing::Values(
        DevCertCase{"payments",
                    "spiffe://corp.example/ns/payments/sa/api",
                    {"spiffe://corp.example/ns/payments/sa/api"},
                    {},
                    "payments-api",
                    kIntermediate},
        // The SPIFFE ID comes after a DNS SAN: order must not matter.
        DevCertCase{"analytics",
                    "spiffe://corp.example/ns/analytics/sa/etl",
                    {"spiffe://corp.example/ns/analytics/sa/etl"},
                    {"etl.analytics.corp.example"},
                    "analytics-etl",
                    kIntermediate},
        DevCertCase{"dns-only",
                    "",
                    {},
                    {"legacy.corp.example", "batch.corp.example"},
                    "legacy-batch",
                    kIntermediate},
        DevCertCase{"revoked",
                    "spiffe://corp.example/ns/payments/sa/revoked",
                    {"spiffe://corp.example/ns/payments/sa/revoked"},
                    {},
                    "payments-revoked",
                    kIntermediate},
        DevCertCase{"expired",
                    "spiffe://corp.example/ns/payments/sa/expired",
                    {"spiffe://corp.example/ns/payments/sa/expired"},
                    {},
                    "payments-expired",
                    kIntermediate},
        DevCertCase{"unrelated",
                    "spiffe://corp.example/ns/payments/sa/api",
                    {"spiffe://corp.example/ns/payments/sa/api"},
                    {},
                    "payments-api",
                    "CN=unrelated CA,O=somebody else"},
        DevCertCase{"two-spiffe",
                    "",
                    {"spiffe://corp.example/ns/payments/sa/api",
                     "spiffe://corp.example/ns/analytics/sa/etl"},
                    {},
                    "two-spiffe",
                    kIntermediate,
                    NameProblem::multiple_spiffe_ids},
        DevCertCase{
            "gateway", "", {}, {"egressd.local", "localhost"}, "egressd.local", kIntermediate}),
    [](const auto& info) {
      std::string name = info.param.name;
      for (char& c : name) {
        if (c == '-') c = '_';
      }
      return name;
    });

TEST(Identity, NotAfterIsRfc3339Utc) {
  EXPECT_EQ(extract_identity(*load_leaf("expired")).identity.not_after, "2020-01-02T00:00:00Z");
}

TEST(Identity, TwoSpiffeIdsIsInvalidSvidWithDetail) {
  const IdentityResult r = extract_identity(*load_leaf("two-spiffe"));
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.problem, NameProblem::multiple_spiffe_ids);
  EXPECT_EQ(r.detail, "2 spiffe:// URI SANs; an X.509-SVID has exactly one");
  EXPECT_TRUE(r.identity.spiffe_id.empty());
  EXPECT_EQ(to_string(r.problem), "multiple_spiffe_ids");
}

// --- certificates built in memory, for names the dev PKI does not (and should not) have ---

struct San {
  int type;  // GEN_URI or GEN_DNS
  std::string value;
};

X509Ptr make_cert(const std::vector<San>& sans, const Strings& common_names) {
  EvpPkeyPtr key(EVP_EC_gen("P-256"));
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 0x1234);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_NAME* name = X509_get_subject_name(cert.get());
  for (const auto& cn : common_names) {
    X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(cn.data()),
                               static_cast<int>(cn.size()), -1, 0);
  }
  X509_set_issuer_name(cert.get(), name);
  if (!sans.empty()) {
    GeneralNamesPtr names(sk_GENERAL_NAME_new_null());
    for (const auto& san : sans) {
      ASN1_IA5STRING* s = ASN1_IA5STRING_new();
      ASN1_STRING_set(s, san.value.data(), static_cast<int>(san.value.size()));
      GENERAL_NAME* gn = GENERAL_NAME_new();
      GENERAL_NAME_set0_value(gn, san.type, s);
      sk_GENERAL_NAME_push(names.get(), gn);
    }
    X509_add1_ext_i2d(cert.get(), NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT);
  }
  X509_set_pubkey(cert.get(), key.get());
  X509_sign(cert.get(), key.get(), EVP_sha256());
  return cert;
}

TEST(Identity, SpiffeIdFoundWhereverItIsAmongTheSans) {
  const std::string id = "spiffe://corp.example/ns/payments/sa/api";
  const std::vector<std::vector<San>> orders = {
      {{GEN_URI, id}, {GEN_DNS, "a.example"}, {GEN_DNS, "b.example"}},
      {{GEN_DNS, "a.example"}, {GEN_URI, id}, {GEN_DNS, "b.example"}},
      {{GEN_DNS, "a.example"}, {GEN_DNS, "b.example"}, {GEN_URI, id}},
  };
  for (const auto& sans : orders) {
    const IdentityResult r = extract_identity(*make_cert(sans, {}));
    ASSERT_TRUE(r.ok()) << r.detail;
    EXPECT_EQ(r.identity.spiffe_id, id);
    EXPECT_EQ(r.identity.dns_sans, (Strings{"a.example", "b.example"}));
    EXPECT_EQ(r.identity.uri_sans, Strings{id});
  }
}

// X.509-SVID §2 and §5.2: an SVID has exactly one URI SAN; another one beside the SPIFFE ID, in
// any position, rejects it. Without a SPIFFE ID, any number of URI SANs is fine.
TEST(Identity, ASpiffeIdBesideAnotherUriSanIsInvalid) {
  const std::string id = "spiffe://corp.example/ns/payments/sa/api";
  for (const auto& sans : std::vector<std::vector<San>>{
           {{GEN_URI, id}, {GEN_URI, "https://x.example/"}},
           {{GEN_URI, "https://x.example/"}, {GEN_DNS, "a.example"}, {GEN_URI, id}},
       }) {
    const IdentityResult r = extract_identity(*make_cert(sans, {}));
    EXPECT_EQ(r.problem, NameProblem::multiple_uri_sans);
    EXPECT_EQ(r.detail,
              "2 URI SANs, one of them a SPIFFE ID; an X.509-SVID has exactly one URI SAN");
    EXPECT_TRUE(r.identity.spiffe_id.empty());
    EXPECT_EQ(r.identity.uri_sans.size(), 2u);  // still shown in the audit record
  }
  EXPECT_EQ(to_string(NameProblem::multiple_uri_sans), "multiple_uri_sans");
  const IdentityResult no_spiffe = extract_identity(
      *make_cert({{GEN_URI, "https://x.example/"}, {GEN_URI, "urn:corp:batch"}}, {}));
  EXPECT_TRUE(no_spiffe.ok()) << no_spiffe.detail;
}

TEST(Identity, ATrustDomainIdIsNotALeafsId) {
  const IdentityResult r = extract_identity(*make_cert({{GEN_URI, "spiffe://corp.example"}}, {}));
  EXPECT_EQ(r.problem, NameProblem::spiffe_id_without_path);
  EXPECT_EQ(r.detail,
            "SPIFFE ID without a path; an X.509-SVID leaf's ID has one (a trust domain's ID is a "
            "signing certificate's)");
  EXPECT_TRUE(r.identity.spiffe_id.empty());
  EXPECT_EQ(to_string(NameProblem::spiffe_id_without_path), "spiffe_id_without_path");
}

TEST(Identity, UppercaseSchemeStillCountsAsASecondSpiffeId) {
  const IdentityResult r = extract_identity(*make_cert(
      {{GEN_URI, "spiffe://corp.example/ns/a/sa/b"}, {GEN_URI, "SPIFFE://corp.example/ns/c/sa/d"}},
      {}));
  EXPECT_EQ(r.problem, NameProblem::multiple_spiffe_ids);
}

TEST(Identity, MalformedSpiffeIdIsInvalid) {
  const IdentityResult r =
      extract_identity(*make_cert({{GEN_URI, "spiffe://Corp.Example/ns/a"}}, {}));
  EXPECT_EQ(r.problem, NameProblem::malformed_spiffe_id);
  EXPECT_EQ(r.detail, "invalid SPIFFE ID: trust domain has a character outside [a-z0-9._-]");
  EXPECT_TRUE(r.identity.spiffe_id.empty());
}

TEST(Identity, EmbeddedNulInDnsSanIsMalformed) {
  const IdentityResult r =
      extract_identity(*make_cert({{GEN_DNS, std::string("good.example\0.evil.example", 26)}}, {}));
  EXPECT_EQ(r.problem, NameProblem::malformed_name);
  EXPECT_EQ(check_names(*make_cert({{GEN_DNS, std::string("a\nb", 3)}}, {})),
            NameProblem::malformed_name);
}

TEST(Identity, LastOfSeveralCommonNamesAndNoSans) {
  const IdentityResult r = extract_identity(*make_cert({}, {"first", "second"}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.identity.common_name, "second");
  EXPECT_TRUE(r.identity.uri_sans.empty());
  EXPECT_TRUE(r.identity.dns_sans.empty());
  EXPECT_EQ(r.identity.serial, "1234");
}

TEST(Identity, Utf8CommonNameKept) {
  const IdentityResult r = extract_identity(*make_cert({}, {"zürich-batch"}));
  EXPECT_EQ(r.identity.common_name, "zürich-batch");
}

TEST(SpiffeId, Syntax) {
  struct Case {
    const char* uri;
    const char* error;  // "" = valid
  };
  const Case cases[] = {
      {"spiffe://corp.example/ns/payments/sa/api", ""},
      {"spiffe://corp.example", ""},
      {"spiffe://a_b-c.d9/P.a-t_h/X", ""},
      {"spiffe://", "empty trust domain"},
      {"spiffe:///ns/a", "empty trust domain"},
      {"SPIFFE://corp.example/a", "scheme is not \"spiffe://\" (lowercase)"},
      {"spiffe:corp.example/a", "scheme is not \"spiffe://\" (lowercase)"},
      {"spiffe://corp.example:443/a", "trust domain has a character outside [a-z0-9._-]"},
      {"spiffe://user@corp.example/a", "trust domain has a character outside [a-z0-9._-]"},
      {"spiffe://corp.example/", "empty path segment"},
      {"spiffe://corp.example/a//b", "empty path segment"},
      {"spiffe://corp.example/a/", "empty path segment"},
      {"spiffe://corp.example/a/../b", "path segment \".\" or \"..\""},
      {"spiffe://corp.example/./b", "path segment \".\" or \"..\""},
      {"spiffe://corp.example/a?x=1", "path has a character outside [a-zA-Z0-9._-]"},
      {"spiffe://corp.example/a#f", "path has a character outside [a-zA-Z0-9._-]"},
      {"spiffe://corp.example/a%20b", "path has a character outside [a-zA-Z0-9._-]"},
  };
  for (const auto& c : cases) EXPECT_EQ(spiffe_id_error(c.uri), c.error) << c.uri;
  EXPECT_EQ(spiffe_id_error("spiffe://t/" + std::string(2040, 'a')), "longer than 2048 bytes");
}

}  // namespace
}  // namespace egress::tls
