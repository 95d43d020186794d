// The engine API is deprecated in OpenSSL 3.0 but still the only switch x509_pubkey_decode
// honours; see ec_key_method.hpp.
#define OPENSSL_SUPPRESS_DEPRECATED

#include "tls/ec_key_method.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/opensslconf.h>
#ifndef OPENSSL_NO_ENGINE
#include <openssl/engine.h>
#endif

namespace egress::tls {
namespace {

#ifndef OPENSSL_NO_ENGINE
constexpr int kEcNids[] = {EVP_PKEY_EC};

// ENGINE_PKEY_METHS_PTR: with pmeth == nullptr, the list of key types; else the method for one.
int ec_pkey_methods(ENGINE*, EVP_PKEY_METHOD** pmeth, const int** nids, int nid) {
  if (pmeth == nullptr) {
    *nids = kEcNids;
    return 1;
  }
  *pmeth =
      nid == EVP_PKEY_EC ? const_cast<EVP_PKEY_METHOD*>(EVP_PKEY_meth_find(EVP_PKEY_EC)) : nullptr;
  return *pmeth != nullptr ? 1 : 0;
}

bool install() noexcept {
  if (EVP_PKEY_meth_find(EVP_PKEY_EC) == nullptr) return false;
  ENGINE* engine = ENGINE_new();
  if (engine == nullptr) return false;
  // ENGINE_add: OpenSSL's engine list holds a reference until its cleanup at exit (the
  // registration table alone does not; freeing our reference without it leaves the table
  // pointing at freed memory).
  const bool ok = ENGINE_set_id(engine, "egressd-builtin-ec") == 1 &&
                  ENGINE_set_name(engine, "OpenSSL's built-in EC key method") == 1 &&
                  ENGINE_set_pkey_meths(engine, ec_pkey_methods) == 1 && ENGINE_add(engine) == 1 &&
                  ENGINE_register_pkey_meths(engine) == 1;
  if (!ok) ENGINE_remove(engine);
  ENGINE_free(engine);
  ERR_clear_error();
  return ok;
}
#else
bool install() noexcept {
  return false;
}
#endif

}  // namespace

bool use_builtin_ec_key_method() noexcept {
  static const bool installed = install();
  return installed;
}

}  // namespace egress::tls
