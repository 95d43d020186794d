#pragma once

// Certificates made for the tests, signed by the dev PKI's CAs (or by each other), for shapes
// the dev PKI does not (and should not) ship: CA certificates used as leaves, workload
// certificates that sign, SVIDs with an extra URI SAN. Made by the `openssl` command line, as
// certs/make-dev-certs.sh does, not in-process: once ec_key_method_test has registered
// egressd's EC engine in the test process, OpenSSL can no longer sign with EC keys there.

#include <filesystem>
#include <string>
#include <vector>

#include "tls/openssl_ptr.hpp"

namespace egress::tls::test {

/// A certificate and where it and its private key are.
struct KeyedCert {
  X509Ptr cert;
  std::filesystem::path cert_file;  ///< PEM, this certificate only
  std::filesystem::path key_file;
};

/// A dev PKI CA with its key: "ca-root" or "ca-intermediate".
KeyedCert dev_ca(const std::string& base);

/// What to put in a minted certificate. Extensions use `openssl x509 -extfile` syntax; an empty
/// string leaves that extension out.
struct CertSpec {
  std::string cn = "minted";
  std::string san;  ///< e.g. "URI:spiffe://corp.example/ns/a/sa/b, DNS:a.example"
  std::string basic_constraints = "critical,CA:FALSE";
  std::string key_usage = "critical,digitalSignature";
  std::string ext_key_usage = "clientAuth";
};

/// A certificate valid for a day, signed by `issuer`, for the private key of dev PKI file
/// `key`.key; written into `dir` (under a unique name). Give the certificates of one chain
/// different keys. Throws std::runtime_error when openssl fails.
KeyedCert mint(const std::filesystem::path& dir, const CertSpec& spec, const KeyedCert& issuer,
               const std::string& key = "payments");

/// Writes dir/name.pem (`leaf` then `chain`, as a client sends them) and dir/name.key (0600),
/// the layout handshake_harness's ClientSpec with `dir` set reads.
void write_client(const std::filesystem::path& dir, const std::string& name, const KeyedCert& leaf,
                  const std::vector<const KeyedCert*>& chain);

/// The PEM blocks of a file, each with its BEGIN and END lines (to split ca.crl into the
/// intermediate's and the root's CRL).
std::vector<std::string> pem_blocks(const std::filesystem::path& file);

}  // namespace egress::tls::test
