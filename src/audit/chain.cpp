#include "audit/chain.hpp"

#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

namespace egress::audit {

struct LineHasher::Impl {
  EVP_MD* md = nullptr;
  EVP_MD_CTX* ctx = nullptr;
};

LineHasher::LineHasher() : impl_(new Impl) {
  // Fetch once: EVP_sha256() would repeat the provider lookup on every digest (OpenSSL 3).
  impl_->md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  impl_->ctx = EVP_MD_CTX_new();
  if (impl_->md == nullptr || impl_->ctx == nullptr) {
    EVP_MD_free(impl_->md);
    EVP_MD_CTX_free(impl_->ctx);
    delete impl_;
    throw std::runtime_error("audit: OpenSSL cannot provide SHA-256");
  }
}

LineHasher::~LineHasher() {
  EVP_MD_CTX_free(impl_->ctx);
  EVP_MD_free(impl_->md);
  delete impl_;
}

void LineHasher::hex(std::string_view line, std::array<char, 64>& out) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestInit_ex2(impl_->ctx, impl_->md, nullptr) != 1 ||
      EVP_DigestUpdate(impl_->ctx, line.data(), line.size()) != 1 ||
      EVP_DigestFinal_ex(impl_->ctx, digest, &len) != 1 || len != 32) {
    throw std::runtime_error("audit: SHA-256 failed");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned i = 0; i < 32; ++i) {
    out[2 * i] = kHex[digest[i] >> 4];
    out[2 * i + 1] = kHex[digest[i] & 0xF];
  }
}

std::string LineHasher::hex(std::string_view line) {
  std::array<char, 64> buf;
  hex(line, buf);
  return std::string(buf.data(), buf.size());
}

std::string sha256_hex(std::string_view data) {
  LineHasher h;
  return h.hex(data);
}

namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error("audit file " + path + ": " + what);
}

std::string read_at(int fd, off_t offset, std::size_t len, const std::string& path) {
  std::string buf(len, '\0');
  std::size_t done = 0;
  while (done < len) {
    const ssize_t n = ::pread(fd, buf.data() + done, len - done, offset + static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(path, std::string("read: ") + std::strerror(errno));
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  buf.resize(done);
  return buf;
}

// Offset just past the last '\n' strictly before `end`, or 0.
off_t line_start_before(int fd, off_t end, const std::string& path) {
  constexpr off_t kChunk = 64 * 1024;
  off_t pos = end;
  while (pos > 0) {
    const off_t from = pos > kChunk ? pos - kChunk : 0;
    const std::string chunk = read_at(fd, from, static_cast<std::size_t>(pos - from), path);
    const auto nl = chunk.rfind('\n');
    if (nl != std::string::npos) return from + static_cast<off_t>(nl) + 1;
    pos = from;
  }
  return 0;
}

}  // namespace

ResumeResult resume_chain(int fd, const std::string& path) {
  ResumeResult result;
  struct stat st {};
  if (::fstat(fd, &st) != 0) fail(path, std::string("stat: ") + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return result;  // a FIFO or a device: nothing to continue
  off_t size = st.st_size;
  if (size == 0) return result;

  if (read_at(fd, size - 1, 1, path) != "\n") {
    const off_t keep = line_start_before(fd, size, path);
    if (::ftruncate(fd, keep) != 0) {
      fail(path, std::string("cannot cut the torn last line: ") + std::strerror(errno));
    }
    result.torn_bytes = static_cast<std::uint64_t>(size - keep);
    size = keep;
    if (size == 0) return result;
  }

  const off_t start = line_start_before(fd, size - 1, path);
  const std::string line = read_at(fd, start, static_cast<std::size_t>(size - 1 - start), path);
  boost::system::error_code ec;
  const auto value = boost::json::parse(line, ec);
  const auto* obj = ec ? nullptr : value.if_object();
  const auto* seq = obj != nullptr ? obj->if_contains("seq") : nullptr;
  if (seq == nullptr || !(seq->is_uint64() || seq->is_int64()) ||
      seq->to_number<std::int64_t>() < 1) {
    fail(path,
         "the last line is not an audit record with a \"seq\"; refusing to append to it (move "
         "the file aside)");
  }
  result.state.seq = seq->to_number<std::uint64_t>();
  result.state.prev = sha256_hex(line);
  result.empty = false;
  return result;
}

}  // namespace egress::audit
