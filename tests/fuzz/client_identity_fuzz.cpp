// libFuzzer target for identity extraction: the input is a DER certificate (a seed corpus of real
// ones is made by tests/fuzz/README.md's commands). Whatever OpenSSL accepts as an X509,
// extract_identity and check_names agree on the problem and do not crash; spiffe_id_error is also
// run on the raw bytes as a URI. Build and run: tests/fuzz/README.md.
#include <openssl/x509.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tls/identity.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace egress::tls;
  (void)spiffe_id_error(std::string_view(reinterpret_cast<const char*>(data), size));

  const unsigned char* p = data;
  X509* cert = d2i_X509(nullptr, &p, static_cast<long>(size));
  if (cert == nullptr) return 0;
  const IdentityResult id = extract_identity(*cert);
  std::string detail;
  const NameProblem names = check_names(*cert, &detail);
  if (names != id.problem) __builtin_trap();
  if (!id.ok() && (id.detail.empty() || detail.empty())) __builtin_trap();
  if (id.ok() && !id.identity.spiffe_id.empty() &&
      !spiffe_id_error(id.identity.spiffe_id).empty()) {
    __builtin_trap();
  }
  X509_free(cert);
  return 0;
}
