#include "tls/openssl_error.hpp"

#include <openssl/err.h>

namespace egress::tls {

std::string take_openssl_errors(const char* fallback) {
  std::string out;
  const char* data = nullptr;
  int flags = 0;
  while (unsigned long code = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags)) {
    if (!out.empty()) out += "; ";
    if (const char* reason = ERR_reason_error_string(code)) {
      out += reason;
    } else {
      char buf[256];
      ERR_error_string_n(code, buf, sizeof buf);
      out += buf;
    }
    // Extra text OpenSSL attached (e.g. "Expecting: CERTIFICATE"), never key material.
    if ((flags & ERR_TXT_STRING) != 0 && data != nullptr && *data != '\0') {
      out += " (";
      out += data;
      out += ')';
    }
  }
  return out.empty() ? std::string(fallback) : out;
}

}  // namespace egress::tls
