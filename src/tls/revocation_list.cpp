#include "tls/revocation_list.hpp"

#include <memory>
#include <utility>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "tls/x509_text.hpp"

namespace egress::tls {

namespace {

struct BnFree {
  void operator()(BIGNUM* p) const noexcept { BN_free(p); }
};
struct Asn1IntegerFree {
  void operator()(ASN1_INTEGER* p) const noexcept { ASN1_INTEGER_free(p); }
};

/// Identity::serial back to an ASN1_INTEGER: the whole string must be hex (BN_hex2bn reads a
/// leading '-' and stops at the first other character).
std::unique_ptr<ASN1_INTEGER, Asn1IntegerFree> parse_serial(std::string_view hex) {
  const std::string text(hex);
  BIGNUM* raw = nullptr;
  const int used = BN_hex2bn(&raw, text.c_str());
  std::unique_ptr<BIGNUM, BnFree> bn(raw);
  if (!bn || used <= 0 || static_cast<std::size_t>(used) != text.size()) return nullptr;
  return std::unique_ptr<ASN1_INTEGER, Asn1IntegerFree>(BN_to_ASN1_INTEGER(bn.get(), nullptr));
}

}  // namespace

RevocationList::RevocationList(std::vector<X509CrlPtr> crls) {
  crls_.reserve(crls.size());
  for (auto& crl : crls) {
    std::string issuer = name_to_rfc2253(X509_CRL_get_issuer(crl.get()));
    crls_.push_back(Crl{std::move(issuer), std::move(crl)});
  }
}

std::optional<RevokedEntry> RevocationList::find(std::string_view issuer,
                                                 std::string_view serial) const {
  if (serial.empty() || crls_.empty()) return std::nullopt;
  std::unique_ptr<ASN1_INTEGER, Asn1IntegerFree> number;
  for (const Crl& c : crls_) {
    if (c.issuer != issuer) continue;
    if (!number) {
      number = parse_serial(serial);
      if (!number) {
        ERR_clear_error();
        return std::nullopt;
      }
    }
    X509_REVOKED* entry = nullptr;
    // 1: listed; 2: listed with reason removeFromCRL (a delta CRL's un-revocation); 0: not listed.
    if (X509_CRL_get0_by_serial(c.crl.get(), &entry, number.get()) == 1 && entry != nullptr) {
      return RevokedEntry{time_to_rfc3339(X509_REVOKED_get0_revocationDate(entry))};
    }
  }
  ERR_clear_error();
  return std::nullopt;
}

}  // namespace egress::tls
