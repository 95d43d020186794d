#include "tls/material.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "tls/openssl_error.hpp"

namespace egress::tls {
namespace {

// Corporate CRLs and CA bundles can be a few MiB; anything far larger is a wrong path.
constexpr off_t kMaxFileBytes = 64L * 1024 * 1024;

struct FileCloser {
  int fd;
  ~FileCloser() {
    if (fd >= 0) ::close(fd);
  }
};

// Reads a regular file whole. `must_be_private`: refuse group/other read permission, checked on
// the descriptor that is read (no window between the check and the read).
bool read_file(const std::filesystem::path& file, std::string& out, std::string& error,
               bool must_be_private = false) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    error = std::strerror(errno);
    return false;
  }
  FileCloser closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    error = std::strerror(errno);
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    error = "not a regular file";
    return false;
  }
  if (st.st_size > kMaxFileBytes) {
    error = "larger than 64 MiB";
    return false;
  }
  if (must_be_private && (st.st_mode & (S_IRGRP | S_IROTH)) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    error = std::string("private key is readable by group or others (mode ") + mode +
            "); chmod 600 it, or set allow_insecure_key_permissions";
    return false;
  }
  out.resize(static_cast<std::size_t>(st.st_size));
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::read(fd, out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = std::strerror(errno);
      return false;
    }
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  out.resize(done);
  return true;
}

BioPtr memory_bio(const std::string& data) {
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

// PEM_read_bio_* ends a clean file with PEM_R_NO_START_LINE; anything else is a broken block.
bool at_clean_end() {
  const unsigned long err = ERR_peek_last_error();
  if (ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE) {
    ERR_clear_error();
    return true;
  }
  return false;
}

int no_passphrase(char*, int, int, void*) {
  return -1;
}

bool parse_crls(const std::string& pem, std::vector<X509CrlPtr>& out, std::string& error) {
  BioPtr bio = memory_bio(pem);
  const std::size_t before = out.size();
  while (X509_CRL* crl = PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr)) {
    out.emplace_back(crl);
  }
  if (!at_clean_end()) {
    error = "invalid PEM CRL: " + take_openssl_errors();
    return false;
  }
  if (out.size() == before) {
    error = "no CRL in file";
    return false;
  }
  return true;
}

}  // namespace

std::optional<std::vector<X509Ptr>> load_certificates(const std::filesystem::path& file,
                                                      std::string& error) {
  std::string pem;
  if (!read_file(file, pem, error)) return std::nullopt;
  BioPtr bio = memory_bio(pem);
  ERR_clear_error();
  std::vector<X509Ptr> certs;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    certs.emplace_back(cert);
  }
  if (!at_clean_end()) {
    error = "invalid PEM certificate: " + take_openssl_errors();
    return std::nullopt;
  }
  if (certs.empty()) {
    error = "no certificate in file";
    return std::nullopt;
  }
  return certs;
}

std::optional<EvpPkeyPtr> load_private_key(const std::filesystem::path& file,
                                           bool allow_insecure_permissions, std::string& error) {
  std::string pem;
  if (!read_file(file, pem, error, !allow_insecure_permissions)) return std::nullopt;
  ERR_clear_error();
  EvpPkeyPtr key;
  {
    BioPtr bio = memory_bio(pem);
    key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
  }
  OPENSSL_cleanse(pem.data(), pem.size());
  if (!key) {
    const unsigned long err = ERR_peek_last_error();
    if (ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE) {
      ERR_clear_error();
      error = "no private key in file";
    } else if (ERR_GET_REASON(err) == PEM_R_BAD_PASSWORD_READ ||
               ERR_GET_REASON(err) == PEM_R_PROBLEMS_GETTING_PASSWORD) {
      ERR_clear_error();
      error = "encrypted private keys are not supported (no passphrase source)";
    } else {
      error = "invalid private key: " + take_openssl_errors();
    }
    return std::nullopt;
  }
  return key;
}

std::optional<std::vector<X509CrlPtr>> load_crls(const std::filesystem::path& file_or_dir,
                                                 std::string& error) {
  std::error_code ec;
  std::vector<X509CrlPtr> crls;
  ERR_clear_error();
  if (!std::filesystem::is_directory(file_or_dir, ec)) {
    std::string pem;
    if (!read_file(file_or_dir, pem, error) || !parse_crls(pem, crls, error)) return std::nullopt;
    return crls;
  }
  std::vector<std::filesystem::path> files;
  for (std::filesystem::directory_iterator it(file_or_dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.empty() || name.front() == '.') continue;
    if (it->is_regular_file(ec)) files.push_back(it->path());
  }
  if (ec) {
    error = ec.message();
    return std::nullopt;
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    error = "directory holds no CRL file";
    return std::nullopt;
  }
  for (const auto& file : files) {
    std::string pem;
    if (!read_file(file, pem, error) || !parse_crls(pem, crls, error)) {
      error = file.filename().string() + ": " + error;
      return std::nullopt;
    }
  }
  return crls;
}

}  // namespace egress::tls
