#include "policy/version.hpp"

#include <openssl/evp.h>

#include <array>
#include <memory>

namespace egress::policy {

namespace {

void put_length(EVP_MD_CTX* ctx, std::uint64_t n) {
  std::array<unsigned char, 8> b;
  for (int i = 7; i >= 0; --i) {
    b[static_cast<std::size_t>(i)] = static_cast<unsigned char>(n);
    n >>= 8;
  }
  EVP_DigestUpdate(ctx, b.data(), b.size());
}

}  // namespace

std::string content_sha256(const std::vector<SourceFile>& files) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  for (const auto& f : files) {
    put_length(ctx.get(), f.name.size());
    EVP_DigestUpdate(ctx.get(), f.name.data(), f.name.size());
    put_length(ctx.get(), f.bytes.size());
    EVP_DigestUpdate(ctx.get(), f.bytes.data(), f.bytes.size());
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned i = 0; i < len; ++i) {
    hex += kHex[md[i] >> 4];
    hex += kHex[md[i] & 15];
  }
  return hex;
}

}  // namespace egress::policy
