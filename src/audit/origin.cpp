#include "audit/origin.hpp"

#include <openssl/rand.h>
#include <unistd.h>

#include <array>
#include <climits>
#include <stdexcept>

namespace egress::audit {

std::string host_name() {
  std::array<char, HOST_NAME_MAX + 1> buf{};
  if (::gethostname(buf.data(), buf.size() - 1) != 0 || buf[0] == '\0') return "unknown";
  return std::string(buf.data());
}

std::string random_instance_id() {
  std::array<unsigned char, 8> bytes{};
  // Fail closed: a predictable or repeated id would let two runs' conn_ids collide.
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1)
    throw std::runtime_error("audit: no random bytes for the instance id");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * bytes.size());
  for (const unsigned char b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 0x0f];
  }
  return out;
}

}  // namespace egress::audit
