#include "tls/verify.hpp"

#include <memory>
#include <utility>

#include "tls/identity.hpp"
#include "tls/svid_rules.hpp"
#include "tls/x509_text.hpp"

namespace egress::tls {
namespace {

void free_cert_check(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
  delete static_cast<CertCheck*>(ptr);
}

// SSL ex_data slot for a CertCheck. Asio owns SSL app data (slot 0), so we take our own.
int cert_check_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, &free_cert_check);
  return index;
}

void record(X509_STORE_CTX* store, Rejection kind, std::string detail) {
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  if (ssl == nullptr || cert_check_index() < 0) return;
  auto check = std::make_unique<CertCheck>(CertCheck{kind, std::move(detail)});
  delete static_cast<CertCheck*>(SSL_get_ex_data(ssl, cert_check_index()));
  if (SSL_set_ex_data(ssl, cert_check_index(), check.get()) == 1) check.release();
}

int reject(X509_STORE_CTX* store, Rejection kind, std::string detail) {
  record(store, kind, std::move(detail));
  X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
  return 0;
}

// OpenSSL says only "unable to get certificate CRL"; with crl_check (leaf or chain) the fix is
// to supply one particular CA's CRL, so name it.
std::string missing_crl_detail(X509_STORE_CTX* store, const X509& cert, int depth) {
  const unsigned long flags = X509_VERIFY_PARAM_get_flags(X509_STORE_CTX_get0_param(store));
  const bool chain = (flags & X509_V_FLAG_CRL_CHECK_ALL) != 0;
  return std::string(X509_verify_cert_error_string(X509_V_ERR_UNABLE_TO_GET_CRL)) +
         ": no CRL from \"" + name_to_rfc2253(X509_get_issuer_name(&cert)) +
         "\" (the issuer of \"" + name_to_rfc2253(X509_get_subject_name(&cert)) + "\", depth " +
         std::to_string(depth) + "); " +
         (chain ? "crl_check: chain needs the CRL of every CA in the chain"
                : "crl_check: leaf needs the CRL of the client certificate's issuer");
}

}  // namespace

int verify_client_certificate(int preverify_ok, X509_STORE_CTX* store) {
  // A CRL issuer's own path (indirect CRLs) is verified with this callback too: not a client
  // chain, so only OpenSSL's verdict applies.
  if (X509_STORE_CTX_get0_parent_ctx(store) != nullptr) return preverify_ok;
  const int depth = X509_STORE_CTX_get_error_depth(store);
  const X509* cert = X509_STORE_CTX_get_current_cert(store);
  if (cert == nullptr) return preverify_ok;
  if (preverify_ok != 1) {
    if (X509_STORE_CTX_get_error(store) == X509_V_ERR_UNABLE_TO_GET_CRL) {
      record(store, Rejection::certificate, missing_crl_detail(store, *cert, depth));
    }
    return preverify_ok;
  }
  // OpenSSL calls back once per certificate of a chain it accepted, from the root down to the
  // leaf (depth 0).
  if (depth > 0) {
    if (std::string why = signing_cert_error(*cert); !why.empty()) {
      return reject(store, Rejection::svid,
                    "certificate at depth " + std::to_string(depth) + " (\"" +
                        name_to_rfc2253(X509_get_subject_name(cert)) + "\"): " + why);
    }
    return 1;
  }
  if (std::string why = leaf_usage_error(*cert); !why.empty()) {
    return reject(store, Rejection::certificate, std::move(why));
  }
  std::string detail;
  const NameProblem problem = check_names(*cert, &detail);
  if (problem == NameProblem::none) return 1;
  return reject(store,
                problem == NameProblem::malformed_name ? Rejection::certificate : Rejection::svid,
                std::move(detail));
}

const CertCheck* recorded_cert_check(const SSL& ssl) {
  if (cert_check_index() < 0) return nullptr;
  return static_cast<const CertCheck*>(SSL_get_ex_data(&ssl, cert_check_index()));
}

}  // namespace egress::tls
