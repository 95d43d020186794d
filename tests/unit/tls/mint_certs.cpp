#include "mint_certs.hpp"

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include <openssl/pem.h>

#include "test_certs.hpp"

namespace egress::tls::test {
namespace {

namespace fs = std::filesystem;

void require(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error("mint_certs: " + what);
}

std::string read_all(const fs::path& file) {
  std::ifstream in(file);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string quoted(const fs::path& p) {
  std::string s(1, '\'');
  s.append(p.string()).append(1, '\'');
  return s;
}

}  // namespace

KeyedCert dev_ca(const std::string& base) {
  return KeyedCert{load_leaf(base), cert_file(base + ".pem"), cert_file(base + ".key")};
}

KeyedCert mint(const fs::path& dir, const CertSpec& spec, const KeyedCert& issuer,
               const std::string& key) {
  static int counter = 0;
  const std::string base = "minted-" + std::to_string(++counter);
  const fs::path ext = dir / (base + ".cnf");
  {
    std::ofstream out(ext);
    out << "[ e ]\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n";
    if (!spec.basic_constraints.empty())
      out << "basicConstraints = " << spec.basic_constraints << "\n";
    if (!spec.key_usage.empty()) out << "keyUsage = " << spec.key_usage << "\n";
    if (!spec.ext_key_usage.empty()) out << "extendedKeyUsage = " << spec.ext_key_usage << "\n";
    if (!spec.san.empty()) out << "subjectAltName = " << spec.san << "\n";
  }
  KeyedCert out;
  out.cert_file = dir / (base + ".pem");
  out.key_file = cert_file(key + ".key");
  const std::string cmd =
      "openssl req -new -key " + quoted(out.key_file) + " -subj '/CN=" + spec.cn +
      "' 2>/dev/null | openssl x509 -req -days 1 -set_serial " + std::to_string(0x5000 + counter) +
      " -CA " + quoted(issuer.cert_file) + " -CAkey " + quoted(issuer.key_file) + " -extfile " +
      quoted(ext) + " -extensions e -out " + quoted(out.cert_file) + " 2>/dev/null";
  require(std::system(cmd.c_str()) == 0, "openssl failed: " + cmd);
  BioPtr bio(BIO_new_file(out.cert_file.c_str(), "r"));
  require(bio != nullptr, "cannot read " + out.cert_file.string());
  out.cert.reset(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  require(out.cert != nullptr, "no certificate in " + out.cert_file.string());
  return out;
}

void write_client(const fs::path& dir, const std::string& name, const KeyedCert& leaf,
                  const std::vector<const KeyedCert*>& chain) {
  {
    std::ofstream pem(dir / (name + ".pem"));
    pem << read_all(leaf.cert_file);
    for (const KeyedCert* c : chain) pem << read_all(c->cert_file);
  }
  const fs::path key = dir / (name + ".key");
  fs::copy_file(leaf.key_file, key, fs::copy_options::overwrite_existing);
  fs::permissions(key, fs::perms::owner_read | fs::perms::owner_write);
}

std::vector<std::string> pem_blocks(const fs::path& file) {
  const std::string all = read_all(file);
  std::vector<std::string> out;
  std::size_t pos = 0;
  while ((pos = all.find("-----BEGIN ", pos)) != std::string::npos) {
    const std::size_t end_line = all.find("-----END ", pos);
    if (end_line == std::string::npos) break;
    const std::size_t end = all.find('\n', end_line);
    out.push_back(all.substr(pos, end == std::string::npos ? std::string::npos : end + 1 - pos));
    pos = end == std::string::npos ? all.size() : end + 1;
  }
  return out;
}

}  // namespace egress::tls::test
