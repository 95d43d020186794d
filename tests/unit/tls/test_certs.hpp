#pragma once

// The dev PKI for the tls tests: $EGRESS_TEST_CERTS (made by the ctest fixture), or, when the
// binary runs by hand, certs/make-dev-certs.sh run once into a temp dir removed at exit.

#include <filesystem>
#include <string>

#include "tls/openssl_ptr.hpp"
#include "tls/options.hpp"

namespace egress::tls::test {

/// The directory holding gateway.pem, payments.pem, ca.crl, ... (see certs/make-dev-certs.sh).
const std::filesystem::path& cert_dir();

/// cert_dir() / name.
std::filesystem::path cert_file(const std::string& name);

/// The first certificate of cert_dir()/name.pem.
X509Ptr load_leaf(const std::string& name);

/// Options of a listener with the dev gateway certificate, ca.pem and (if non-empty) `crl`.
ListenerTlsOptions gateway_options(Mode mode, const std::string& crl = "ca.crl");

/// A fresh temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace egress::tls::test
