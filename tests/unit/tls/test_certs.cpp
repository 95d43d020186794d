#include "test_certs.hpp"

#include <cstdlib>
#include <memory>
#include <stdexcept>

#include <openssl/pem.h>

namespace egress::tls::test {
namespace {

std::filesystem::path make_temp_dir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "egress-tls-test-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  return tmpl;
}

// Removes the generated PKI at exit, when the tests made it themselves.
struct GeneratedCerts {
  std::filesystem::path dir;
  ~GeneratedCerts() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

std::filesystem::path locate_or_generate() {
  if (const char* dir = std::getenv("EGRESS_TEST_CERTS"); dir != nullptr && *dir != '\0') {
    return dir;
  }
  std::filesystem::path dir = make_temp_dir();
  const std::string cmd =
      std::string("'") + EGRESS_MAKE_DEV_CERTS + "' '" + dir.string() + "' 2>/dev/null";
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("make-dev-certs.sh failed");
  static GeneratedCerts cleanup{dir};
  return dir;
}

}  // namespace

const std::filesystem::path& cert_dir() {
  static const std::filesystem::path dir = locate_or_generate();
  return dir;
}

std::filesystem::path cert_file(const std::string& name) {
  return cert_dir() / name;
}

X509Ptr load_leaf(const std::string& name) {
  const std::filesystem::path file = cert_file(name + ".pem");
  std::unique_ptr<FILE, int (*)(FILE*)> fp(std::fopen(file.c_str(), "r"), &std::fclose);
  if (!fp) throw std::runtime_error("cannot open " + file.string());
  X509Ptr cert(PEM_read_X509(fp.get(), nullptr, nullptr, nullptr));
  if (!cert) throw std::runtime_error("no certificate in " + file.string());
  return cert;
}

ListenerTlsOptions gateway_options(Mode mode, const std::string& crl) {
  ListenerTlsOptions options;
  options.mode = mode;
  options.cert = cert_file("gateway.pem");
  options.key = cert_file("gateway.key");
  options.client_ca = cert_file("ca.pem");
  if (!crl.empty()) options.crl = cert_file(crl);
  return options;
}

TempDir::TempDir() : path_(make_temp_dir()) {}
TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace egress::tls::test
