#include "tls/verify.hpp"

#include <memory>

namespace egress::tls {
namespace {

void free_name_check(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
  delete static_cast<NameCheck*>(ptr);
}

// SSL ex_data slot for a NameCheck. Asio owns SSL app data (slot 0), so we take our own.
int name_check_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, &free_name_check);
  return index;
}

}  // namespace

int verify_client_certificate(int preverify_ok, X509_STORE_CTX* store) {
  // Depth 0 with preverify_ok = 1 is the last call of a chain OpenSSL accepted.
  if (preverify_ok != 1 || X509_STORE_CTX_get_error_depth(store) != 0) return preverify_ok;
  const X509* leaf = X509_STORE_CTX_get_current_cert(store);
  if (leaf == nullptr) return preverify_ok;
  std::string detail;
  const NameProblem problem = check_names(*leaf, &detail);
  if (problem == NameProblem::none) return 1;

  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  if (ssl != nullptr && name_check_index() >= 0) {
    auto check = std::make_unique<NameCheck>(NameCheck{problem, std::move(detail)});
    delete static_cast<NameCheck*>(SSL_get_ex_data(ssl, name_check_index()));
    if (SSL_set_ex_data(ssl, name_check_index(), check.get()) == 1) check.release();
  }
  X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
  return 0;
}

const NameCheck* recorded_name_check(const SSL& ssl) {
  if (name_check_index() < 0) return nullptr;
  return static_cast<const NameCheck*>(SSL_get_ex_data(&ssl, name_check_index()));
}

}  // namespace egress::tls
